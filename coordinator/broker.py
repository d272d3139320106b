"""The embedded broker: amqtt (MQTT 3.1.1) in a thread of its own, for zero set-up.

Broker address ``embedded`` (or ``embedded:PORT``) makes the coordinator and the demo
start one in-process, so a new user needs nothing installed. It is for demos and small
sites: it speaks 3.1.1 only, keeps nothing on disk and carried ~3k messages/s here;
production runs Mosquitto (``deploy/mosquitto/``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

from shared.errors import ConfigError

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
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
        self._thread = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    def _serve(self, started: Future[None]) -> None:
        from amqtt.broker import Broker  # imported here: the agent never needs amqtt

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._broker = Broker(self._config(), loop=loop)
            loop.run_until_complete(self._broker.start())
        except Exception as exc:  # noqa: BLE001 - reported to the starting thread
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        loop.run_forever()
        loop.close()
