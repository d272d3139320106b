"""Errors of the model lifecycle (the API maps them: 422 and 409).

CoordinatorError                (coordinator.errors)
└── LifecycleError              training, registry, keys, rollouts
    ├── NotEnoughData           too few readings to train on: how many there are, how many needed
    ├── Conflict                the request contradicts the state (a rollout already runs, ...)
    └── Refused                 the request is well formed but cannot be done (no such agents)
"""

from __future__ import annotations

from edgewatch.coordinator.errors import CoordinatorError


class LifecycleError(CoordinatorError):
    """Root of the model lifecycle's errors."""


class NotEnoughData(LifecycleError):
    """Training found ``have`` usable readings where it needs ``need``."""

    def __init__(self, what: str, have: int, need: int) -> None:
        super().__init__(f"too little data to train {what}: {have} usable reading(s), need {need}")
        self.have = have
        self.need = need


class Conflict(LifecycleError):
    """The request contradicts what is going on (answered 409)."""


class Refused(LifecycleError):
    """The request cannot be carried out as asked (answered 422)."""
