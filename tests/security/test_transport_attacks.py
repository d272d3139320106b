"""Attacks on the transport and on what reaches the coordinator: plaintext to the TLS
listener, a broker impersonated with another CA's certificate, oversized payloads at the
broker and at the coordinator, an identity made on the broker behind the site's back."""

from __future__ import annotations

import secrets
import socket
import ssl
import threading
from pathlib import Path

import orjson
import pytest

from edgewatch.coordinator.site import pki
from edgewatch.coordinator.site.dynsec import DynsecAuth
from edgewatch.coordinator.site.hashing import new_secret
from edgewatch.coordinator.site.identity import make_identity
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink
from edgewatch.shared.tls import TlsOptions
from tests.security.conftest import UnderAttack
from tests.security.test_broker_attacks import _batch, _canary
from tests.support.procs import free_port, wait_until
from tests.support.secure_site import Attacker

# A minimal MQTT 3.1.1 CONNECT (client id "x", clean session): what plaintext sends first.
PLAIN_CONNECT = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 1]) + b"x"


@pytest.mark.attack("plaintext MQTT to the TLS listener")
def test_plaintext_gets_no_answer_from_the_tls_listener(under_attack: UnderAttack) -> None:
    with socket.create_connection(("127.0.0.1", under_attack.site.port), timeout=5) as sock:
        sock.sendall(PLAIN_CONNECT)
        try:
            reply = sock.recv(64)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    # No CONNACK (0x20): the listener speaks TLS only and drops what is not a handshake.
    assert not reply.startswith(b"\x20")
    plain = Attacker("127.0.0.1", under_attack.site.port, "pi-a", "x", context=None)
    code = plain.connect(timeout=3)
    plain.close()
    assert plain.connack is None and code is None


class _RogueTls:
    """A TLS listener with a certificate of another CA: a broker impersonator. It records
    whether any byte of MQTT (the CONNECT with the password) ever got through."""

    def __init__(self, workdir: Path) -> None:
        other = pki.make_ca("rogue")
        pair = pki.make_server_cert(other, ["127.0.0.1", "localhost"])
        (workdir / "rogue.pem").write_text(pair.cert_pem + pair.key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(workdir / "rogue.pem")
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.received = b""
        self.handshakes_failed = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while self.sock.fileno() != -1:
            try:
                raw, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(2)
                    self.received += conn.recv(4096)
            except (ssl.SSLError, OSError):
                self.handshakes_failed += 1

    def close(self) -> None:
        self.sock.close()
        self.thread.join(2)


@pytest.mark.attack("a broker impersonated with a certificate from another CA")
def test_agents_refuse_a_broker_with_another_cas_certificate(
    under_attack: UnderAttack, tmp_path: Path
) -> None:
    rogue = _RogueTls(tmp_path)
    b = under_attack.a
    address = BrokerAddress(
        "127.0.0.1", rogue.port, b.username, b.password.get_secret_value(), True
    )
    link = MqttLink(
        address,
        LinkOptions(client_id=b.client_id, backoff_min_s=0.1, backoff_max_s=0.2),
        tls=TlsOptions(ca_pem=under_attack.site.ca_pem),
    )
    link.start()
    try:
        wait_until(lambda: rogue.handshakes_failed >= 2, 10, message="the link never tried")
    finally:
        link.stop()
        rogue.close()
    assert not link.connects and "CERTIFICATE_VERIFY_FAILED" in (link.last_error or "")
    assert rogue.received == b""  # the password never left the agent


@pytest.mark.attack("oversized payload at the broker")
def test_the_broker_refuses_oversized_payloads(under_attack: UnderAttack) -> None:
    site = under_attack.site
    client = site.attacker(under_attack.thief)
    assert client.connect() is not None and client.accepted
    marker = "HUGE-" + secrets.token_hex(4)
    # A valid batch, padded with JSON whitespace past the limit: it would be stored if
    # it ever reached the coordinator (whose own limit this test's site raises to 64 KiB
    # only for the next attack; the padding makes it a broker matter).
    huge = _batch(under_attack.thief.identity, marker, n=100) + b" " * (2200 * 1024)
    assert len(huge) > 2 * 1024 * 1024  # message_size_limit of the site's broker
    before = site.rejected("too_large")
    info = client.client.publish(
        f"edgewatch/agents/{under_attack.thief.identity}/results", huge, qos=1
    )
    # MQTT 5: the broker announced its maximum packet size in the CONNACK; a bigger
    # publish is a protocol error and costs the sender its connection. No PUBACK.
    wait_until(lambda: client.disconnects, 10, message="the broker kept the connection")
    client.close()
    assert not info.is_published()
    assert "Protocol error" in client.disconnects[0]
    fresh = site.attacker(under_attack.thief)
    assert fresh.connect() is not None and fresh.accepted
    _canary(under_attack, fresh)  # what follows it on the thief's topic is stored ...
    fresh.close()
    assert site.stored("sensor_id LIKE ?", marker + "%") == 0  # ... the huge batch never was
    assert site.rejected("too_large") == before  # it never even reached the coordinator


@pytest.mark.attack("oversized payload at the coordinator")
def test_the_coordinator_refuses_oversized_payloads(under_attack: UnderAttack) -> None:
    site = under_attack.site
    client = site.attacker(under_attack.thief)
    assert client.connect() is not None and client.accepted
    before = site.rejected("too_large")
    marker = "BIG-" + secrets.token_hex(4)
    big = _batch(under_attack.thief.identity, marker, n=2000)  # > 64 KiB, < 2 MiB
    assert len(big) > 65536
    accepted_by_broker = client.publish(
        f"edgewatch/agents/{under_attack.thief.identity}/results", big
    )
    _canary(under_attack, client)
    client.close()
    assert not accepted_by_broker.is_failure
    wait_until(lambda: site.rejected("too_large") > before, 10, message="not counted")
    assert site.stored("sensor_id LIKE ?", marker + "%") == 0


@pytest.mark.attack("an identity made on the broker behind the site's back")
def test_the_coordinator_refuses_agents_it_never_enrolled(under_attack: UnderAttack) -> None:
    site = under_attack.site
    ghost = make_identity(
        "agent", "pi-ghost", prefix="edgewatch", sensor_prefix=site.config.sensor_prefix
    )
    secret = new_secret()
    with site.site.broker() as broker:
        assert isinstance(broker, DynsecAuth)
        broker.add(ghost, secret)  # on the broker only: never enrolled in the store
    before = site.rejected("not_enrolled")
    client = Attacker(
        "127.0.0.1",
        site.port,
        "pi-ghost",
        secret,
        client_id=ghost.client_id,
        context=TlsOptions(ca_pem=site.ca_pem).context(),
    )
    assert client.connect() is not None and client.accepted
    marker = "GHOST-" + secrets.token_hex(4)
    answer = client.publish("edgewatch/agents/pi-ghost/results", _batch("pi-ghost", marker))
    hello = orjson.dumps({"schema_version": 2, "agent_id": "pi-ghost", "tier": "low"})
    client.publish("edgewatch/agents/pi-ghost/hello", hello)
    client.close()
    assert not answer.is_failure  # the broker let it through: its ACL allows its own topic
    wait_until(lambda: site.rejected("not_enrolled") > before, 10, message="not refused")
    assert site.stored("sensor_id LIKE ?", marker + "%") == 0
    _status, agents = site.api("/api/v1/agents", site.api_token())
    assert "pi-ghost" not in {a["id"] for a in agents}
