"""What a concern's mixin needs of ``PostgresStore``: its write transaction and its reads.

A concern (``models.PgModels``, ``verdicts.PgVerdicts`` ...) keeps its SQL in functions
over a ``Connection`` and shows it to the store as a mixin whose methods open a
transaction (``_transaction``) or take a read connection (``_read``). ``PostgresStore``
defines both; these stubs only give the mixins their types, so each concern joins the
store as a base class, without edits to the store's body.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")


class PgConcern:
    def _transaction(self, what: str = "write") -> AbstractContextManager[Connection]:
        """One transaction: committed on exit, rolled back and translated on any error."""
        raise NotImplementedError

    def _read(self, query: Callable[[Connection], T]) -> T:
        """``query`` on a pooled autocommit connection; database errors translated."""
        raise NotImplementedError
