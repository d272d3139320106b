"""Test-only fault hooks: crash the coordinator at the one moment a test cannot hit by timing.

The delivery guarantee hinges on "commit, then ack": a coordinator that dies after its
commit and before its acks leaves rows stored that the agent still thinks unacked, so
the agent resends and the store must drop the copies. Killing the process from outside
at exactly that moment is luck; this hook makes it certain.

``EDGEWATCH_FAULT_EXIT_AFTER_COMMIT=N``: after the N-th committed transaction that
carried result batches, the ingest worker calls ``os._exit(137)`` (the status of a
SIGKILL) *before* publishing that transaction's acks. No cleanup runs, no ack leaves,
the MQTT socket simply dies with the process, as in a real crash.

Inert unless set: the variable is read once, when this module is imported, and
``AFTER_COMMIT`` stays ``None``, so the hot path pays one ``is not None`` test per
transaction. Nothing in production sets it; it is not a setting and has no flag.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

EXIT_AFTER_COMMIT_ENV = "EDGEWATCH_FAULT_EXIT_AFTER_COMMIT"
CRASH_STATUS = 137  # what a shell reports for a process killed by SIGKILL (128 + 9)


class ExitAfterCommit:
    """Counts committed result transactions and ends the process after the ``after``-th."""

    def __init__(self, after: int) -> None:
        if after < 1:
            raise ValueError(f"{EXIT_AFTER_COMMIT_ENV} must be >= 1, got {after}")
        self.after = after
        self.seen = 0

    def committed(self, batches: int) -> None:
        """Called by the ingest worker right after a commit, before any ack is published."""
        if batches == 0:
            return  # heartbeats and hellos only: no ack would be lost, not the window
        self.seen += 1
        if self.seen < self.after:
            return
        log.critical(
            "fault hook %s=%d: exiting with %d after commit #%d (%d batches), before its acks",
            EXIT_AFTER_COMMIT_ENV,
            self.after,
            CRASH_STATUS,
            self.seen,
            batches,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(CRASH_STATUS)


def exit_after_commit_from(environ: Mapping[str, str]) -> ExitAfterCommit | None:
    """The hook ``environ`` asks for, or None (the normal case)."""
    raw = environ.get(EXIT_AFTER_COMMIT_ENV, "").strip()
    if not raw:
        return None
    try:
        after = int(raw)
    except ValueError as exc:
        raise ValueError(f"{EXIT_AFTER_COMMIT_ENV} must be an integer, got {raw!r}") from exc
    return ExitAfterCommit(after)


# Read once at import: the ingest worker checks only this attribute per transaction.
AFTER_COMMIT: ExitAfterCommit | None = exit_after_commit_from(os.environ)
