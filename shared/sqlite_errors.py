"""What a SQLite error means, decided by its result code, never by its message text.

Python 3.11's ``sqlite3`` exceptions carry ``sqlite_errorcode`` (the extended code); its
low byte is the primary code (https://sqlite.org/rescode.html). Messages are for
people and change between SQLite versions; codes do not.
"""

from __future__ import annotations

import sqlite3

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_NOMEM = 7
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_PROTOCOL = 15
SQLITE_NOTADB = 26

# The database (disk, file, lock) failed; the same statement may work later.
_TRANSIENT = frozenset(
    {SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL}
    | {SQLITE_CANTOPEN, SQLITE_PROTOCOL, SQLITE_CORRUPT, SQLITE_NOTADB}
)


def primary_code(exc: BaseException) -> int:
    """The primary result code of a sqlite3 error (0 when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return int(code) & 0xFF if isinstance(code, int) else 0


def is_full(exc: BaseException) -> bool:
    """The disk (or the file size limit) is full."""
    return primary_code(exc) == SQLITE_FULL


def is_damage(exc: BaseException) -> bool:
    """The file is not a usable database (damaged, or not SQLite at all)."""
    return primary_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def is_database_failure(exc: BaseException) -> bool:
    """The database failed, not the statement: retrying the same write later may work.

    An ``OperationalError`` without a code (raised by the module itself, e.g. on a closed
    connection) counts as a failure too; a constraint, a bad parameter or a value SQLite
    cannot hold is the content's fault and does not.
    """
    code = primary_code(exc)
    if code:
        return code in _TRANSIENT
    return isinstance(exc, sqlite3.OperationalError)
