"""The coordinator's error tree (HTTP status mapping lives in ``coordinator.api`` only).

EdgewatchError                  (shared.errors)
└── CoordinatorError            root of everything the coordinator raises on purpose
    ├── StoreError              the store cannot be opened, migrated or written
    │   ├── StoreUnavailable    the database failed (I/O, full, locked, gone): retry later
    │   └── WriteRefused        this content cannot be written (isolate the message)
    ├── NotFoundError           a resource the caller named does not exist; carries it
    ├── BadRequestError         a request parameter its type cannot reject (a bad cursor)
    ├── AuthError               a request carried no token or the wrong one
    └── ForbiddenError          authenticated, but not allowed (scope, CSRF)
"""

from __future__ import annotations

from edgewatch.shared.errors import EdgewatchError


class CoordinatorError(EdgewatchError):
    """Root of the errors the coordinator raises deliberately."""


class StoreError(CoordinatorError):
    """The store failed: unreadable file, failed migration, write refused."""


class StoreUnavailable(StoreError):
    """The database itself failed; the same write may succeed later."""


class WriteRefused(StoreError):
    """The write failed because of what it contained; retrying it alone will fail again."""


class NotFoundError(CoordinatorError):
    """``kind`` ``key`` does not exist (an agent id nobody has heard of, say)."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class BadRequestError(CoordinatorError):
    """``parameter`` is malformed in a way its declared type cannot say (answered 422)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


class AuthError(CoordinatorError):
    """The request is not authenticated; ``detail`` says why, never what the token is."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ForbiddenError(CoordinatorError):
    """The caller is known but may not do this (a read token on an admin route, or a
    dashboard request without its CSRF token); ``detail`` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
