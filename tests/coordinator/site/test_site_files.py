"""``site init``'s files: the PKI, the password hashes Mosquitto checks, the roles, the
broker config (and the one shipped in ``deploy/``), and what it refuses."""

from __future__ import annotations

import base64
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from edgewatch.coordinator.site import broker_conf, pki
from edgewatch.coordinator.site.hashing import hash_password
from edgewatch.coordinator.site.init import SiteRequest, init_site
from edgewatch.coordinator.site.layout import SiteConfig, SiteLayout
from edgewatch.coordinator.site.roles import aclfile_block, agent_acls, coordinator_acls
from edgewatch.shared.errors import ConfigError
from tests.support.mosquitto import find_mosquitto_passwd

DEPLOY_CONF = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "mosquitto.conf"


def test_our_hashes_are_the_ones_mosquitto_passwd_makes(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    subprocess.run(
        [str(find_mosquitto_passwd()), "-b", str(passwd), "pi-7", "s3cret-value"],
        check=True,
        timeout=10,
    )
    line = passwd.read_text().strip()
    salt = base64.b64decode(line.split("$")[3])
    assert hash_password("s3cret-value", salt=salt).password_file_entry("pi-7") == line


def test_the_broker_certificate_chains_to_the_site_ca_for_its_hosts(tmp_path: Path) -> None:
    ca = pki.make_ca("plant-4")
    server = pki.make_server_cert(ca, ["broker.plant-4.example", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate(server.cert_pem.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["broker.plant-4.example"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    cert.verify_directly_issued_by(ca_cert)
    other = pki.make_ca("elsewhere")
    with pytest.raises(ValueError):
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(other.cert_pem.encode()))
    client = x509.load_pem_x509_certificate(pki.make_client_cert(ca, "pi-7").cert_pem.encode())
    assert client.subject.rfc4514_string().startswith("CN=pi-7")
    ssl.create_default_context(cadata=ca.cert_pem)  # loads as a trust anchor


def test_an_agent_may_not_publish_what_flows_to_it() -> None:
    acls = agent_acls("edgewatch", "pi-7", "site/sensors")
    denied = {a.topic for a in acls if a.kind == "publishClientSend" and not a.allow}
    granted = {a.topic for a in acls if a.kind == "publishClientSend" and a.allow}
    assert denied == {
        "edgewatch/agents/pi-7/ack",
        "edgewatch/agents/pi-7/desired",
        "edgewatch/agents/pi-7/cmd/#",
        "edgewatch/agents/pi-7/models/#",
        "edgewatch/agents/pi-7/alerts_ack",  # the acks of its edge alerts (docs/alerts.md)
    }
    assert granted == {"edgewatch/agents/pi-7/#"}
    assert all(a.priority > 0 for a in acls if not a.allow)  # checked before the grant
    block = aclfile_block("pi-7", acls)
    assert "topic write edgewatch/agents/pi-7/results" in block
    assert "topic write edgewatch/agents/pi-7/alerts" in block
    assert "topic read edgewatch/agents/pi-7/alerts_ack" in block
    assert not any(line.startswith("topic write") and "ack" in line for line in block)
    coordinator = {a.topic for a in coordinator_acls("edgewatch") if a.kind == "publishClientSend"}
    assert not any(t.endswith(("/results", "/hello", "/heartbeat", "/status")) for t in coordinator)


def test_site_init_writes_private_files_and_refuses_an_existing_site(tmp_path: Path) -> None:
    site = init_site(SiteRequest(tmp_path / "s", mqtt_port=8884, hosts=("10.0.0.5",)))
    layout = SiteLayout((tmp_path / "s").resolve())
    assert site.broker_url == "mqtts://10.0.0.5:8884" and site.auth == "dynsec"
    for secret in (
        layout.ca_key,
        layout.admin_secret,
        layout.coordinator_bundle,
        layout.signing_key,
        layout.server_key,
        layout.dynsec_json,
    ):
        assert secret.stat().st_mode & 0o077 == 0, secret
    with pytest.raises(ConfigError, match="already holds a site"):
        init_site(SiteRequest(tmp_path / "s"))


def test_without_the_plugin_site_init_names_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_conf, "find_plugin", lambda: None)
    with pytest.raises(ConfigError, match="--auth files"):
        init_site(SiteRequest(tmp_path / "s"))
    assert not (tmp_path / "s" / "site.json").exists()
    init_site(SiteRequest(tmp_path / "f", auth="files"))  # works without it


def test_deploy_ships_the_config_site_init_writes() -> None:
    text = DEPLOY_CONF.read_text()
    plugin = next(line.split()[1] for line in text.splitlines() if line.startswith("plugin "))
    root = Path("/etc/edgewatch/site")
    site = SiteConfig(
        name="site",
        broker_host="broker.example.net",
        hosts=["broker.example.net"],
        mqtt_port=8883,
        auth="dynsec",
        mutual_tls=False,
        topic_prefix="edgewatch",
        sensor_prefix="site/sensors",
        db="/var/lib/edgewatch-coordinator/edgewatch.db",
        created_at=0.0,
    )
    assert broker_conf.render(SiteLayout(root), site, Path(plugin)) == text


def test_revoking_with_the_broker_down_still_revokes_in_the_store(tmp_path: Path) -> None:
    from edgewatch.coordinator.site.enrollment import Site, revoke
    from edgewatch.coordinator.site.identity import BrokerAuthError
    from edgewatch.coordinator.store.security_records import Enrollment
    from tests.support.procs import free_port

    init_site(SiteRequest(tmp_path / "s", mqtt_port=free_port(), hosts=("127.0.0.1",)))
    site = Site.open(tmp_path / "s")
    with site.store() as store:
        store.enroll(Enrollment("pi-lost", "agent", "pi-lost", "x", 1.0, "test"))
    with pytest.raises(BrokerAuthError, match="revoked in the coordinator's store"):
        revoke(site, "pi-lost")  # nothing listens on the site's port
    with site.store() as store:
        record = store.enrollment("pi-lost")
        assert record is not None and not record.active
        assert store.audit_entries(0, 10)[-1].outcome == "store only: broker unreachable"
