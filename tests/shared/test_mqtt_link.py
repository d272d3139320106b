"""MqttLink against real brokers: protocol choice, reconnects, one socket writer, refusals."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink, Refusal
from tests.support.faultproxy import ProxyFactory
from tests.support.mosquitto import MosquittoConfig, MosquittoFactory, MosquittoProcess
from tests.support.procs import wait_until


def _link(url: str, name: str, **kw: object) -> MqttLink:
    options = LinkOptions(client_id=name, connect_timeout_s=2.0, backoff_min_s=0.1, **kw)  # type: ignore[arg-type]
    return MqttLink(BrokerAddress.parse(url), options)


def test_auto_mode_falls_back_to_311_on_the_embedded_broker(
    embedded_broker: EmbeddedBroker,
) -> None:
    link = _link(embedded_broker.url, "auto-embedded")
    link.start()
    try:
        assert link.wait_connected(15)
        assert link.protocol == "3.1.1"
    finally:
        link.stop()


def test_a_broker_restart_keeps_mqtt5_and_reconnects_promptly(mosquitto: MosquittoProcess) -> None:
    link = _link(mosquitto.url, "auto-mosquitto")
    link.start()
    try:
        assert link.wait_connected(10) and link.protocol == "5"
        for _ in range(3):
            mosquitto.kill()
            wait_until(lambda: not link.connected, 10, message="link never noticed the kill")
            mosquitto.restart()
            # Backoff restarts from its minimum after a good connection: seconds, not 30.
            wait_until(lambda: link.connected, 6, message="link did not reconnect promptly")
        # A dropped connection says nothing about the protocol: still MQTT 5.
        assert link.protocol == "5"
        assert link.connects == 4
    finally:
        link.stop()


def test_concurrent_large_publishes_never_corrupt_the_stream(
    mosquitto: MosquittoProcess, fault_proxy: ProxyFactory
) -> None:
    received: list[int] = []
    done = threading.Event()
    total = 600

    def on_message(topic: str, payload: bytes, retained: bool) -> None:
        received.append(len(payload))
        if len(received) >= total:
            done.set()

    sub = MqttLink(
        BrokerAddress.parse(mosquitto.url),
        LinkOptions(client_id="sub", subscriptions=(("big/#", 1),)),
        on_message=on_message,
    )
    # Through a proxy that stalls now and then, so the publisher's socket buffer fills
    # and writes go partial: the condition under which two writers corrupt packets.
    proxy = fault_proxy(mosquitto.host, mosquitto.port)
    pub = _link(f"mqtt://127.0.0.1:{proxy.port}", "pub", keepalive=60)
    sub.start()
    pub.start()
    try:
        assert sub.wait_connected(10) and pub.wait_connected(10)

        # Two threads publishing 300 KB messages fill the socket buffer: before the
        # single-writer fix their packets interleaved and the broker dropped the link.
        def burst() -> None:
            for _ in range(total // 2):
                while pub.publish("big/x", b"x" * 300_000) is None:
                    time.sleep(0.01)  # link down for a moment: wait, then retry

        threads = [threading.Thread(target=burst) for _ in range(2)]
        for t in threads:
            t.start()
        for _ in range(6):
            proxy.blackhole()
            time.sleep(0.3)
            proxy.restore()
            time.sleep(0.2)
        for t in threads:
            t.join(60)
        assert done.wait(60), f"only {len(received)} of {total} arrived"
        assert pub.disconnects == 0 and sub.disconnects == 0
        assert set(received) == {300_000}
    finally:
        pub.stop()
        sub.stop()


# -- publishes the broker refuses -----------------------------------------------------------


@pytest.fixture
def acl_broker(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> MosquittoProcess:
    """Mosquitto with an ACL: user pi-7 may write its own results, nothing else."""
    acl = tmp_path / "acl"
    acl.write_text("user pi-7\ntopic write edgewatch/agents/pi-7/results\n")
    return mosquitto_factory(MosquittoConfig(users={"pi-7": "pw-7"}, acl_file=acl))


def _as_pi7(broker: MosquittoProcess, protocol: str) -> MqttLink:
    address = BrokerAddress.parse(broker.url_for("pi-7", "pw-7"))
    return MqttLink(address, LinkOptions(client_id=f"pi-7-{protocol}", protocol=protocol))  # type: ignore[arg-type]


def test_mqtt5_refusals_are_counted_named_and_logged_once(
    acl_broker: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    link = _as_pi7(acl_broker, "5")
    link.start()
    try:
        assert link.wait_connected(10)
        denied, own = "edgewatch/agents/pi-9/results", "edgewatch/agents/pi-7/results"
        for _ in range(3):
            assert link.publish(denied, b"{}") is not None
        wait_until(lambda: link.refused_publishes == 3, 5, message="no refusal came back")
        assert link.last_refusal == Refusal(denied, "Not authorized", 0x87)
        assert link.refusals() == [link.last_refusal] and link.last_refusal.not_authorized
        info = link.publish(own, b"{}")
        assert info is not None
        info.wait_for_publish(5)
        assert link.refused_publishes == 3 and [r.topic for r in link.refusals()] == [denied]
    finally:
        link.stop()
    lines = [r.getMessage() for r in caplog.records if "refused publish" in r.getMessage()]
    # Three refusals, one line (rate-limited), naming the topic, the reason and the user.
    assert lines == [
        f"broker refused publish to {denied}: Not authorized (the broker's ACL does not let "
        "user 'pi-7' use this topic; for an agent: does its --id match its broker username?)"
    ]


def test_a_later_accepted_publish_clears_the_topics_refusal(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("user pi-7\ntopic write edgewatch/agents/pi-7/results\n")
    broker = mosquitto_factory(MosquittoConfig(users={"pi-7": "pw-7"}, acl_file=acl))
    link = _as_pi7(broker, "5")
    link.start()
    try:
        assert link.wait_connected(10)
        link.publish("edgewatch/agents/pi-7/hello", b"{}")
        wait_until(lambda: link.refusals(), 5, message="no refusal came back")
        acl.write_text(acl.read_text() + "topic write edgewatch/agents/pi-7/hello\n")
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGHUP)  # Mosquitto reloads its ACL
        # Mosquitto re-reads the file asynchronously: publish until it is accepted.
        wait_until(
            lambda: link.publish("edgewatch/agents/pi-7/hello", b"{}") and not link.refusals(),
            10,
            interval=0.2,
            message="the refusal stayed after the broker allowed the topic",
        )
    finally:
        link.stop()


def test_mqtt311_cannot_tell_a_refused_publish_from_a_delivered_one(
    acl_broker: MosquittoProcess,
) -> None:
    # The documented limitation: a 3.1.1 broker drops a denied publish and acks it.
    link = _as_pi7(acl_broker, "3.1.1")
    link.start()
    try:
        assert link.wait_connected(10)
        info = link.publish("edgewatch/agents/pi-9/results", b"{}")
        assert info is not None
        info.wait_for_publish(5)
        assert info.is_published()
        assert link.refused_publishes == 0 and link.refusals() == []
    finally:
        link.stop()
