"""A real secure site for tests: ``site init`` on a free port, the Mosquitto it configures,
and raw MQTT clients to attack it with.

The broker runs the very ``mosquitto.conf`` that ``edgewatch site init`` wrote (the one
``deploy/mosquitto/mosquitto.conf`` is a rendering of), adapted in one way only: as root,
a ``user root`` line, because Mosquitto would otherwise drop to the ``mosquitto`` user,
who cannot enter pytest's private temporary directories.

``Attacker`` is a bare paho client, not the product's ``MqttLink``: it reports exactly
what the broker answered (CONNACK, SUBACK and PUBACK reason codes) and what it received.
"""

from __future__ import annotations

import json
import os
import queue
import ssl
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edgewatch.coordinator.site.enrollment import EnrollRequest, Site, enroll
from edgewatch.coordinator.site.init import SiteRequest, init_site
from edgewatch.coordinator.site.layout import SiteConfig, SiteLayout
from edgewatch.shared.bundle import Bundle, read_bundle
from tests.support.mosquitto import find_mosquitto, release_client
from tests.support.procs import Proc, ProcGroup, free_port, wait_until

NOT_AUTHORIZED = 0x87


def tls_context(
    ca_pem: str | None, cert_pem: str | None = None, key_pem: str | None = None
) -> ssl.SSLContext:
    from edgewatch.shared.tls import TlsOptions

    return TlsOptions(ca_pem, cert_pem, key_pem).context()


@dataclass
class Attacker:
    """One raw MQTT 5 connection; every answer of the broker is kept."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    client_id: str = field(default_factory=lambda: f"attacker-{uuid.uuid4().hex[:8]}")
    context: ssl.SSLContext | None = None
    connack: ReasonCode | None = None
    disconnects: list[str] = field(default_factory=list)
    messages: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    error: str | None = None

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._answers: dict[int, threading.Event] = {}
        self._codes: dict[int, list[ReasonCode]] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        if self.context is not None:
            self.client.tls_set_context(self.context)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    # -- connect ------------------------------------------------------------------------

    def connect(self, timeout: float = 5.0) -> ReasonCode | None:
        """The CONNACK's reason, or None when there was none (handshake or socket failed)."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            self.error = str(exc)
            return None
        self.client.loop_start()
        self._connected.wait(timeout)
        return self.connack

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_client(self.client)

    # -- subscribe and publish, each answered ---------------------------------------------

    def _wait(self, mid: int, timeout: float) -> list[ReasonCode]:
        with self._lock:
            event = self._answers.setdefault(mid, threading.Event())
        if not event.wait(timeout):
            raise AssertionError(f"no answer from the broker for message {mid}")
        return self._codes[mid]

    def subscribe(self, topic: str, timeout: float = 5.0) -> ReasonCode:
        _rc, mid = self.client.subscribe(topic, qos=1)
        return self._wait(int(mid or 0), timeout)[0]

    def publish(
        self, topic: str, payload: bytes, retain: bool = False, timeout: float = 5.0
    ) -> ReasonCode:
        """Publish QoS 1 and return the PUBACK's reason (MQTT 5 says when it refused)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return self._wait(info.mid, timeout)[0]

    def received(self, quiet_s: float = 0.0) -> list[tuple[str, bytes]]:
        out = []
        while True:
            try:
                out.append(
                    self.messages.get(timeout=quiet_s) if quiet_s else self.messages.get_nowait()
                )
            except queue.Empty:
                return out

    # -- paho's thread -------------------------------------------------------------------

    def _answered(self, mid: int, codes: list[ReasonCode]) -> None:
        with self._lock:
            self._codes[mid] = codes
            self._answers.setdefault(mid, threading.Event()).set()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        self._connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.disconnects.append(str(reason))
        self._connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._answered(mid, codes)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._answered(mid, [reason])


@dataclass
class SecureSite:
    """A site made by ``init_site``, its broker running, optionally a coordinator."""

    root: Path
    procs: ProcGroup
    mutual_tls: bool = False
    api_port: int = field(default_factory=free_port)
    broker: Proc | None = None
    coordinator: Proc | None = None

    def __post_init__(self) -> None:
        self.config: SiteConfig = init_site(
            SiteRequest(
                root=self.root,
                mqtt_port=free_port(),
                hosts=("127.0.0.1",),
                mutual_tls=self.mutual_tls,
            )
        )
        self.layout = SiteLayout(self.root.resolve())
        self.site = Site.open(self.root)

    @property
    def port(self) -> int:
        return self.config.mqtt_port

    @property
    def db(self) -> Path:
        return Path(self.config.db)

    @property
    def ca_pem(self) -> str:
        return self.layout.ca_cert.read_text()

    def start_broker(self) -> SecureSite:
        conf = self.layout.mosquitto_conf
        if os.geteuid() == 0:
            text = conf.read_text()
            if "\nuser root\n" not in text:
                conf.write_text(text + "user root\n")
        self.broker = self.procs.spawn([str(find_mosquitto()), "-c", str(conf)], name="mosquitto")
        self.broker.wait_for_log(r"mosquitto version \S+ running", timeout=15)
        return self

    def start_coordinator(self, *extra: str) -> SecureSite:
        self.coordinator = self.procs.edgewatch(
            "coordinator",
            "--bundle",
            str(self.layout.coordinator_bundle),
            "--port",
            str(self.api_port),
            *extra,
            name="coordinator",
        )
        wait_until(self.ready, 30, message="coordinator never ready on the secure site")
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.api_port}/api/v1/health/ready", timeout=1
            ) as resp:
                return bool(json.loads(resp.read()).get("status") == "ready")
        except OSError:
            return False

    # -- identities ------------------------------------------------------------------------

    def enroll(self, name: str, role: str = "agent", **kw: Any) -> Bundle:
        out = self.root / f"{name}.bundle"
        enroll(self.site, EnrollRequest(identity=name, role=role, **kw), out)  # type: ignore[arg-type]
        return read_bundle(out)

    def bundle_path(self, name: str) -> Path:
        return self.root / f"{name}.bundle"

    def coordinator_bundle(self) -> Bundle:
        return read_bundle(self.layout.coordinator_bundle)

    def attacker(
        self,
        bundle: Bundle | None = None,
        *,
        client_id: str | None = None,
        password: str | None = None,
        tls: bool = True,
        context: ssl.SSLContext | None = None,
    ) -> Attacker:
        """A raw client; with ``bundle``: its credentials (its client id unless given)."""
        if context is None and tls:
            cert = bundle.client_cert_pem if bundle else None
            key = (
                bundle.client_key_pem.get_secret_value()
                if bundle and bundle.client_key_pem
                else None
            )
            context = tls_context(self.ca_pem, cert, key)
        kw: dict[str, Any] = {"context": context}
        if bundle is not None:
            kw |= {
                "username": bundle.username,
                "password": password
                if password is not None
                else bundle.password.get_secret_value(),
                "client_id": client_id or bundle.client_id,
            }
        elif client_id is not None:
            kw["client_id"] = client_id
        return Attacker("127.0.0.1", self.port, **kw)

    # -- the coordinator's view ----------------------------------------------------------------

    def api_token(self) -> str:
        return (self.db.parent / "api-token").read_text().strip()

    def api(
        self, path: str, token: str | None = None, method: str = "GET", body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def rejected(self, reason: str) -> int:
        _status, stats = self.api("/api/v1/stats", self.api_token())
        return int(stats["rejected"].get(reason, 0))

    def stored(self, where: str = "1", *args: Any) -> int:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(f"SELECT COUNT(*) FROM readings WHERE {where}", args).fetchone()
            return int(row[0])
        finally:
            conn.close()

    def wait_stored(self, where: str, *args: Any, at_least: int = 1, timeout: float = 20.0) -> None:
        wait_until(
            lambda: self.stored(where, *args) >= at_least,
            timeout,
            message=f"never stored {at_least} readings where {where} {args}",
        )
