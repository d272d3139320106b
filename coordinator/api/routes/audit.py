"""``GET /api/v1/audit``: the audit log of admin actions (``admin`` scope).

Every request that changed state (or was refused for its scope), and every ``edgewatch
enroll``, ``revoke`` and ``tokens`` command: who, what, when, from where, the outcome.
Paged by id: pass ``last_id`` back as ``after``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import StoreDep

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    target: str
    source: str
    outcome: str


class AuditPage(BaseModel):
    entries: list[AuditOut]
    last_id: int


@router.get("")
def audit_log(
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="entries with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AuditPage:
    found = store.audit_entries(after, limit)
    return AuditPage(
        entries=[
            AuditOut(
                id=e.entry_id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                target=e.target,
                source=e.source,
                outcome=e.outcome,
            )
            for e in found
        ],
        last_id=found[-1].entry_id if found else after,
    )
