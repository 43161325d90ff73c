"""Several workers on one PostgreSQL store: each vessel call is written by the worker that owns it, the
others hand its messages over; nothing is lost when an owner goes away. (On SQLite, written by one
process, every call is the caller's: the same tests show nothing is handed there.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.catalog import Catalog
from hub.config import Settings
from hub.partners import Partners
from hub.pipeline import Pipeline
from hub.store import Store
from hub.store.work import HANDED_TO

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MANIFEST = (SAMPLES / "cuscar-d95b.edi").read_bytes()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def manifest(n: int) -> bytes:
    """The sample manifest under another interchange reference (not a duplicate), same vessel call."""
    return MANIFEST.replace(b"CUS2511270001", f"CUS25112700{n:02d}".encode())


def status(store: Store, message_id: str) -> tuple[str, str | None]:
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT status, claimed_by FROM messages WHERE id = '{message_id}'").one()
    return row[0], row[1]


def workers(store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> tuple[Pipeline, Pipeline]:
    return tuple(Pipeline(store, catalog, lambda: partners, settings, worker=name)  # type: ignore[return-value]
                 for name in ("host:1:a", "host:2:b"))


def test_the_message_of_a_call_another_worker_owns_is_handed_to_it(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    first = store.journal(manifest(1), channel="folder", partner="AML").id
    assert a.run_once() == 1 and status(store, first)[0] == "routed"
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    assert b.run_once() == 1
    if store.engine.dialect.name == "sqlite":
        assert status(store, second) == ("routed", None) and b.handed == 0
        return
    # b leased it, saw that a owns the call, and handed it over unwritten
    assert status(store, second) == ("received", HANDED_TO + "host:1:a") and b.handed == 1
    assert b.run_once() == 0  # not b's to take
    assert a.run_once() == 1 and status(store, second) == ("routed", None)
    assert a.cache.hits > 0  # the owner wrote the call from its cache: nobody else had changed it


def test_a_call_whose_owner_stopped_writing_it_is_taken_over(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    store.journal(manifest(1), channel="folder", partner="AML")
    assert a.run_once() == 1
    with store.engine.begin() as conn:  # a has written nothing of it for longer than CALL_HOLD
        conn.exec_driver_sql("UPDATE call_owners SET until = until - interval '1 hour'"
                             if store.engine.dialect.name == "postgresql" else "SELECT 1")
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    assert b.run_once() == 1 and status(store, second)[0] == "routed" and b.handed == 0


def test_messages_handed_to_an_owner_that_died_are_taken_by_another_worker(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    a, b = workers(store, catalog, partners, settings)
    store.journal(manifest(1), channel="folder", partner="AML")
    assert a.run_once() == 1
    handed = [store.journal(manifest(n), channel="folder", partner="AML").id for n in (2, 3)]
    assert b.run_once() == 2 and b.handed == 2
    # a dies here: its hold on the call and the hand-over leases run out
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE call_owners SET until = until - interval '1 hour'")
        conn.exec_driver_sql("UPDATE messages SET claimed_until = claimed_until - interval '1 hour'"
                             " WHERE claimed_by LIKE 'to:%%'")
    assert b.run_once() == 2
    assert [status(store, m) for m in handed] == [("routed", None)] * 2


def test_the_leases_and_hand_overs_of_a_dead_process_are_released_at_start(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    ids = [store.journal(manifest(n), channel="folder", partner="AML").id for n in (1, 2, 3)]
    with store.transaction() as tx:
        assert sorted(tx.claim_messages("host:1:a")) == sorted(ids)
        assert tx.hand_messages({"host:2:b": ids[:2]}, "host:1:a", lease=timedelta(days=1)) == 2
    with store.transaction() as tx:
        # process 2 died: the messages handed to it are free again; process 1 lives: its lease stays
        assert tx.own_calls(["call|1", "call|2"], "host:2:b", hold=timedelta(days=1)) == {
            "call|1": "host:2:b", "call|2": "host:2:b"}
        assert tx.own_calls(["call|3"], "host:1:a", hold=timedelta(days=1)) == {"call|3": "host:1:a"}
    with store.transaction() as tx:
        # process 2 died: the messages handed to it and its calls are free again; process 1 lives
        assert tx.release_leases_of("host", alive=lambda pid: pid == 1) == 2
        assert tx.own_calls(["call|1", "call|3"], "host:1:a", hold=timedelta(days=1)) == {
            "call|1": "host:1:a", "call|3": "host:1:a"}
        assert tx.own_calls(["call|3"], "host:9:z", hold=timedelta(days=1)) == {"call|3": "host:1:a"}
    assert [status(store, m) for m in ids] == [("received", None), ("received", None), ("received", "host:1:a")]


def test_owner_rows_of_calls_idle_for_long_are_deleted_and_taken_afresh(store: Store) -> None:
    if store.engine.dialect.name == "sqlite":
        with store.transaction() as tx:
            assert tx.own_calls(["MACAS|V1"], "host:1:a", hold=timedelta(seconds=10)) == {"MACAS|V1": "host:1:a"}
            assert tx.forget_idle_calls(timedelta(0)) == 0  # SQLite keeps no owner rows
        return
    with store.transaction() as tx:
        tx.own_calls(["MACAS|V1"], "host:1:a", hold=timedelta(seconds=-120))  # a hold run out 2 min ago
        tx.own_calls(["MACAS|V2"], "host:1:a", hold=timedelta(seconds=10))
        assert tx.forget_idle_calls(timedelta(hours=1)) == 0  # V1 has been idle 2 minutes only
        assert tx.forget_idle_calls(timedelta(minutes=1)) == 1
        assert tx.forget_idle_calls(timedelta(minutes=1)) == 0
        # the call is anyone's again, and a held one stays its owner's
        assert tx.own_calls(["MACAS|V1", "MACAS|V2"], "host:2:b", hold=timedelta(seconds=10)) == {
            "MACAS|V1": "host:2:b", "MACAS|V2": "host:1:a"}


def test_workers_made_in_one_thread_are_distinct_owners(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    """`hub serve` makes its pipeline workers in one thread: each must still be a worker of its own (with
    one name, two workers owned the same calls and rewrote each other's dossiers, at less than half the
    rate of one), so on PostgreSQL the second hands the first's call over, as another process would."""
    a, b = (Pipeline(store, catalog, lambda: partners, settings) for _ in range(2))
    assert a.worker != b.worker and a.worker.split(":")[:2] == b.worker.split(":")[:2]  # same host, same pid
    first = store.journal(manifest(1), channel="folder", partner="AML").id
    assert a.run_once() == 1 and status(store, first)[0] == "routed"
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    assert b.run_once() == 1
    if store.engine.dialect.name == "sqlite":
        assert status(store, second) == ("routed", None)
    else:
        assert status(store, second) == ("received", HANDED_TO + a.worker) and b.handed == 1
