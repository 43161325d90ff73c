"""UTCDateTime's own SQLite bind function against SQLAlchemy's path (process_bind_param, then the
dialect's DATETIME formatting), which it replaces for speed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from hub.store.types import UTCDateTime

DIALECT = sqlite.dialect()
FAST = UTCDateTime()._cached_bind_processor(DIALECT)  # as statements get it


def _library(value: datetime) -> object:
    # what the override replaces: the decorator's own step, then the dialect's DATETIME
    composed = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(DIALECT), DIALECT)
    assert composed is not None
    return composed(value)


zones = st.one_of(st.just(UTC), st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))))


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones))
def test_the_same_text_as_sqlalchemy(value: datetime) -> None:
    assert FAST is not None
    assert FAST(value) == _library(value)


def test_same_width_and_order_and_naive_refused() -> None:
    assert FAST is not None
    early = FAST(datetime(2026, 11, 27, 8, 15, tzinfo=UTC))
    late = FAST(datetime(2026, 11, 27, 9, 15, 0, 1, tzinfo=timezone(timedelta(hours=1))))
    assert early == "2026-11-27 08:15:00.000000" and late == "2026-11-27 08:15:00.000001"
    assert FAST(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        FAST(datetime(2026, 11, 27))
