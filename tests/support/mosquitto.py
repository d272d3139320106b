"""A real Mosquitto broker for tests: its own config, its own free port, its own log.

The fault tests need the real thing because the faults are the real thing's: its queue
vanishes on SIGKILL and it drops QoS 1 messages silently past ``max_queued_messages``.
Each ``MosquittoProcess`` writes a config into a directory of its own (never touching
``/etc/mosquitto``), listens on ``127.0.0.1`` only and can be killed and restarted on the
same port, so clients that were connected to it reconnect to "the same broker".

    >>> broker = MosquittoProcess(tmp_path, MosquittoConfig(max_queued_messages=50))
    >>> broker.start()          # returns once the port accepts connections
    >>> broker.url
    'mqtt://127.0.0.1:41234'
    >>> broker.kill()           # SIGKILL: the in-memory queue is gone
    >>> broker.restart()        # same port, fresh process
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.support.procs import free_port, tail

MOSQUITTO_FALLBACK = Path("/usr/sbin/mosquitto")
# mosquitto_factory(config=None, port=None) -> a started MosquittoProcess
MosquittoFactory = Callable[..., "MosquittoProcess"]


class MosquittoMissing(RuntimeError):
    """The broker binary is not installed (CI installs it; see ``.ci/run``)."""


def find_mosquitto() -> Path:
    """Path of the ``mosquitto`` binary, or raise ``MosquittoMissing`` saying how to get it."""
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    if MOSQUITTO_FALLBACK.exists():
        return MOSQUITTO_FALLBACK
    raise MosquittoMissing(
        "mosquitto is not installed: the integration and fault tests need a real broker. "
        "Install it with `apt-get install mosquitto mosquitto-clients` (CI's .ci/run does)."
    )


def find_mosquitto_passwd() -> Path:
    for candidate in (shutil.which("mosquitto_passwd"), "/usr/bin/mosquitto_passwd"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise MosquittoMissing(
        "mosquitto_passwd is not installed (it ships with the mosquitto package)."
    )


def write_password_file(path: Path, users: Mapping[str, str]) -> Path:
    """Hash ``users`` (name -> password) into a Mosquitto password file with the real tool."""
    tool = find_mosquitto_passwd()
    path.write_text("")
    for name, password in users.items():
        # -b takes the password on the command line: fine for throwaway test credentials.
        subprocess.run(
            [str(tool), "-b", str(path), name, password],
            check=True,
            capture_output=True,
            timeout=10,
        )
    return path


@dataclass(frozen=True)
class MosquittoConfig:
    """What differs between test brokers. Defaults mirror Mosquitto's own, minus disk.

    ``users`` switches anonymous access off and generates a password file; ``acl_file``
    points at an ACL (the shipped ``deploy/mosquitto/acl`` in the ACL test).
    """

    persistence: bool = False
    max_queued_messages: int = 1000
    max_inflight_messages: int = 20
    message_size_limit: int = 0
    users: Mapping[str, str] = field(default_factory=dict)
    acl_file: Path | None = None
    extra: tuple[str, ...] = ()


class MosquittoProcess:
    """One ``mosquitto`` process on ``127.0.0.1:port``, restartable on that port."""

    kind: Literal["mosquitto"] = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        config: MosquittoConfig | None = None,
        *,
        port: int | None = None,
        binary: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.config = config or MosquittoConfig()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.binary = binary or find_mosquitto()
        self.log_path = workdir / "mosquitto.log"
        self.conf_path = workdir / "mosquitto.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def url_for(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until the port accepts connections.

        A port just released by a killed broker can stay busy for a moment, so a start
        that fails to bind is retried on the same port until ``timeout``.
        """
        self._write_config()
        deadline = time.monotonic() + timeout
        while True:
            self._spawn()
            try:
                self.wait_ready(max(0.1, deadline - time.monotonic()))
                return
            except RuntimeError:
                if self.alive or time.monotonic() >= deadline or not self._bind_failed():
                    self.kill()
                    raise
            time.sleep(0.1)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until a TCP connect to the listener succeeds (Mosquitto listens last)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"mosquitto exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(
            f"mosquitto not ready on {self.url} after {timeout}s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, queued messages and sessions in memory are lost."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM and wait; escalate to SIGKILL if it does not exit in time."""
        if not self.alive or self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self, timeout: float = 10.0) -> None:
        """Kill (if running) and start again on the same port."""
        self.kill()
        self.start(timeout)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)

    # -- internals ---------------------------------------------------------------------

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        self._proc.wait(10)

    def _spawn(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts} on port {self.port}\n".encode())
        # Mosquitto's own log goes to the file named in the config; its stderr (config
        # errors before the log opens) goes beside it.
        stderr = (self.workdir / "mosquitto.stderr").open("ab")
        with stderr:
            self._proc = subprocess.Popen(
                [str(self.binary), "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )

    def _bind_failed(self) -> bool:
        text = self.log_tail(10) + tail(self.workdir / "mosquitto.stderr", 10)
        return "Address already in use" in text

    def _write_config(self) -> None:
        self.conf_path.write_text("\n".join(self._config_lines()) + "\n")

    def _config_lines(self) -> list[str]:
        c = self.config
        lines = [
            f"listener {self.port} {self.host}",
            f"persistence {'true' if c.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"max_queued_messages {c.max_queued_messages}",
            f"max_inflight_messages {c.max_inflight_messages}",
            f"message_size_limit {c.message_size_limit}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
        ]
        if os.geteuid() == 0:
            # As root Mosquitto drops to the "mosquitto" user, who cannot write our tmp dir.
            lines.append("user root")
        if c.users:
            passwd = write_password_file(self.workdir / "passwd", c.users)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if c.acl_file is not None:
            lines.append(f"acl_file {c.acl_file}")
        lines.extend(c.extra)
        return lines


@dataclass(frozen=True)
class BrokerUnderTest:
    """What the parametrised ``broker`` fixture yields: either broker behind one face.

    ``mosquitto`` is set only for ``kind == "mosquitto"``, for tests that kill it.
    """

    kind: Literal["embedded", "mosquitto"]
    host: str
    port: int
    mosquitto: MosquittoProcess | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


class MqttProbe:
    """A bare paho client to poke a broker with: publish, subscribe, watch disconnects.

    Not the product's ``MqttLink`` on purpose: tests of the harness (and of the broker's
    ACL) must not depend on the code they will later judge. MQTT 3.1.1 by default, which
    both brokers speak. paho's own loop reconnects (0.1-0.5 s) and resubscribes.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        clean_session: bool = True,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    ) -> None:
        self.host, self.port, self.keepalive = host, port, keepalive
        v5 = protocol == MQTTProtocolVersion.MQTTv5
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
            clean_session=None if v5 else clean_session,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        # Floats work at run time; paho's hints say int. Whole seconds would slow the tests.
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected = threading.Event()
        self.connects = 0
        self.disconnect_times: list[float] = []
        self._subscriptions: list[tuple[str, int]] = []

    def start(self, timeout: float = 5.0) -> MqttProbe:
        self.client.connect(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.stop()
            raise AssertionError(f"probe could not connect to {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_client(self.client)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now and after every reconnect (the session is clean)."""
        self._subscriptions.append((topic, qos))
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(topic, qos)
        if not done.wait(5):
            raise AssertionError(f"no SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 5.0) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout)

    def expect(
        self, match: Callable[[str, bytes], bool], timeout: float = 5.0
    ) -> list[tuple[str, bytes]]:
        """Collect messages until one satisfies ``match``; all of them, in arrival order."""
        seen: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise queue.Empty
                topic, payload = self.messages.get(timeout=remaining)
            except queue.Empty:
                raise AssertionError(
                    f"expected message not seen in {timeout}s; got {seen}"
                ) from None
            seen.append((topic, payload))
            if match(topic, payload):
                return seen

    def collect(self, quiet_s: float) -> list[tuple[str, bytes]]:
        """Every message until none has arrived for ``quiet_s`` seconds."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=quiet_s))
            except queue.Empty:
                return out

    # paho's network thread: record and hand off, nothing else.
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        for topic, qos in self._subscriptions:
            client.subscribe(topic, qos)
        self.connects += 1
        self.connected.set()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self.connected.clear()
        self.disconnect_times.append(time.monotonic())

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self.messages.put((msg.topic, bytes(msg.payload)))


def release_client(client: paho.Client) -> None:
    """Break the cycle probe <-> client (its callbacks are our bound methods), so the
    client is freed, and its socket pair closed by paho, now rather than by a later
    garbage collection (which may free the sockets first: a ResourceWarning, an error)."""
    client.on_connect = client.on_disconnect = client.on_message = None
    client.on_subscribe = client.on_publish = None
