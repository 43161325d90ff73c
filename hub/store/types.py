"""Column types that behave the same on SQLite and PostgreSQL.

* `UTCDateTime`: every timestamp in the store is UTC. PostgreSQL keeps it as `timestamptz`; SQLite,
  which has no date type, as ISO text with microseconds (`2025-11-27 08:15:00.000000`), always the same
  width, so text order is time order and indexes on it work. Naive datetimes are refused: a local time
  without its zone is exactly the ambiguity EDIFACT dates bring in, and it must be resolved before the
  store. Values come back as aware UTC datetimes from both backends.
* `json_type()`: SQLAlchemy's JSON (text on SQLite), JSONB on PostgreSQL (binary, indexable with GIN
  later if a query needs it). Python `None` is stored as SQL NULL, not as the JSON `null`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["UTCDateTime", "json_type", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store keeps UTC, "
                             "pass an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)  # SQLite's text format has no zone; it is UTC by construction
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one function from the aware datetime to the stored text, where SQLAlchemy would
        run process_bind_param and then its DATETIME formatting (a dict and a %-format per value): the
        store binds a few timestamps per row, and this was 4 % of the pipeline's time. The same text;
        tests/store/test_types.py compares them."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:
                if value.tzinfo is None or value.utcoffset() is None:
                    raise ValueError(f"naive datetime {value.isoformat()}: the store keeps UTC, "
                                     "pass an aware datetime")
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
