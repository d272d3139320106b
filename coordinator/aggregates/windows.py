"""Window sizes and scopes: the names the API, the rules and the store use.

Windows are tumbling and aligned to the epoch: the 5-minute window of a reading at ``ts``
starts at ``floor(ts / 300) * 300``. Every size divides the hour, so each window of a
smaller size lies inside one window of each larger size.

A **scope** is ``sensor:ID``, ``type:T``, ``agent:A`` or ``fleet``.
"""

from __future__ import annotations

from edgewatch.shared.errors import ConfigError

WINDOWS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}
SIZES: tuple[int, ...] = tuple(WINDOWS.values())
NAMES: dict[int, str] = {v: k for k, v in WINDOWS.items()}
SCOPE_KINDS = ("sensor", "type", "agent", "fleet")
FLEET = "fleet"
# A reading committed this long after its window ended is late: the window is revised.
LATE_GRACE_S = 10.0


def window_size(name: str) -> int:
    try:
        return WINDOWS[name]
    except KeyError:
        raise ConfigError(f"unknown window {name!r}: one of {', '.join(WINDOWS)}") from None


def check_scope(scope: str) -> str:
    """``scope`` if well formed (``sensor:ID``, ``type:T``, ``agent:A``, ``fleet``)."""
    if scope == FLEET:
        return scope
    kind, sep, ident = scope.partition(":")
    if not sep or kind not in SCOPE_KINDS[:3] or not ident or len(ident) > 128:
        raise ConfigError(f"bad scope {scope!r}: sensor:ID, type:T, agent:A or fleet")
    return scope


def start_of(ts: float, size: int) -> int:
    return int(ts // size) * size
