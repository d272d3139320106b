"""Every store kind, for suites that must hold on each (the store contract, the API).

``store_location`` is parametrised over ``STORE_KINDS``: a SQLite file in the test's
tmp dir, or a fresh database on the local PostgreSQL server, dropped after the test.
A test that asks for it runs once per store; a new kind joins here and every such suite
picks it up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.coordinator.store.location import StoreLocation
from tests.support.postgres import PostgresMissing, temp_database

STORE_KINDS = ("sqlite", "postgresql")


def locate(kind: str, tmp_path: Path) -> Iterator[StoreLocation]:
    """Yield a fresh location of ``kind``; cleaned up when the generator closes."""
    if kind == "sqlite":
        yield tmp_path / f"{kind}.db"
        return
    try:
        with temp_database() as url:
            yield url
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=STORE_KINDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreLocation]:
    yield from locate(request.param, tmp_path)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh database on the local PostgreSQL server (its URL), dropped after."""
    for location in locate("postgresql", tmp_path):
        yield str(location)
