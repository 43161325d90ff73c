"""The message journal, pipeline status, reports, on both backends."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.exc import StatementError

from hub.store import STATUSES, NotFound, Received, Store

BAPLIE = b"UNB+UNOA:2+MAEU+TMPORT+251127:0815+BAP0001'UNH+1+BAPLIE:D:95B:UN:SMDG22'UNT+2+1'UNZ+1+BAP0001'"


def test_journal_records_bytes_and_metadata(store: Store) -> None:
    when = datetime(2025, 11, 27, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    entry = store.journal(BAPLIE, channel="sftp", partner="MAEU", filename="in/baplie.edi", received_at=when,
                          meta={"syntax": "edifact", "sender": "MAEU", "recipient": "TMPORT",
                                "control_ref": "BAP0001", "message_refs": ["1"], "message_types": ["BAPLIE"],
                                "sftp_user": "maeu"})
    assert entry.sha256 == hashlib.sha256(BAPLIE).hexdigest()
    assert entry.size == len(BAPLIE)
    assert entry.duplicate_of is None
    assert len(entry.id) == 26

    m = store.message(entry.id)
    assert m is not None
    assert m.raw == BAPLIE
    assert (m.channel, m.partner, m.filename) == ("sftp", "MAEU", "in/baplie.edi")
    assert m.received_at == when and m.received_at.tzinfo == UTC  # kept as the same instant, in UTC
    assert (m.syntax, m.sender, m.recipient, m.control_ref) == ("edifact", "MAEU", "TMPORT", "BAP0001")
    assert m.message_type == "BAPLIE"  # from message_types when not given
    assert m.message_types == ["BAPLIE"] and m.message_refs == ["1"]
    assert m.meta == {"sftp_user": "maeu"}  # keys without a column of their own
    assert (m.status, m.error) == ("received", None)
    assert store.message("01NOSUCHMESSAGE000000000000") is None


def test_journal_defaults(store: Store) -> None:
    before = datetime.now(UTC)
    entry = store.journal(b"<x/>", channel="http")
    m = store.message(entry.id)
    assert m is not None
    assert before <= m.received_at <= datetime.now(UTC)
    assert m.partner is m.filename is m.syntax is m.message_types is m.meta is None


def test_journal_refuses_unknown_channel_and_naive_time(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        store.journal(b"x", channel="fax")
    with pytest.raises(StatementError, match="naive datetime"):
        store.journal(b"x", channel="cli", received_at=datetime(2025, 1, 1))
    assert store.counts()["messages"] == 0


def test_duplicates_are_recorded_and_flagged(store: Store) -> None:
    first = store.journal(BAPLIE, channel="sftp", partner="MAEU")
    other = store.journal(BAPLIE + b"\n", channel="sftp", partner="MAEU")
    second = store.journal(BAPLIE, channel="amqp", partner="MAEU")
    third = store.journal(BAPLIE, channel="sftp", partner="MAEU")
    assert other.duplicate_of is None
    assert second.duplicate_of == first.id
    assert third.duplicate_of == first.id  # always the original, not the previous copy
    assert len({first.id, second.id, third.id}) == 3
    m = store.message(second.id)
    assert m is not None and m.duplicate_of == first.id and m.raw == BAPLIE and m.channel == "amqp"
    counts = store.counts()
    assert counts["messages"] == 4 and counts["message_bodies"] == 4 and counts["messages_duplicate"] == 2


def test_journal_many_records_each_and_flags_duplicates_in_the_batch_and_in_the_store(store: Store) -> None:
    before = store.journal(BAPLIE, channel="sftp", partner="MAEU")
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    with store.transaction() as tx:
        entries = tx.journal_many([
            Received(b"UNA:+.? 'one", "amqp", "P1", "a.edi", at, {"queue": "q1", "sender": "S1"}),
            Received(b"two", "amqp", None, None, None, None),
            Received(BAPLIE, "amqp", "MAEU"),
            Received(b"UNA:+.? 'one", "amqp", "P1"),
            Received(b"two", "folder", sha256=hashlib.sha256(b"two").hexdigest()),
        ])
        assert tx.journal_many([]) == []
    assert [e.duplicate_of for e in entries] == [None, None, before.id, entries[0].id, entries[1].id]
    assert len({e.id for e in entries}) == 5 and [e.id for e in entries] == sorted(e.id for e in entries)
    first = store.message(entries[0].id)
    assert first is not None and (first.raw, first.partner, first.filename, first.received_at) == (
        b"UNA:+.? 'one", "P1", "a.edi", at)
    assert (first.sender, first.meta, first.status) == ("S1", {"queue": "q1"}, "received")
    assert entries[4].sha256 == hashlib.sha256(b"two").hexdigest() and entries[4].size == 3
    with pytest.raises(ValueError, match="unknown channel 'fax'"), store.transaction() as tx:
        tx.journal_many([Received(b"x", "amqp"), Received(b"y", "fax")])
    assert store.counts()["messages"] == 6


def test_concurrent_journal_of_the_same_bytes_has_one_original(store: Store) -> None:
    workers = 8
    barrier = threading.Barrier(workers)
    entries = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        entry = store.journal(BAPLIE, channel="amqp")
        with lock:
            entries.append(entry)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    originals = [e for e in entries if e.duplicate_of is None]
    assert len(entries) == workers and len(originals) == 1
    assert all(e.duplicate_of == originals[0].id for e in entries if e is not originals[0])


def test_large_message_round_trip(store: Store) -> None:
    raw = os.urandom(10 * 1024 * 1024)  # incompressible, every byte value
    entry = store.journal(raw, channel="sftp", filename="big-baplie.edi")
    assert entry.size == len(raw)
    m = store.message(entry.id)
    assert m is not None and m.raw == raw and m.size == len(raw)
    assert m.sha256 == hashlib.sha256(raw).hexdigest()
    store.set_status(entry.id, "validated")  # the status lives apart from the body
    assert store.messages_in_status("validated")[0].raw is None


def test_set_status_and_error(store: Store) -> None:
    entry = store.journal(BAPLIE, channel="folder")
    store.set_status(entry.id, "failed", "mapping BAPLIE-SMDG22: no vessel in TDT")
    m = store.message(entry.id, raw=False)
    assert m is not None and m.raw is None
    assert (m.status, m.error) == ("failed", "mapping BAPLIE-SMDG22: no vessel in TDT")
    assert m.status_at >= m.received_at
    store.set_status(entry.id, "validated")
    m = store.message(entry.id)
    assert m is not None and (m.status, m.error) == ("validated", None)
    with pytest.raises(ValueError, match="unknown message status 'done'"):
        store.set_status(entry.id, "done")
    with pytest.raises(NotFound):
        store.set_status("01NOSUCHMESSAGE000000000000", "validated")


def test_set_meta_fills_envelope_and_merges_extra(store: Store) -> None:
    entry = store.journal(BAPLIE, channel="amqp", meta={"amqp_message_id": "a1"})
    store.set_meta(entry.id, {"syntax": "edifact", "control_ref": "BAP0001", "message_types": ["BAPLIE"],
                              "directory": "D95B"})
    m = store.message(entry.id)
    assert m is not None
    assert (m.syntax, m.control_ref, m.message_type) == ("edifact", "BAP0001", "BAPLIE")
    assert m.meta == {"amqp_message_id": "a1", "directory": "D95B"}
    with pytest.raises(NotFound):
        store.set_meta("01NOSUCHMESSAGE000000000000", {"syntax": "xml"})
    # the pipeline passes the meta it leased the message with: merged with that, nothing read again
    with store.transaction() as tx:
        tx.set_meta(entry.id, {"guide": "SMDG22"}, current={"amqp_message_id": "a1"})
    m = store.message(entry.id)
    assert m is not None and m.meta == {"amqp_message_id": "a1", "guide": "SMDG22"}


def test_reports_are_replaced_not_added(store: Store) -> None:
    entry = store.journal(BAPLIE, channel="sftp")
    assert store.report(entry.id) is None
    first = {"syntax": "edifact", "accepted": False, "issues": [{"code": "too-long", "segment": 12}]}
    store.save_report(entry.id, first, accepted=False)
    assert store.report(entry.id) == (first, False)
    second = {"syntax": "edifact", "accepted": True, "issues": [], "note": "Tanger Méditerranée"}
    store.save_report(entry.id, second, accepted=True)
    assert store.report(entry.id) == (second, True)
    assert store.counts()["reports"] == 1


def test_messages_in_status_oldest_first_without_bodies(store: Store) -> None:
    base = datetime(2025, 11, 27, 8, 0, tzinfo=UTC)
    ids = [store.journal(f"msg {i}".encode(), channel="sftp", received_at=base + timedelta(minutes=10 - i)).id
           for i in range(5)]
    store.set_status(ids[2], "validated")
    received = store.messages_in_status("received", limit=10)
    assert [m.id for m in received] == [ids[4], ids[3], ids[1], ids[0]]
    assert all(m.raw is None for m in received)
    assert [m.id for m in store.messages_in_status("received", limit=2)] == [ids[4], ids[3]]
    assert [m.id for m in store.messages_in_status("validated")] == [ids[2]]
    assert store.messages_in_status("failed") == []
    with pytest.raises(ValueError):
        store.messages_in_status("parked")


def test_claiming_work_with_skip_locked(store: Store) -> None:
    if store.backend != "postgresql":
        pytest.skip("SKIP LOCKED is for several processes on PostgreSQL; SQLite writers are exclusive")
    ids = [store.journal(f"msg {i}".encode(), channel="sftp").id for i in range(4)]
    with store.transaction() as a, store.transaction() as b:
        claimed_a = [m.id for m in a.messages_in_status("received", 2, skip_locked=True)]
        claimed_b = [m.id for m in b.messages_in_status("received", 10, skip_locked=True)]
    assert claimed_a == ids[:2]
    assert claimed_b == ids[2:]


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        entry = tx.journal(BAPLIE, channel="sftp")
        tx.set_status(entry.id, "validated")
        raise RuntimeError("crash before commit")
    assert store.counts()["messages"] == 0 and store.counts()["message_bodies"] == 0


def test_counts(store: Store) -> None:
    a = store.journal(b"a", channel="cli")
    store.journal(b"b", channel="cli")
    store.journal(b"a", channel="cli")
    store.set_status(a.id, "correlated")
    counts = store.counts()
    assert counts["messages"] == 3
    assert {s: counts[f"messages_{s}"] for s in STATUSES} == {
        "received": 2, "validated": 0, "mapped": 0, "correlated": 1, "routed": 0, "failed": 0, "duplicate": 1}
    assert counts["messages_duplicate"] == 1
    assert {"reports", "dossiers", "correlation_keys", "events", "discrepancies"} <= counts.keys()


def test_writes_held_together_are_written_at_the_end_of_the_block_and_not_if_it_raises(store: Store) -> None:
    ids = [store.journal(f"message {n}".encode(), channel="cli").id for n in range(3)]
    outbox: dict[str, Any] = {"partner": "P", "channel": "folder", "target": {"dir": "/tmp/x"}, "kind": "original",
              "filename": "f.edi", "payload": b"x"}
    with store.transaction() as tx:
        with tx.writes_together():
            tx.save_report(ids[0], {"n": 1}, accepted=False)
            tx.save_report(ids[1], {"n": 2}, accepted=True)
            tx.save_report(ids[0], {"n": 3}, accepted=True)  # the later report of a message replaces it
            tx.set_meta(ids[0], {"sender": "AMLCAS", "control_ref": "R1", "queue": "q"}, current={"a": 1})
            tx.set_status(ids[0], "routed", "why")
            tx.set_meta(ids[0], {"recipient": "HUB", "more": 2})  # merged with what the block holds
            tx.set_status(ids[1], "failed")
            first = tx.enqueue_delivery(message_id=ids[0], purpose="contrl", **outbox)
            assert first is not None
            assert tx.enqueue_delivery(message_id=ids[0], purpose="contrl", **outbox) is None  # held already
            assert tx.report(ids[0]) is None  # held, not yet written
            assert tx.message(ids[0], raw=False).status == "received"  # type: ignore[union-attr]
            assert tx.deliveries(message_id=ids[0]) == []
        assert tx.report(ids[0]) == ({"n": 3}, True) and tx.report(ids[1]) == ({"n": 2}, True)
        m0, m1 = tx.message(ids[0], raw=False), tx.message(ids[1], raw=False)
        assert m0 is not None and m1 is not None
        assert (m0.status, m0.error, m0.sender, m0.control_ref) == ("routed", "why", "AMLCAS", "R1")
        assert m0.recipient == "HUB"
        assert m0.meta == {"a": 1, "queue": "q", "more": 2}
        assert (m1.status, m1.sender) == ("failed", None)
        assert [d.id for d in tx.deliveries(message_id=ids[0])] == [first]
        tx.save_report(ids[2], {"n": 4}, accepted=True)  # outside the block: at once
        assert tx.report(ids[2]) == ({"n": 4}, True)
        # Routed again in a later block: the outbox keeps the delivery it has.
        with tx.writes_together():
            tx.enqueue_delivery(message_id=ids[0], purpose="contrl", **outbox)
        assert [d.id for d in tx.deliveries(message_id=ids[0])] == [first]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        with tx.writes_together():
            tx.save_report(ids[1], {"n": 5}, accepted=False)
            tx.set_status(ids[1], "routed")
            tx.enqueue_delivery(message_id=ids[1], purpose="contrl", **outbox)
            raise RuntimeError("the batch failed")
    assert store.report(ids[1]) == ({"n": 2}, True)
    assert store.message(ids[1], raw=False).status == "failed"  # type: ignore[union-attr]
    with store.transaction(write=False) as tx:
        assert tx.deliveries(message_id=ids[1]) == []


def test_a_held_write_to_a_message_that_is_not_there_fails_the_block(store: Store) -> None:
    with pytest.raises(NotFound, match="no message 01NOTTHERE"), store.transaction() as tx:
        with tx.writes_together():
            tx.set_status("01NOTTHERE", "routed")


def test_interchanges_seen_answers_same_interchange_for_many_pairs(store: Store) -> None:
    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    old, a, b, failed, c = (store.journal(f"m{n}".encode(), channel="cli", received_at=start + timedelta(minutes=n)).id
                            for n in range(5))
    with store.transaction() as tx:
        for message_id, sender, ref in ((old, "S1", "R1"), (a, "S1", "R1"), (b, "S2", "R1"),
                                        (failed, "S1", "R2"), (c, "S1", "R3")):
            tx.set_meta(message_id, {"sender": sender, "control_ref": ref})
        tx.set_status(failed, "failed")
    with store.transaction() as tx:
        at = {message_id: start + timedelta(minutes=n) for n, message_id in enumerate((old, a, b, failed, c))}
        seen = tx.interchanges_seen([("S1", "R1"), ("S2", "R1"), ("S1", "R2"), ("S2", "R9")], at[a],
                                    excluding=[b])
        assert seen == {("S1", "R1"): [(a, at[a])]}  # old is before the window, b left out, failed not counted
        for sender, ref in (("S1", "R1"), ("S1", "R3")):
            expected = tx.same_interchange(sender, ref, at[old], "none")
            found = tx.interchanges_seen([(sender, ref)], at[old]).get((sender, ref), [])
            assert (found[0][0] if found else None) == expected
