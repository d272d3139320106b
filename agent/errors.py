"""The agent's error tree.

AgentError(EdgewatchError)
├── OutboxError            the outbox cannot be opened or written
│   ├── OutboxFull         the disk (not our bound) is full; nothing was written
│   └── OutboxCorrupt      the file failed its integrity check (moved aside on open)
└── OutboxMismatch         the outbox belongs to another agent id
"""

from __future__ import annotations

from edgewatch.shared.errors import EdgewatchError


class AgentError(EdgewatchError):
    """Root of errors raised by the agent."""


class OutboxError(AgentError):
    """The outbox cannot be opened or written."""


class OutboxFull(OutboxError):
    """The filesystem is full; the append was rolled back."""


class OutboxCorrupt(OutboxError):
    """The outbox file is not a usable SQLite database."""


class OutboxMismatch(AgentError):
    """The outbox was created by another agent id; refusing to mix sequences."""
