"""Which agents may be given sensors: alive now, and not flapping.

An agent is **up** while its last status is ``online`` and its last heartbeat is younger
than ``timeout_s`` (coordinator clock, at receipt). It is **lost** the moment its last
will (``offline``) arrives or its heartbeats stop. A lost agent that comes back is
**available** again only once it has stayed up for ``hold_down_s``: a flapping agent
would otherwise pull sensors back and forth with every reconnect. An agent the
coordinator has never lost is available as soon as it is up.

Pure bookkeeping on an injected clock, so hold-downs are tested in microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.shared.clock import SYSTEM, Clock


@dataclass(frozen=True)
class LivenessChange:
    available: frozenset[str]
    lost: frozenset[str]  # became unavailable since the last observation
    joined: frozenset[str]  # became available since the last observation


@dataclass
class Liveness:
    timeout_s: float = 15.0
    hold_down_s: float = 30.0
    clock: Clock = SYSTEM
    _up_since: dict[str, float] = field(default_factory=dict)
    _ever_lost: set[str] = field(default_factory=set)
    _available: frozenset[str] = frozenset()

    def is_up(self, record: AgentRecord, now: float) -> bool:
        if record.state != "online":
            return False
        seen = record.heartbeat_at if record.heartbeat_at is not None else record.last_seen
        return now - seen <= self.timeout_s

    def observe(self, records: Iterable[AgentRecord]) -> LivenessChange:
        now = self.clock.time()
        up = {r.id for r in records if self.is_up(r, now)}
        for agent_id in list(self._up_since):
            if agent_id not in up:
                del self._up_since[agent_id]
        for agent_id in up:
            self._up_since.setdefault(agent_id, now)
        available = frozenset(
            a for a in up if a not in self._ever_lost or now - self._up_since[a] >= self.hold_down_s
        )
        lost = self._available - available
        self._ever_lost |= lost
        change = LivenessChange(available, frozenset(lost), available - self._available)
        self._available = available
        return change

    @property
    def available(self) -> frozenset[str]:
        return self._available
