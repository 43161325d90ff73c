"""`Prepared` statements (hub.store.prepared) run on the driver's cursor: the same rows, the same stored
values and the same errors as SQLAlchemy's `Connection.execute` of the same statement, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.store import Store
from hub.store.prepared import Prepared
from hub.store.schema import correlation_keys, dossiers, messages
from hub.store.store import _statements

WHEN = datetime(2025, 11, 20, 6, 30, 15, 123456, tzinfo=UTC)


def _message_row(message_id: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {c.key: None for c in messages.c if c.key not in ("claimed_by", "claimed_until")}
    row.update(id=message_id, received_at=WHEN, sha256="0" * 64, size=3, channel="amqp", status="received",
               status_at=WHEN, message_types=["CUSCAR", "IFTMIN"], meta={"queue": "in", "note": "Salé"})
    row.update(values)
    return row


def test_an_insert_stores_what_sqlalchemy_stores_and_reads_back_alike(store: Store) -> None:
    insert = Prepared(messages.insert())
    with store.transaction() as tx:
        insert.run(tx._c, _message_row("A" * 26))
        tx._c.execute(messages.insert(), _message_row("B" * 26))
        columns = [c for c in messages.c if c.key != "id"]
        fast = Prepared(sa.select(*columns).where(messages.c.id == sa.bindparam("b_id")))
        for message_id in ("A" * 26, "B" * 26):
            expected = tx._c.execute(sa.select(*columns).where(messages.c.id == message_id)).one()
            got = fast.run(tx._c, {"b_id": message_id})
            assert got.rows == [tuple(expected)]
            assert got.dicts()[0]["received_at"] == WHEN  # aware, UTC, microseconds kept
            assert got.dicts()[0]["meta"] == {"queue": "in", "note": "Salé"}


def test_literal_values_in_the_statement_and_none_values_are_sent(store: Store) -> None:
    release = Prepared(messages.update().where(messages.c.id == sa.bindparam("b_id"))
                       .values(claimed_by=None, claimed_until=None))
    with store.transaction() as tx:
        tx._c.execute(messages.insert(), _message_row("A" * 26))
        tx._c.execute(messages.update().values(claimed_by="w1", claimed_until=WHEN))
        assert release.run(tx._c, {"b_id": "A" * 26}).rowcount == 1
        assert release.run(tx._c, {"b_id": "Z" * 26}).rowcount == 0
        assert tx._c.execute(sa.select(messages.c.claimed_by, messages.c.claimed_until)).one() == (None, None)


def test_expanding_lists_of_any_length_and_a_literal_list(store: Store) -> None:
    m = messages.c
    query = Prepared(sa.select(m.id).where(m.id.in_(sa.bindparam("b_ids", expanding=True)),
                                           m.status.not_in(("failed", "duplicate"))).order_by(m.id))
    with store.transaction() as tx:
        for n, status in enumerate(["received", "failed", "processed", "duplicate", "routed"]):
            tx._c.execute(messages.insert(), _message_row(f"{n:026d}", status=status))
        assert query.run(tx._c, {"b_ids": [f"{n:026d}" for n in range(5)]}).scalars() == [
            f"{n:026d}" for n in (0, 2, 4)]
        assert query.run(tx._c, {"b_ids": [f"{n:026d}" for n in (1, 2)]}).scalars() == [f"{2:026d}"]
        assert query.run(tx._c, {"b_ids": []}).scalars() == []


def test_returning_and_executemany(store: Store) -> None:
    s = _statements(store.backend)
    with store.transaction() as tx:
        now = datetime.now(UTC)
        row = {"id": "D1", "kind": "vessel_call", "status": "expected", "document": {"a": [1, "é"]},
               "version": 1, "created_at": now, "updated_at": now}
        assert s.insert_dossier.run(tx._c, row).scalar_one_or_none() == 1
        assert s.insert_dossier.run(tx._c, row).scalar_one_or_none() is None  # DO NOTHING, nothing returned
        updated = s.update_dossier.run(tx._c, {"b_id": "D1", "b_version": 1, "status": "arrived",
                                               "document": {"b": 2}, "updated_at": now + timedelta(seconds=1)})
        assert updated.scalar_one_or_none() == 2
        keys = [{"key_type": "bl", "value": f"BL{n}", "raw": None, "scope": "", "dossier_id": "D1",
                 "dossier_kind": "vessel_call", "message_id": None, "created_at": now} for n in range(3)]
        s.insert_keys.run_many(tx._c, keys + keys[:1])  # the repeat is skipped (ON CONFLICT DO NOTHING)
        assert tx._c.execute(sa.select(sa.func.count()).select_from(correlation_keys)).scalar_one() == 3
        assert tx._c.execute(sa.select(dossiers.c.document, dossiers.c.status)).one() == ({"b": 2}, "arrived")


def test_errors_are_sqlalchemys(store: Store) -> None:
    insert = Prepared(messages.insert())
    with store.transaction() as tx:
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            insert.run(tx._c, _message_row("A" * 26, received_at=datetime(2025, 1, 1)))
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        insert.run(tx._c, _message_row("A" * 26))
        insert.run(tx._c, _message_row("A" * 26))
    with store.transaction() as tx:  # rolled back with the transaction
        assert tx._c.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one() == 0


def test_executemany_converts_each_rows_values_even_when_rows_share_one(store: Store) -> None:
    s = _statements(store.backend)
    shared = WHEN
    with store.transaction() as tx:
        tx.insert_dossier("D1", "vessel_call", "expected", {})
        rows = [{"key_type": "bl", "value": f"BL{n}", "raw": None, "scope": "", "dossier_id": "D1",
                 "dossier_kind": "vessel_call", "message_id": None,
                 "created_at": shared if n % 2 else WHEN + timedelta(minutes=n)} for n in range(6)]
        s.insert_keys.run_many(tx._c, rows)
        got = dict(tx._c.execute(sa.select(correlation_keys.c.value, correlation_keys.c.created_at)).all())
    assert got == {row["value"]: row["created_at"] for row in rows}


_KEY_NAMES = ("key_type", "value", "raw", "scope", "dossier_id", "dossier_kind", "message_id", "created_at")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["bl", "container"]), st.text(max_size=5), st.none() | st.text(max_size=3),
                          st.sampled_from([None, WHEN, WHEN + timedelta(hours=1)]), st.booleans()),
                min_size=1, max_size=12))
def test_executemany_parameters_are_each_sets_own(
        store: Store, sets: list[tuple[str, str, str | None, datetime | None, bool]]) -> None:
    """run_many builds the driver's parameters a column at a time: the same as `_params` of each set
    (values converted by their type, None left alone, a value shared by several sets converted alike)."""
    s = _statements(store.backend)
    rows = [{"key_type": t, "value": v, "raw": raw, "scope": "", "dossier_id": "D1", "dossier_kind": "vessel_call",
             "message_id": None, "created_at": (WHEN if shared else when)} for t, v, raw, when, shared in sets]
    with store.transaction() as tx:
        c = s.insert_keys._compiled(tx._c.dialect, rows[0])
        many = s.insert_keys._many_params(c, rows)
        one_by_one = [s.insert_keys._params(c, c.names, row) for row in rows]
    assert [list(p) if c.positional else p for p in many] == one_by_one


def test_executemany_reports_a_refused_value_as_sqlalchemy_does(store: Store) -> None:
    s = _statements(store.backend)
    with store.transaction() as tx:
        tx.insert_dossier("D1", "vessel_call", "expected", {})
        rows = [{"key_type": "bl", "value": f"BL{n}", "raw": None, "scope": "", "dossier_id": "D1",
                 "dossier_kind": "vessel_call", "message_id": None,
                 "created_at": WHEN if n < 2 else datetime(2025, 1, 1)} for n in range(3)]
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            s.insert_keys.run_many(tx._c, rows)


@pytest.mark.parametrize("per", [1, 2, 3, 200])
def test_several_rows_per_insert_statement_store_and_count_what_one_per_row_does(store: Store, per: int) -> None:
    """insert_keys sends up to `rows_per_statement` rows per INSERT on SQLite (one per row elsewhere):
    the same rows stored, the same rowcount, repeats skipped within a statement and across them."""
    statement = Prepared(sa.dialects.sqlite.insert(correlation_keys).on_conflict_do_nothing(
        index_elements=["key_type", "value", "scope", "dossier_id"]), rows_per_statement=per)
    if store.backend != "sqlite":
        statement = _statements(store.backend).insert_keys
    with store.transaction() as tx:
        tx.insert_dossier("D1", "vessel_call", "expected", {})
        rows = [{"key_type": "bl", "value": f"BL{n % 5}", "raw": None, "scope": "", "dossier_id": "D1",
                 "dossier_kind": "vessel_call", "message_id": None, "created_at": WHEN} for n in range(7)]
        assert statement.run_many(tx._c, rows[:2]) == 2
        assert statement.run_many(tx._c, rows) == 3  # BL0, BL1 already there; BL0, BL1 repeated in rows
        got = tx._c.execute(sa.select(correlation_keys.c.value).order_by(correlation_keys.c.id)).scalars().all()
        assert got == ["BL0", "BL1", "BL2", "BL3", "BL4"]
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:  # no dossier D2
        statement.run_many(tx._c, [{**row, "dossier_id": "D2"} for row in rows])


# What a text column of both databases holds: PostgreSQL refuses NUL, and no encoding has surrogates.
_STORABLE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=3)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["bl", "container"]), st.sampled_from(["A", "B", "C1", "Salé"]),
                          st.none() | _STORABLE_TEXT, st.sampled_from([WHEN, WHEN + timedelta(hours=1)])),
                min_size=1, max_size=12))
def test_run_columns_stores_and_counts_what_run_many_does(
        store: Store, sets: list[tuple[str, str, str | None, datetime]]) -> None:
    """The same parameter sets as columns (run_columns) and as dicts (run_many): the same rows, in the
    same order, the same rowcount (repeats skipped alike)."""
    s = _statements(store.backend)
    rows = [{"key_type": t, "value": v, "raw": raw, "scope": "", "dossier_id": "D1", "dossier_kind": "vessel_call",
             "message_id": None, "created_at": when} for t, v, raw, when in sets]
    k = correlation_keys.c
    stored = sa.select(k.key_type, k.value, k.raw, k.scope, k.dossier_id, k.dossier_kind, k.message_id,
                       k.created_at).order_by(k.id)
    got = []
    for how in ("many", "columns"):
        with store.transaction() as tx:
            tx.insert_dossier("D1", "vessel_call", "expected", {})
            if how == "many":
                count = s.insert_keys.run_many(tx._c, rows)
            else:
                count = s.insert_keys.run_columns(tx._c, {name: [row[name] for row in rows] for name in _KEY_NAMES})
            got.append((count, tx._c.execute(stored).all()))
            tx.delete_dossier("D1")
    assert got[0] == got[1]


def test_run_columns_reports_a_refused_value_as_run_many_does(store: Store) -> None:
    s = _statements(store.backend)
    rows = [{"key_type": "bl", "value": f"BL{n}", "raw": None, "scope": "", "dossier_id": "D1",
             "dossier_kind": "vessel_call", "message_id": None,
             "created_at": WHEN if n < 2 else datetime(2025, 1, 1)} for n in range(3)]
    errors = []
    for how in ("many", "columns"):
        with store.transaction() as tx:
            tx.insert_dossier("D1", "vessel_call", "expected", {})
            with pytest.raises(sa.exc.StatementError, match="naive datetime") as caught:
                if how == "many":
                    s.insert_keys.run_many(tx._c, rows)
                else:
                    s.insert_keys.run_columns(tx._c, {name: [row[name] for row in rows] for name in _KEY_NAMES})
            errors.append((str(caught.value.orig), caught.value.params))
            tx.delete_dossier("D1")
    assert errors[0] == errors[1]


def test_add_keys_of_links_what_add_keys_links(store: Store) -> None:
    k = correlation_keys.c
    stored = sa.select(k.key_type, k.value, k.raw, k.scope, k.dossier_id, k.dossier_kind, k.message_id).order_by(k.id)
    batches = [("VC-1", "vessel_call", [("container", "AMLU7296336", ""), ("port_voyage", "ESALG|0712N", "")]),
               ("CS-1", "consignment", []),
               ("CS-2", "consignment", [("bl", "AMLMAN1", ""), ("container", "X", "VC-1")])]
    got = []
    for how in ("add_keys", "add_keys_of"):
        with store.transaction() as tx:
            for did, kind, _ in batches:
                tx.insert_dossier(did, kind, "expected", {})
            if how == "add_keys_of":
                tx.add_keys_of(batches)
            else:
                tx.add_keys([{"key_type": t, "value": v, "scope": scope, "dossier_id": did, "dossier_kind": kind}
                             for did, kind, keys in batches for t, v, scope in keys])
            tx.add_keys_of(batches[:1])  # already linked: skipped
            got.append(tx._c.execute(stored).all())
            for did, _, _ in batches:
                tx.delete_dossier(did)
    assert got[0] == got[1] and len(got[0]) == 4
