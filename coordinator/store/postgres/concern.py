"""What a concern's mixin needs of ``PostgresStore``: a transaction and a read.

A concern (aggregates, alerts ...) keeps its SQL in a module of functions over a
SQLAlchemy ``Connection`` and its ``Store`` methods in a mixin deriving from
``PgConcern``; ``PostgresStore`` inherits the mixins and provides these two methods,
so each concern is added without editing the store's body.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")


class PgConcern(ABC):
    @abstractmethod
    def _transaction(self, what: str = "write") -> AbstractContextManager[Connection]:
        """One transaction; any exception rolls it back and is translated."""

    @abstractmethod
    def _read(self, query: Callable[[Connection], T]) -> T:
        """``query`` on a pooled connection in autocommit."""
