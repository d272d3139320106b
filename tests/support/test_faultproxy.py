"""The fault proxy, checked with a real Mosquitto and a bare paho client."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests.support.faultproxy import FaultProxy, ProxyFactory
from tests.support.mosquitto import MosquittoProcess, MqttProbe
from tests.support.procs import wait_until

KEEPALIVE = 1
# MQTT 3.1.1 CONNECT, clean session, keepalive 60, client id "raw".
RAW_CONNECT = bytes.fromhex("100f00044d5154540402003c0003726177")
CONNACK_OK = bytes.fromhex("20020000")


@pytest.fixture
def proxy(mosquitto: MosquittoProcess, fault_proxy: ProxyFactory) -> FaultProxy:
    return fault_proxy(mosquitto.host, mosquitto.port)


def _client(proxy: FaultProxy) -> MqttProbe:
    return MqttProbe(proxy.host, proxy.port, keepalive=KEEPALIVE).start()


def _exchange(probe: MqttProbe) -> None:
    topic = f"test/{uuid.uuid4().hex}"
    probe.subscribe(topic)
    probe.publish(topic, b"ping")
    assert probe.expect(lambda t, p: t == topic, timeout=5)[-1] == (topic, b"ping")


def _disconnect_delay(probe: MqttProbe, cut_at: float, timeout: float) -> float:
    wait_until(lambda: probe.disconnect_times, timeout, 0.01, "client never saw a disconnect")
    return probe.disconnect_times[0] - cut_at


def test_forwards_and_counts(proxy: FaultProxy) -> None:
    probe = _client(proxy)
    try:
        _exchange(probe)
    finally:
        probe.stop()
    stats = proxy.stats()
    assert stats.connections_accepted == 1
    assert stats.bytes_upstream > len(b"ping") and stats.bytes_downstream > len(b"ping")
    assert stats.bytes_forwarded == stats.bytes_upstream + stats.bytes_downstream


def test_reset_is_seen_at_once(proxy: FaultProxy) -> None:
    probe = _client(proxy)
    try:
        cut_at = time.monotonic()
        proxy.reset()
        assert _disconnect_delay(probe, cut_at, timeout=2) < 0.5
        assert proxy.stats().connections_reset >= 1
    finally:
        probe.stop()


def test_reset_refuses_new_connections_until_restored(proxy: FaultProxy) -> None:
    proxy.reset()
    # The RST may even beat connect() returning (ECONNRESET there), beat the send
    # (EPIPE) or follow it (ECONNRESET on recv): any of them is the refusal we want.
    with (
        pytest.raises((ConnectionResetError, BrokenPipeError)),
        socket.create_connection((proxy.host, proxy.port), timeout=2) as sock,
    ):
        sock.sendall(RAW_CONNECT)
        sock.recv(4)
    proxy.restore()
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as sock:
        sock.sendall(RAW_CONNECT)
        assert sock.recv(4) == CONNACK_OK


def test_blackhole_is_seen_only_when_keepalive_expires(proxy: FaultProxy) -> None:
    probe = _client(proxy)
    try:
        cut_at = time.monotonic()
        proxy.blackhole()
        delay = _disconnect_delay(probe, cut_at, timeout=2 * KEEPALIVE + 3)
        # paho pings after one idle keepalive and gives up one keepalive later.
        assert KEEPALIVE * 0.9 <= delay <= 2 * KEEPALIVE + 1, delay
        assert proxy.stats().connections_reset == 0
    finally:
        probe.stop()


def test_blackhole_holds_new_connections_unanswered(proxy: FaultProxy) -> None:
    proxy.blackhole()
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as sock:
        sock.sendall(RAW_CONNECT)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        # Held, not dropped: after the partition heals, the CONNECT goes through.
        proxy.restore()
        sock.settimeout(2)
        assert sock.recv(4) == CONNACK_OK


@pytest.mark.parametrize("cut", ["blackhole", "reset"])
def test_restore_lets_the_client_reconnect_and_exchange(proxy: FaultProxy, cut: str) -> None:
    probe = _client(proxy)
    try:
        if cut == "blackhole":
            proxy.blackhole()
        else:
            proxy.reset()
        wait_until(lambda: not probe.connected.is_set(), 2 * KEEPALIVE + 3, 0.01, "no disconnect")
        proxy.restore()
        assert probe.connected.wait(5), "client did not reconnect after restore"
        assert probe.connects >= 2
        _exchange(probe)
    finally:
        probe.stop()


def test_flap_cycles_then_leaves_the_link_up(proxy: FaultProxy) -> None:
    probe = _client(proxy)
    try:
        flapper = proxy.flap((0.1, 0.2), (0.2, 0.3), duration_s=1.5, seed=3, how="reset")
        assert flapper.running
        flapper.join(5)
        assert not flapper.running
        assert flapper.cycles >= 3
        assert proxy.stats().cuts == flapper.cycles
        assert proxy.mode == "up"
        assert len(probe.disconnect_times) >= 2
        assert probe.connected.wait(5)
        _exchange(probe)
    finally:
        probe.stop()


def test_flap_is_reproducible_from_its_seed(proxy: FaultProxy) -> None:
    runs = []
    for _ in range(2):
        flapper = proxy.flap((0.01, 0.05), (0.01, 0.05), duration_s=0.4, seed=11)
        flapper.join(5)
        runs.append(round(flapper.down_s, 6))
    assert runs[0] == runs[1] > 0


def test_stop_closes_live_connections(mosquitto: MosquittoProcess) -> None:
    proxy = FaultProxy(mosquitto.host, mosquitto.port).start()
    probe = _client(proxy)
    try:
        proxy.stop()
        wait_until(lambda: probe.disconnect_times, 2, 0.01, "stop left the client connected")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, proxy.port), timeout=1)
    finally:
        probe.stop()
