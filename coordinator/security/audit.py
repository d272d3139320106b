"""The audit log: every admin action, who did it, from where, and how it ended.

API requests that change state are recorded by ``coordinator.api.auth`` (the caller's
address as ``source``); commands run on the coordinator's host (``edgewatch enroll``,
``revoke``, ``tokens``) are recorded here with ``cli:USER@HOST`` as their source.
"""

from __future__ import annotations

import getpass
import socket
import time

from edgewatch.coordinator.store.contract import AuditStore
from edgewatch.coordinator.store.security_records import AuditEntry


def cli_source() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"cli:{user}@{socket.gethostname()}"


def record(
    store: AuditStore, actor: str, action: str, target: str, source: str, outcome: str = "ok"
) -> int:
    return store.add_audit(
        AuditEntry(
            at=time.time(),
            actor=actor,
            action=action,
            target=target[:300],
            source=source,
            outcome=outcome,
        )
    )


def record_cli(store: AuditStore, action: str, target: str, outcome: str = "ok") -> int:
    """An action taken on the coordinator's host, by its local user."""
    source = cli_source()
    return record(store, source.removeprefix("cli:"), action, target, source, outcome)
