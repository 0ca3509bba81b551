"""Timestamps that are always timezone-aware UTC in Python, whatever the column stores.

New tables use `timestamp with time zone`. Adopted databases may hold `timestamp without time zone`
columns (docs/design.md §2): those are written as naive UTC. `Database` inspects the schema once at start and
tells the dialect which contract columns are naive (`dialect.pbxwatch_naive_columns`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAIVE_COLUMNS_ATTR = "pbxwatch_naive_columns"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("pbxwatch passes timezone-aware datetimes only")
    return value.astimezone(UTC)


class UtcTimestamp(TypeDecorator[datetime]):
    """`timestamp with time zone` on PostgreSQL; on SQLite stored as naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _aware(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ContractTimestamp(UtcTimestamp):
    """A timestamp column of the contract tables, which an adopted database may hold as naive UTC."""

    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and self.column in getattr(dialect, NAIVE_COLUMNS_ATTR, ()):
            return _aware(value).replace(tzinfo=None)
        return super().process_bind_param(value, dialect)
