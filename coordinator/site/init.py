"""``edgewatch site init DIR``: a secure site in one command.

Writes, into a new directory: a private CA, the broker's TLS certificate, the model-signing
key pair, the broker admin and the coordinator identities (dynamic-security file, or the
password and ACL files of the fallback), ``mosquitto.conf`` and ``coordinator.bundle``.
Nothing is overwritten: a site that exists is refused (its CA would be lost).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.coordinator.site import broker_conf, pki
from edgewatch.coordinator.site.aclfiles import FileAuth
from edgewatch.coordinator.site.dynsec import initial_config
from edgewatch.coordinator.site.hashing import new_secret
from edgewatch.coordinator.site.identity import Identity, make_identity
from edgewatch.coordinator.site.layout import AuthMode, SiteConfig, SiteLayout
from edgewatch.shared.bundle import Bundle
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.private_files import write_private

log = logging.getLogger(__name__)
BROKER_USER = "mosquitto"  # the user Mosquitto drops to when started as root


@dataclass(frozen=True)
class SiteRequest:
    root: Path
    mqtt_port: int = 8883
    hosts: tuple[str, ...] = ()
    auth: AuthMode = "dynsec"
    mutual_tls: bool = False
    topic_prefix: str = "edgewatch"
    sensor_prefix: str = "site/sensors"
    coordinator: str = "coordinator"
    db: Path | None = None
    plugin: Path | None = None
    name: str | None = None


def default_hosts() -> list[str]:
    return [socket.gethostname(), "localhost", "127.0.0.1"]


def init_site(req: SiteRequest) -> SiteConfig:
    """Make the site; returns its config. ``ConfigError`` for anything the operator fixes."""
    layout = SiteLayout(req.root.resolve())
    if layout.config.exists():
        raise ConfigError(f"{req.root} already holds a site (site.json): refusing to overwrite")
    plugin = broker_conf.require_plugin(req.plugin) if req.auth == "dynsec" else None
    hosts = list(dict.fromkeys([*req.hosts, *default_hosts()]))
    site = SiteConfig(
        name=req.name or layout.root.name,
        broker_host=hosts[0],
        hosts=hosts,
        mqtt_port=req.mqtt_port,
        auth=req.auth,
        mutual_tls=req.mutual_tls,
        topic_prefix=req.topic_prefix,
        sensor_prefix=req.sensor_prefix,
        db=str((req.db or layout.root / "coordinator.db").resolve()),
        created_at=time.time(),
    )
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.broker_dir.mkdir(mode=0o700, exist_ok=True)
    layout.data_dir.mkdir(mode=0o700, exist_ok=True)
    ca = pki.make_ca(site.name)
    server = pki.make_server_cert(ca, hosts)
    layout.ca_cert.write_text(ca.cert_pem)
    write_private(layout.ca_key, ca.key_pem)
    layout.server_cert.write_text(server.cert_pem)
    write_private(layout.server_key, server.key_pem)
    signing_key, signing_pub = pki.make_signing_key()
    write_private(layout.signing_key, signing_key)
    layout.signing_pub.write_text(signing_pub + "\n")

    admin_secret = new_secret()
    write_private(layout.admin_secret, admin_secret + "\n")
    coordinator = make_identity(
        "coordinator",
        req.coordinator,
        prefix=site.topic_prefix,
        sensor_prefix=site.sensor_prefix,
    )
    coordinator_secret = new_secret()
    _write_broker_auth(layout, site, admin_secret, coordinator, coordinator_secret)
    layout.mosquitto_conf.write_text(broker_conf.render(layout, site, plugin))
    write_bundle(
        layout,
        site,
        coordinator,
        coordinator_secret,
        layout.coordinator_bundle,
        settings={"db": site.db},
    )
    layout.config.write_text(site.model_dump_json(indent=2) + "\n")
    _hand_to_broker(layout)
    return site


def _write_broker_auth(
    layout: SiteLayout,
    site: SiteConfig,
    admin_secret: str,
    coordinator: Identity,
    coordinator_secret: str,
) -> None:
    if site.auth == "dynsec":
        config = initial_config(
            site.admin_username, admin_secret, [(coordinator, coordinator_secret)]
        )
        write_private(layout.dynsec_json, json.dumps(config, indent=2) + "\n")
        return
    files = FileAuth(layout.passwd, layout.aclfile)
    files.add(coordinator, coordinator_secret)


def write_bundle(
    layout: SiteLayout,
    site: SiteConfig,
    identity: Identity,
    secret: str,
    out: Path,
    *,
    settings: dict[str, object] | None = None,
) -> Bundle:
    """The bundle of ``identity`` (with a client certificate when the site wants one)."""
    ca_pem = layout.ca_cert.read_text()
    cert_pem = key_pem = None
    if site.mutual_tls:
        ca_key = layout.read_secret(layout.ca_key)
        pair = pki.make_client_cert(pki.KeyPair(ca_pem, ca_key), identity.username)
        cert_pem, key_pem = pair.cert_pem, pair.key_pem
    public = layout.signing_pub.read_text().strip() if layout.signing_pub.exists() else None
    bundle = Bundle.model_validate(
        {
            "role": identity.role,
            "identity": identity.name,
            "site": site.name,
            "broker": site.broker_url,
            "username": identity.username,
            "password": secret,
            "client_id": identity.client_id,
            "topic_prefix": site.topic_prefix,
            "ca_pem": ca_pem,
            "client_cert_pem": cert_pem,
            "client_key_pem": key_pem,
            "model_public_key": public,
            "settings": settings or {},
            "issued_at": time.time(),
        }
    )
    bundle.write(out)
    return bundle


def _hand_to_broker(layout: SiteLayout) -> None:
    """Run as root, Mosquitto drops to the ``mosquitto`` user: give it ``broker/``."""
    if os.geteuid() != 0:
        return
    try:
        who = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return
    for path in [layout.broker_dir, *layout.broker_dir.rglob("*")]:
        os.chown(path, who.pw_uid, who.pw_gid)
    log.info("gave %s to the %s user (the broker runs as it)", layout.broker_dir, BROKER_USER)
