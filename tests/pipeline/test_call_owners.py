"""Several workers on one PostgreSQL store: each vessel call is written by the worker that owns it. The
others do not lease its messages (by the call hint read at intake), or, for a message without one, hand
it over once its mapping names the call; nothing is lost when an owner goes away. (On SQLite, written by
one process, every call is the caller's: the same tests show nothing is left or handed there.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.catalog import Catalog
from hub.config import Settings
from hub.partners import Partners
from hub.pipeline import TAKE_OVER_AFTER, Pipeline
from hub.store import Store
from hub.store.store import Transaction
from hub.store.types import utcnow
from hub.store.work import HANDED_TO

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MANIFEST = (SAMPLES / "cuscar-d95b.edi").read_bytes()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def manifest(n: int) -> bytes:
    """The sample manifest under another interchange reference (not a duplicate), same vessel call."""
    return MANIFEST.replace(b"CUS2511270001", f"CUS25112700{n:02d}".encode())


def unhinted(n: int) -> bytes:
    """The same manifest with TDT 8028 left empty: the voyage comes from RFF+VON, which the mapping
    reads and intake's hint does not, so its call is known only after mapping."""
    return manifest(n).replace(b"TDT+20+0712N+", b"TDT+20++")


def status(store: Store, message_id: str) -> tuple[str, str | None]:
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT status, claimed_by FROM messages WHERE id = '{message_id}'").one()
    return row[0], row[1]


def workers(store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> tuple[Pipeline, Pipeline]:
    return tuple(Pipeline(store, catalog, lambda: partners, settings, worker=name)  # type: ignore[return-value]
                 for name in ("host:1:a", "host:2:b"))


def first_written_by(worker: Pipeline, store: Store) -> None:
    """The call's first message, written by `worker`: on PostgreSQL the call is now its own."""
    first = store.journal(manifest(1), channel="folder", partner="AML").id
    assert worker.run_once() == 1 and status(store, first)[0] == "routed"


def test_a_worker_leases_no_message_of_a_call_another_worker_owns(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    if store.engine.dialect.name == "sqlite":
        assert b.run_once() == 1 and status(store, second) == ("routed", None) and b.handed == 0
        return
    # a owns the call its hint names: b leaves the message alone, without validating it
    assert b.run_once() == 0 and status(store, second) == ("received", None) and b.handed == 0
    assert a.run_once() == 1 and status(store, second) == ("routed", None)
    assert a.cache.hits > 0  # the owner wrote the call from its cache: nobody else had changed it


def test_a_message_whose_call_only_its_mapping_names_is_handed_to_the_owner(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    second = store.journal(unhinted(2), channel="folder", partner="AML").id
    assert store.message(second).call_hint is None  # type: ignore[union-attr]
    assert b.run_once() == 1
    if store.engine.dialect.name == "sqlite":
        assert status(store, second) == ("routed", None) and b.handed == 0
        return
    # b leased it, learnt from its mapping that a owns the call, and handed it over unwritten
    assert status(store, second) == ("received", HANDED_TO + "host:1:a") and b.handed == 1
    assert b.run_once() == 0  # not b's to take
    assert a.run_once() == 1 and status(store, second) == ("routed", None)
    assert a.cache.hits > 0
    with store.transaction(write=False) as tx:  # both messages filed into one call
        calls = tx.dossiers_by(voyage="0712N", kind="vessel_call")
    assert len(calls) == 1


def test_a_worker_takes_the_calls_of_the_messages_it_leases_and_keeps_them(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    a, b = workers(store, catalog, partners, settings)
    other = manifest(2).replace(b"0712N", b"0805S")  # another voyage: another call
    ids = [store.journal(body, channel="folder", partner="AML").id for body in (manifest(1), other)]
    with store.transaction() as tx:
        assert tx.claim_messages("host:1:a", limit=1, call_hold=timedelta(seconds=10)) == ids[:1]
        assert tx.claim_messages("host:2:b", call_hold=timedelta(seconds=10)) == ids[1:]
    with store.engine.connect() as conn:
        owners = dict(conn.exec_driver_sql("SELECT call_key, worker FROM call_owners").all())
    assert owners == {"voyage|0712N": "host:1:a", "voyage|0805S": "host:2:b"}
    more = [store.journal(body, channel="folder", partner="AML").id for body in (manifest(3), other.replace(
        b"CUS2511270002", b"CUS2511270004"))]
    with store.transaction() as tx:
        assert tx.claim_messages("host:2:b", call_hold=timedelta(seconds=10)) == more[1:]
        assert tx.claim_messages("host:1:a", call_hold=timedelta(seconds=10)) == more[:1]
        # a message handed to a worker is its own, whoever holds its hint
        assert tx.hand_messages({"host:2:b": more[:1]}, "host:1:a", lease=timedelta(seconds=30)) == 1
        assert tx.claim_messages("host:2:b", call_hold=timedelta(seconds=10)) == more[:1]
    assert a.run_once() == 0 and b.run_once() == 0  # every message is leased


def test_older_messages_of_calls_another_worker_owns_do_not_hide_a_workers_own(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    with store.transaction() as tx:
        tx.own_calls(["voyage|0712N"], "host:1:a", hold=timedelta(seconds=10))
    for n in range(1, 4):
        store.journal(manifest(n), channel="folder", partner="AML")
    mine = store.journal(manifest(4).replace(b"0712N", b"0805S"), channel="folder", partner="AML").id
    with store.transaction() as tx:
        assert tx.claim_messages("host:2:b", limit=2, call_hold=timedelta(seconds=10)) == [mine]


def test_a_worker_with_too_little_to_do_takes_over_a_call_whose_messages_wait_for_its_owner(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    """Ownership is first come, so one worker could keep most calls while another idles: messages that
    waited longer than TAKE_OVER_AFTER for their call's owner let an idle worker take the call over."""
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    fresh = store.journal(manifest(2), channel="folder", partner="AML").id
    if store.engine.dialect.name == "sqlite":
        with store.transaction() as tx:
            assert tx.take_over_late_call("host:2:b", hold=timedelta(seconds=10), late=timedelta(0)) is None
        return
    assert b.run_once() == 0 and b.taken_over == 0  # a is not behind: the message came just now
    waited = store.journal(manifest(3), channel="folder", partner="AML",
                           received_at=utcnow() - 2 * TAKE_OVER_AFTER).id
    assert b.run_once() == 2 and b.taken_over == 1  # the call is b's now, and both its messages
    assert [status(store, m)[0] for m in (fresh, waited)] == ["routed", "routed"]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT worker FROM call_owners").scalar_one() == "host:2:b"
    later = store.journal(manifest(4), channel="folder", partner="AML").id
    assert a.run_once() == 0 and b.run_once() == 1 and status(store, later)[0] == "routed"
    with store.transaction(write=False) as tx:  # both workers' messages filed into one call
        assert len(tx.dossiers_by(voyage="0712N", kind="vessel_call")) == 1


def test_messages_leased_before_their_call_was_taken_over_go_to_the_new_owner(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    """Between a worker's lease and its write, another took the call over: the worker does not write
    the call beside the new owner (their batches deadlocked on the call's rows), it hands the message
    over; and before writing, it renews its hold on the calls it still has."""
    if store.engine.dialect.name != "postgresql":
        return
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    works = a._prepare_here(10, None)  # leased and validated by a
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE call_owners SET worker = 'host:2:b'")
    assert a._write(works) == 1 and a.handed == 1
    assert status(store, second) == ("received", HANDED_TO + "host:2:b")
    assert b.run_once() == 1 and status(store, second)[0] == "routed"
    third = store.journal(manifest(3), channel="folder", partner="AML").id
    works = b._prepare_here(10, None)
    with store.engine.begin() as conn:  # b's hold ran out while it validated
        conn.exec_driver_sql("UPDATE call_owners SET until = until - interval '1 hour'")
    assert b._write(works) == 1 and b.handed == 0 and status(store, third)[0] == "routed"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT worker, until > now() FROM call_owners").one() == ("host:2:b", True)


def test_a_worker_that_stops_gives_up_its_calls_at_once(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    a.stopped()  # hub serve stopping: the end of Pipeline.run
    assert b.run_once() == 1 and status(store, second)[0] == "routed" and b.taken_over == 0


def test_a_call_taken_by_another_worker_while_leasing_leaves_its_messages_to_it(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the claim's SELECT (which saw the call free) and its `own_calls`, another worker took the
    call: the message is not leased, and stays for the owner."""
    if store.engine.dialect.name != "postgresql":
        return
    message = store.journal(manifest(1), channel="folder", partner="AML").id
    own_calls = Transaction.own_calls

    def taken_meanwhile(self: Transaction, keys: list[str], worker: str, *, hold: timedelta) -> dict[str, str]:
        with store.transaction() as other:  # another connection, committed before ours goes on
            own_calls(other, keys, "host:2:b", hold=hold)
        return own_calls(self, keys, worker, hold=hold)

    monkeypatch.setattr(Transaction, "own_calls", taken_meanwhile)
    with store.transaction() as tx:
        assert tx.claim_messages("host:1:a", call_hold=timedelta(seconds=10)) == []
    monkeypatch.undo()
    assert status(store, message) == ("received", None)
    with store.transaction() as tx:
        assert tx.claim_messages("host:1:a", call_hold=timedelta(seconds=10)) == []
        assert tx.claim_messages("host:2:b", call_hold=timedelta(seconds=10)) == [message]


def test_a_call_whose_owner_stopped_writing_it_is_taken_over(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    with store.engine.begin() as conn:  # a has written nothing of it for longer than CALL_HOLD
        conn.exec_driver_sql("UPDATE call_owners SET until = until - interval '1 hour'"
                             if store.engine.dialect.name == "postgresql" else "SELECT 1")
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    assert b.run_once() == 1 and status(store, second)[0] == "routed" and b.handed == 0


def test_messages_of_an_owner_that_died_are_taken_by_another_worker(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    a, b = workers(store, catalog, partners, settings)
    first_written_by(a, store)
    left = [store.journal(manifest(n), channel="folder", partner="AML").id for n in (2, 3)]
    handed = [store.journal(unhinted(n), channel="folder", partner="AML").id for n in (4, 5)]
    assert b.run_once() == 2 and b.handed == 2
    # a dies here: its hold on the call and the hand-over leases run out
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE call_owners SET until = until - interval '1 hour'")
        conn.exec_driver_sql("UPDATE messages SET claimed_until = claimed_until - interval '1 hour'"
                             " WHERE claimed_by LIKE 'to:%%'")
    assert b.run_once() == 4
    assert [status(store, m) for m in left + handed] == [("routed", None)] * 4


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
    rate of one), so on PostgreSQL the second leaves the first's call alone, as another process would."""
    a, b = (Pipeline(store, catalog, lambda: partners, settings) for _ in range(2))
    assert a.worker != b.worker and a.worker.split(":")[:2] == b.worker.split(":")[:2]  # same host, same pid
    first_written_by(a, store)
    second = store.journal(manifest(2), channel="folder", partner="AML").id
    if store.engine.dialect.name == "sqlite":
        assert b.run_once() == 1 and status(store, second) == ("routed", None)
    else:
        assert b.run_once() == 0 and status(store, second) == ("received", None)
        assert a.run_once() == 1
