"""Which store a ``--db`` value opens: a SQLite file (the default) or a PostgreSQL URL.

>>> is_postgres("postgresql://edgewatch@db:5432/edgewatch")
True
>>> is_postgres("var/coordinator/edgewatch.db")
False
"""

from __future__ import annotations

from pathlib import Path

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store.contract import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
StoreLocation = Path | str  # a SQLite path, or a PostgreSQL URL (str)


def is_postgres(location: StoreLocation) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_store(location: StoreLocation) -> Store:
    """The store at ``location``; PostgreSQL's modules load only when one is asked for."""
    if is_postgres(location):
        from edgewatch.coordinator.store.postgres.store import PostgresStore

        return PostgresStore(str(location))
    from edgewatch.coordinator.store.sqlite.store import SqliteStore

    return SqliteStore(Path(location))


def location_arg(text: str) -> StoreLocation:
    """An argparse ``type`` for ``--db``: a PostgreSQL URL stays a string, else a path."""
    return text if is_postgres(text) else Path(text)


def open_existing(location: StoreLocation) -> Store:
    """The store at ``location`` for a command-line tool, which must not create a SQLite
    file where a typo points (``StoreError``, one line). A PostgreSQL database is opened
    (and migrated) as the coordinator would."""
    if not is_postgres(location) and not Path(location).exists():
        raise StoreError(f"--db {location}: no such store")
    return open_store(location)
