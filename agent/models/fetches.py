"""Model versions being fetched: which topic each waits on, and when to ask again.

Subscribing to a model topic hands out its retained package (``shared.modelpack``). A
package that was refused, or that never came, is asked for again by re-subscribing:
first after ``retry_s``, then at doubling intervals up to ``retry_max_s``, never in a
tight loop. A new key, or a reconnect, asks for everything pending at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from edgewatch.shared.clock import Clock
from edgewatch.shared.desired import ModelOrder

Role = Literal["live", "shadow"]
Key = tuple[Role, str]  # (role, sensor type)
WAIT_NOTE_S = 30.0


class Subscriber(Protocol):
    """Where model topics are asked for (the uplink's MQTT link)."""

    def subscribe_model(self, topic: str) -> None: ...

    def unsubscribe_model(self, topic: str) -> None: ...


@dataclass
class Want:
    order: ModelOrder
    topic: str
    since: float
    retry_at: float
    backoff: float
    refused: str | None = None


class Fetches:
    def __init__(
        self, link: Subscriber, clock: Clock, *, retry_s: float, retry_max_s: float
    ) -> None:
        self.link = link
        self.clock = clock
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.wants: dict[Key, Want] = {}

    def __contains__(self, key: Key) -> bool:
        return key in self.wants

    def start(self, key: Key, order: ModelOrder, topic: str) -> None:
        now = self.clock.monotonic()
        self.wants[key] = Want(order, topic, now, now + self.retry_s, self.retry_s)
        self.link.subscribe_model(topic)

    def drop(self, key: Key) -> None:
        want = self.wants.pop(key, None)
        if want is not None and not any(w.topic == want.topic for w in self.wants.values()):
            self.link.unsubscribe_model(want.topic)

    def waiting_on(self, topic: str) -> list[Key]:
        return [k for k, w in self.wants.items() if w.topic == topic]

    def tick(self) -> dict[Key, str]:
        """Ask again for what is due; notes for wants that got nothing for a while."""
        now = self.clock.monotonic()
        notes = {}
        for key, want in self.wants.items():
            if now - want.since >= WAIT_NOTE_S and want.refused is None:
                notes[key] = f"waiting for model {key[1]}@{want.order.version}"
            if now >= want.retry_at:
                want.backoff = min(want.backoff * 2, self.retry_max_s)
                want.retry_at = now + want.backoff
                self._again(want.topic)
        return notes

    def again_all(self) -> None:
        for want in self.wants.values():
            self._again(want.topic)

    def _again(self, topic: str) -> None:
        self.link.unsubscribe_model(topic)
        self.link.subscribe_model(topic)
