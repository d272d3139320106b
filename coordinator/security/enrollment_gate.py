"""Results only from enrolled agents: the coordinator's own check behind the broker's.

The broker already refuses anyone without an identity; this gate refuses a message whose
topic names an agent the site has not enrolled, or has revoked (reason ``not_enrolled``,
counted, nothing stored, nothing acked). It matters where the broker cannot tell: an
identity made on the broker by hand, the password-file fallback, a revocation the broker
has not been reloaded for.

Enrollments live in the store (``EnrollmentStore``), written by ``edgewatch enroll`` in
another process: the gate re-reads them every ``refresh_s`` and, for an agent it does not
know, at most every ``miss_refresh_s`` (so a newly enrolled agent is admitted within a
second, and a flood of unknown ids costs one store read per second, not one per message).
"""

from __future__ import annotations

import logging
import threading

from edgewatch.coordinator.ingest.judge import Judged, Refused
from edgewatch.coordinator.store.contract import EnrollmentStore
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.schemas import ResultBatch

log = logging.getLogger(__name__)
NOT_ENROLLED = "not_enrolled"


class EnrollmentGate:
    def __init__(
        self,
        store: EnrollmentStore,
        *,
        clock: Clock = SYSTEM,
        refresh_s: float = 5.0,
        miss_refresh_s: float = 1.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._lock = threading.Lock()
        self._active: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def _reload(self, now: float) -> None:
        try:
            records = self._store.enrollments()
        except Exception:  # a store hiccup: keep the last list rather than refuse everyone
            log.warning("could not re-read enrollments; keeping the last list", exc_info=True)
            return
        self._active = frozenset(r.identity for r in records if r.active and r.role == "agent")
        self._loaded_at = now

    def admits(self, agent_id: str) -> bool:
        with self._lock:
            now = self._clock.monotonic()
            if now - self._loaded_at >= self._refresh_s:
                self._reload(now)
            if agent_id in self._active:
                return True
            if now - self._loaded_at >= self._miss_refresh_s:
                self._reload(now)
            return agent_id in self._active

    def __call__(self, verdict: Judged) -> Judged:
        """``verdict`` as it was, or refused when its agent is not enrolled."""
        if isinstance(verdict, Refused) or self.admits(verdict.agent_id):
            return verdict
        readings = verdict.size if isinstance(verdict, ResultBatch) else 0
        detail = f"agent {verdict.agent_id!r} is not enrolled here"
        return Refused(NOT_ENROLLED, verdict.agent_id, detail, readings)
