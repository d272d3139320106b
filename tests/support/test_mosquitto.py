"""The broker harness, and the shipped broker ACL checked on a real Mosquitto."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import uuid
from pathlib import Path

import pytest

from edgewatch.shared.codec import DEFAULT_MAX_BYTES
from tests.support import mosquitto as mosquitto_module
from tests.support.mosquitto import (
    BrokerUnderTest,
    MosquittoConfig,
    MosquittoFactory,
    MosquittoMissing,
    MosquittoProcess,
    MqttProbe,
)
from tests.support.procs import free_port, spawn

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
USERS = {"agent-1": "secret-a", "agent-2": "secret-b", "coordinator": "secret-c", "monitor": "m"}


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


def _round_trip(host: str, port: int) -> None:
    topic = f"test/{uuid.uuid4().hex}"
    probe = MqttProbe(host, port).start()
    try:
        probe.subscribe(topic)
        probe.publish(topic, b"hello")
        assert probe.expect(lambda t, p: t == topic)[-1] == (topic, b"hello")
    finally:
        probe.stop()


def test_broker_fixture_carries_messages(broker: BrokerUnderTest) -> None:
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    assert (broker.mosquitto is not None) == (broker.kind == "mosquitto")
    _round_trip(broker.host, broker.port)


def test_kill_loses_the_broker_and_restart_reuses_the_port(mosquitto: MosquittoProcess) -> None:
    port, first_pid = mosquitto.port, mosquitto.pid
    mosquitto.kill()
    assert not mosquitto.alive
    assert _refuses_connections(port)
    mosquitto.restart()
    assert (mosquitto.port, mosquitto.url) == (port, f"mqtt://127.0.0.1:{port}")
    assert mosquitto.pid != first_pid
    _round_trip(mosquitto.host, mosquitto.port)


def test_restart_while_clients_are_connected(mosquitto: MosquittoProcess) -> None:
    # A live client leaves the port in use on the broker side; restart must still bind.
    probe = MqttProbe(mosquitto.host, mosquitto.port).start()
    try:
        mosquitto.restart()
        assert probe.connected.wait(5), "probe did not reconnect to the restarted broker"
        assert probe.connects == 2
    finally:
        probe.stop()


def test_max_queued_messages_drops_silently(mosquitto_factory: MosquittoFactory) -> None:
    # The fact the outbox exists for: past the queue bound, QoS 1 messages just vanish.
    broker = mosquitto_factory(MosquittoConfig(max_queued_messages=5))
    topic = f"test/{uuid.uuid4().hex}"

    def offline_subscriber() -> MqttProbe:
        probe = MqttProbe(broker.host, broker.port, client_id="offline", clean_session=False)
        return probe.start()

    sub = offline_subscriber()
    sub.subscribe(topic)
    sub.stop()
    pub = MqttProbe(broker.host, broker.port).start()
    for i in range(30):
        pub.publish(topic, str(i).encode())
    pub.stop()
    sub = offline_subscriber()
    try:
        got = sub.collect(quiet_s=0.5)
    finally:
        sub.stop()
    assert got, "the persistent session kept nothing: the test did not exercise the queue"
    assert len(got) <= 5, f"max_queued_messages=5 but {len(got)} of 30 were queued"


def test_mosquitto_log_and_config_live_in_the_tmp_dir(mosquitto: MosquittoProcess) -> None:
    conf = mosquitto.conf_path.read_text()
    assert f"listener {mosquitto.port} 127.0.0.1" in conf
    assert "persistence false" in conf
    assert "allow_anonymous true" in conf
    assert mosquitto.log_path.parent == mosquitto.workdir
    assert "mosquitto version" in mosquitto.log_tail()


def test_missing_binary_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(mosquitto_module, "MOSQUITTO_FALLBACK", Path("/nonexistent/mosquitto"))
    with pytest.raises(MosquittoMissing, match="apt-get install mosquitto"):
        mosquitto_module.find_mosquitto()


# -- the shipped ACL ------------------------------------------------------------------


@pytest.fixture
def secured(mosquitto_factory: MosquittoFactory) -> MosquittoProcess:
    """Mosquitto with password auth and the ACL from deploy/ (TLS left out: no certs)."""
    return mosquitto_factory(MosquittoConfig(users=USERS, acl_file=ACL))


def _login(broker: MosquittoProcess, user: str) -> MqttProbe:
    return MqttProbe(broker.host, broker.port, username=user, password=USERS[user]).start()


def test_acl_agent_cannot_publish_as_another_agent(secured: MosquittoProcess) -> None:
    coordinator = _login(secured, "coordinator")
    agent_a = _login(secured, "agent-1")
    try:
        coordinator.subscribe("edgewatch/agents/+/results")
        agent_a.publish("edgewatch/agents/agent-2/results", b"forged")
        agent_a.publish("edgewatch/agents/agent-1/results", b"own")
        # Same connection, same QoS: had the forgery passed it would have arrived first.
        seen = coordinator.expect(lambda t, p: p == b"own")
    finally:
        agent_a.stop()
        coordinator.stop()
    assert seen == [("edgewatch/agents/agent-1/results", b"own")]


def test_acl_agent_cannot_read_another_agents_acks(secured: MosquittoProcess) -> None:
    coordinator = _login(secured, "coordinator")
    agent_a, agent_b = _login(secured, "agent-1"), _login(secured, "agent-2")
    try:
        agent_a.subscribe("edgewatch/agents/+/ack")
        agent_b.subscribe("edgewatch/agents/agent-2/ack")
        coordinator.publish("edgewatch/agents/agent-2/ack", b"for-b")
        coordinator.publish("edgewatch/agents/agent-1/ack", b"for-a")
        seen_a = agent_a.expect(lambda t, p: p == b"for-a")
        seen_b = agent_b.expect(lambda t, p: p == b"for-b")
    finally:
        for probe in (agent_a, agent_b, coordinator):
            probe.stop()
    assert seen_b == [("edgewatch/agents/agent-2/ack", b"for-b")], "B's ack was never published"
    assert seen_a == [("edgewatch/agents/agent-1/ack", b"for-a")]


def test_acl_monitor_reads_everything_and_writes_nothing(secured: MosquittoProcess) -> None:
    monitor, agent_a = _login(secured, "monitor"), _login(secured, "agent-1")
    try:
        monitor.subscribe("edgewatch/agents/+/heartbeat")
        agent_a.subscribe("edgewatch/agents/agent-1/ack")
        monitor.publish("edgewatch/agents/agent-1/ack", b"from-monitor")
        agent_a.publish("edgewatch/agents/agent-1/heartbeat", b"beat")
        seen = monitor.expect(lambda t, p: p == b"beat")
        # The monitor's forged ack went out before the heartbeat came back through it.
        assert agent_a.collect(quiet_s=0.3) == []
    finally:
        agent_a.stop()
        monitor.stop()
    assert seen == [("edgewatch/agents/agent-1/heartbeat", b"beat")]


def test_acl_agents_read_models_and_keys_only_the_coordinator_writes_them(
    secured: MosquittoProcess,
) -> None:
    coordinator, agent_a = _login(secured, "coordinator"), _login(secured, "agent-1")
    try:
        agent_a.subscribe("edgewatch/models/#")
        agent_a.subscribe("edgewatch/keys")
        agent_a.publish("edgewatch/models/pump/9", b"forged by an agent")
        agent_a.publish("edgewatch/keys", b"forged chain")
        coordinator.publish("edgewatch/models/pump/7", b"package")
        coordinator.publish("edgewatch/keys", b"chain")
        # The agent's forgeries went out first on its own connection: had the broker let
        # them through, they would have come back to it before the coordinator's.
        seen = agent_a.expect(lambda t, p: p == b"chain")
    finally:
        agent_a.stop()
        coordinator.stop()
    assert seen == [("edgewatch/models/pump/7", b"package"), ("edgewatch/keys", b"chain")]


def test_acl_refuses_anonymous_and_wrong_password(secured: MosquittoProcess) -> None:
    for username, password in ((None, None), ("agent-1", "wrong")):
        probe = MqttProbe(secured.host, secured.port, username=username, password=password)
        with pytest.raises(AssertionError, match="could not connect"):
            probe.start(timeout=1.0)


def test_acl_coordinator_and_monitor_cannot_publish_readings(secured: MosquittoProcess) -> None:
    # With `pattern` lines every user could publish under its own name: no longer.
    coordinator, monitor = _login(secured, "coordinator"), _login(secured, "monitor")
    try:
        coordinator.subscribe("edgewatch/agents/+/results")
        for who, probe in (("coordinator", coordinator), ("monitor", monitor)):
            probe.publish(f"edgewatch/agents/{who}/results", b"forged")
        agent = _login(secured, "agent-1")
        agent.publish("edgewatch/agents/agent-1/results", b"own")
        seen = coordinator.expect(lambda t, p: p == b"own")
        agent.stop()
    finally:
        coordinator.stop()
        monitor.stop()
    assert seen == [("edgewatch/agents/agent-1/results", b"own")]


def test_the_compose_acl_is_the_roles_rendered() -> None:
    from edgewatch.coordinator.site.identity import make_identity
    from edgewatch.coordinator.site.roles import aclfile_block

    text = ACL.read_text()
    for role, name in (
        ("coordinator", "coordinator"),
        ("operator", "monitor"),
        ("agent", "agent-1"),
        ("agent", "agent-2"),
    ):
        ident = make_identity(role, name, prefix="edgewatch", sensor_prefix="site/sensors")  # type: ignore[arg-type]
        block = "\n".join([f"# identity {role} {name}", *aclfile_block(name, list(ident.acls))])
        assert block in text, name
    rules = [line for line in text.splitlines() if not line.startswith("#")]
    assert not any(line.startswith("pattern") for line in rules)


# -- the shipped production config ------------------------------------------------------


def test_shipped_config_runs_with_tls_only(tmp_path: Path, mosquitto_binary: Path) -> None:
    """deploy/mosquitto/mosquitto.conf is what `site init /etc/edgewatch/site` writes:
    run it with the paths of a site made here, a free port and this machine's plugin."""
    from edgewatch.coordinator.site.broker_conf import find_plugin
    from edgewatch.coordinator.site.init import SiteRequest, init_site

    init_site(SiteRequest(tmp_path / "site", hosts=("localhost",)))
    site = (tmp_path / "site").resolve()
    tls = free_port()
    conf = (ACL.parent / "mosquitto.conf").read_text()
    plugin = next(line.split()[1] for line in conf.splitlines() if line.startswith("plugin "))
    for old, new in {
        "/etc/edgewatch/site/": f"{site}/",
        "listener 8883\n": f"listener {tls} 127.0.0.1\n",
        plugin: str(find_plugin()),
    }.items():
        assert old in conf, f"deploy/mosquitto/mosquitto.conf no longer contains {old!r}"
        conf = conf.replace(old, new)
    (tmp_path / "mosquitto.conf").write_text(conf + ("user root\n" if os.geteuid() == 0 else ""))
    broker = spawn(
        [str(mosquitto_binary), "-c", str(tmp_path / "mosquitto.conf")],
        log_path=tmp_path / "mosquitto.log",
        name="mosquitto",
    )
    try:
        broker.wait_for_log(r"mosquitto version \S+ running", timeout=10)
        context = ssl.create_default_context(cafile=str(site / "ca.crt"))
        with (
            socket.create_connection(("127.0.0.1", tls), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as conn,
        ):
            assert conn.version() in ("TLSv1.2", "TLSv1.3")
        # No plaintext listener at all: one port, TLS.
        assert conf.count("\nlistener ") == 1
    finally:
        broker.terminate()


def _settings(path: Path) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in path.read_text().splitlines())
    return {p[0]: p[1] for p in pairs if len(p) == 2 and not p[0].startswith("#")}


def test_compose_broker_keeps_the_production_limits() -> None:
    production = _settings(ACL.parent / "mosquitto.conf")
    compose = _settings(ACL.parent / "compose.conf")
    for key in (
        "allow_anonymous",
        "persistence",
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "message_size_limit",
    ):
        assert compose.get(key) == production.get(key), key
    # Our payload limit (shared.codec) is what the broker refuses above.
    assert int(production["message_size_limit"]) == DEFAULT_MAX_BYTES
