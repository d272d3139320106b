"""The coordinator's error tree (HTTP status mapping lives in ``coordinator.api`` only).

EdgewatchError                  (shared.errors)
└── CoordinatorError            root of everything the coordinator raises on purpose
    ├── StoreError              the store cannot be opened, migrated or written
    ├── NotFoundError           a resource the caller named does not exist; carries it
    └── AuthError               a request carried no token or the wrong one
"""

from __future__ import annotations

from edgewatch.shared.errors import EdgewatchError


class CoordinatorError(EdgewatchError):
    """Root of the errors the coordinator raises deliberately."""


class StoreError(CoordinatorError):
    """The store failed: unreadable file, failed migration, write refused."""


class NotFoundError(CoordinatorError):
    """``kind`` ``key`` does not exist (an agent id nobody has heard of, say)."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class AuthError(CoordinatorError):
    """The request is not authenticated; ``detail`` says why, never what the token is."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
