"""The embedded broker: amqtt (MQTT 3.1.1) in a thread of its own, for zero set-up.

Broker address ``embedded`` (or ``embedded:PORT``) makes the coordinator and the demo
start one in-process, so a new user needs nothing installed. It is for demos and small
sites: it speaks 3.1.1 only, keeps nothing on disk and carried ~3k messages/s here;
production runs Mosquitto (``deploy/mosquitto/``). amqtt 0.12.1 runs with the fixes of
``amqtt_fixes`` applied; ``tests/broker/test_conformance.py`` holds it to what Mosquitto
does (docs/brokers.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

from edgewatch.shared.errors import ConfigError

log = logging.getLogger(__name__)
DEFAULT_EMBEDDED_PORT = 1883


def parse_embedded(url: str) -> int | None:
    """``embedded`` -> default port, ``embedded:N`` -> N, anything else -> None."""
    if url == "embedded":
        return DEFAULT_EMBEDDED_PORT
    if url.startswith("embedded:"):
        try:
            port = int(url.split(":", 1)[1])
        except ValueError as exc:
            raise ConfigError(f"bad embedded broker address {url!r}") from exc
        if not 0 <= port < 65536:
            raise ConfigError(f"bad embedded broker port {port}")
        return port
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt on ``host:port`` (port 0 picks a free one) until ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_EMBEDDED_PORT) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._stopped: Future[None] = Future()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # amqtt and its state machine log every connection and state change at INFO.
        for name in ("amqtt", "transitions"):
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name="embedded-broker", daemon=True
        )
        self._thread.start()
        started.result(timeout)
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) listening on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
        self._thread = None

    async def _shutdown(self) -> None:
        await self._broker.shutdown()
        # Let transports that are closing finish (their callbacks need the loop to run).
        await asyncio.sleep(0.05)

    def _config(self) -> dict[str, Any]:
        from edgewatch.coordinator.broker import amqtt_fixes

        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Anyone may connect, as with Mosquitto's allow_anonymous; unlike amqtt's
            # AnonymousAuthPlugin this keeps persistent sessions (see amqtt_fixes).
            "plugins": {amqtt_fixes.AUTH_PLUGIN: {}},
        }

    async def _start(self) -> None:
        from edgewatch.coordinator.broker.amqtt_fixes import AMQTT_VERSION

        await self._broker.start()
        # Mosquitto retains its version here; so do we: `mosquitto_sub -t '$SYS/#'` tells
        # the brokers apart, and the conformance suite needs a `$` topic on both.
        version = f"amqtt version {AMQTT_VERSION} (edgewatch embedded)".encode()
        await self._broker.retain_message(None, "$SYS/broker/version", version, 0)

    def _serve(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            # Imported here: the agent never needs amqtt. The fixes come first: they raise
            # UnsupportedAmqtt if amqtt is not the release they were written for.
            from edgewatch.coordinator.broker import amqtt_fixes

            amqtt_fixes.apply()
            from amqtt.broker import Broker

            self._broker = Broker(self._config(), loop=loop)
            loop.run_until_complete(self._start())
        except Exception as exc:  # any failure is re-raised in the starting thread
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        loop.run_forever()
        loop.close()
