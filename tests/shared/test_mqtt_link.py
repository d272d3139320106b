"""MqttLink against real brokers: protocol choice, reconnects, one socket writer."""

from __future__ import annotations

import threading
import time

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink
from tests.support.faultproxy import ProxyFactory
from tests.support.mosquitto import MosquittoProcess
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
