"""The conformance suite's harness: clients bound to the broker under test, torn down.

Each test gets a topic prefix of its own, so retained messages of one test never reach
another, and every client it made is stopped at teardown (the ``mq`` fixture).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.broker.clients import Client
from tests.broker.rawmqtt import RawClient
from tests.support.mosquitto import BrokerUnderTest


@dataclass
class Harness:
    broker: BrokerUnderTest
    prefix: str
    _clients: list[Client] = field(default_factory=list)
    _raws: list[RawClient] = field(default_factory=list)

    def topic(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))

    def client(
        self, *, via: tuple[str, int] | None = None, connect: bool = True, **options: Any
    ) -> Client:
        """A paho client (3.1.1) on the broker under test (or on ``via``, a proxy to it)."""
        host, port = via or (self.broker.host, self.broker.port)
        client = Client(host, port, **options)
        self._clients.append(client)
        return client.connect() if connect else client

    def raw(self) -> RawClient:
        """A raw-socket client, connected at TCP level only (call ``.connect(...)``)."""
        raw = RawClient(self.broker.host, self.broker.port)
        self._raws.append(raw)
        return raw

    def close(self) -> None:
        for client in self._clients:
            client.stop()
        for raw in self._raws:
            raw.close()
