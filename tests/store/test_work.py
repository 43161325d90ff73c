"""The store's work queues: message leases, the outbox, expected acknowledgements (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hub.store import Store
from hub.store.schema import deliveries
from hub.store.types import utcnow


def test_a_message_is_leased_to_one_worker_until_the_lease_expires(store: Store) -> None:
    first = store.journal(b"one", channel="cli")
    second = store.journal(b"two", channel="cli")
    with store.transaction() as tx:
        assert tx.claim_messages("w1", limit=1) == [first.id]
    with store.transaction() as tx:
        assert tx.claim_messages("w2", limit=5) == [second.id]  # the first is w1's
        assert tx.holds_message(first.id, "w1") and not tx.holds_message(first.id, "w2")
    with store.transaction() as tx:
        assert tx.claim_messages("w3", limit=5, lease=timedelta(0)) == []
    # An expired lease (a crashed worker) is taken over.
    with store.transaction() as tx:
        tx.claim_messages("w4", limit=5)  # nothing free
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET claimed_until = NULL")
    with store.transaction() as tx:
        assert sorted(tx.claim_messages("w5", limit=5)) == sorted([first.id, second.id])
        tx.set_status(first.id, "routed")
        tx.release_message(first.id)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET claimed_until = NULL")
    with store.transaction() as tx:
        assert tx.claim_messages("w6") == [second.id]  # routed messages are not work


def test_leases_checked_and_released_many_at_once_and_messages_loaded_in_the_order_asked(store: Store) -> None:
    one, two, three = (store.journal(body, channel="cli") for body in (b"one", b"two", b"three"))
    with store.transaction() as tx:
        assert sorted(tx.claim_messages("w1", limit=2)) == sorted([one.id, two.id])
        assert tx.claim_messages("w2", limit=5) == [three.id]
    with store.transaction() as tx:
        assert tx.messages_held([three.id, one.id, two.id, "nope"], "w1") == {one.id, two.id}
        tx.release_messages([one.id])
        assert tx.messages_held([one.id, two.id, three.id], "w1") == {two.id}
        loaded = tx.messages_by_id([three.id, "nope", one.id])
        assert [m.raw if m else None for m in loaded] == [b"three", None, b"one"]
        assert [m.raw for m in tx.messages_by_id([two.id], raw=False) if m] == [None]
        assert tx.claim_messages("w3", limit=5) == [one.id]  # released: free again


def _enqueue(store: Store, message_id: str | None, purpose: str = "contrl") -> str | None:
    with store.transaction() as tx:
        return tx.enqueue_delivery(message_id=message_id, purpose=purpose, partner="MAEU", channel="sftp",
                                   target={"box": "ack"}, kind="contrl", filename="a.edi", payload=b"UNB+...",
                                   control_ref="H1")


def test_a_delivery_is_enqueued_once_per_message_purpose_and_partner(store: Store) -> None:
    m = store.journal(b"x", channel="cli")
    assert _enqueue(store, m.id) is not None
    assert _enqueue(store, m.id) is None  # routing the message again adds nothing
    assert _enqueue(store, m.id, "route:1:original") is not None
    with store.transaction(write=False) as tx:
        assert tx.outbox_counts() == {"pending": 2, "delivered": 0, "dead": 0}


def test_delivery_attempts_retry_then_dead_letter_then_replay(store: Store) -> None:
    m = store.journal(b"x", channel="cli")
    delivery_id = _enqueue(store, m.id)
    assert delivery_id
    with store.transaction() as tx:
        [claimed] = tx.claim_deliveries("w1")
        assert claimed.payload == b"UNB+..." and claimed.target == {"box": "ack"}
        assert tx.claim_deliveries("w2") == []  # leased
        tx.mark_attempt_failed(delivery_id, "connection refused", retry_at=utcnow() + timedelta(hours=1))
    with store.transaction() as tx:
        assert tx.claim_deliveries("w1") == []  # not due yet
        d = tx.delivery(delivery_id)
        assert d and d.attempts == 1 and d.status == "pending" and d.last_error == "connection refused"
        tx.mark_attempt_failed(delivery_id, "older than the retry budget", retry_at=None)
    with store.transaction() as tx:
        [dead] = tx.deliveries(status="dead")
        assert dead.id == delivery_id and dead.payload is None and dead.attempts == 2
        assert tx.requeue_delivery(delivery_id, from_statuses=["dead"], note="replayed")
        [again] = tx.claim_deliveries("w1")
        assert not tx.mark_delivered(again.id, "w2")  # not w2's lease
        assert tx.mark_delivered(again.id, "w1")
        assert not tx.mark_delivered(again.id, "w1")  # only once
        done = tx.delivery(delivery_id)
        assert done and done.status == "delivered" and done.attempts == again.attempts + 1
        assert done.last_error is None and done.delivered_at is not None
        claimed = tx._c.execute(sa.select(deliveries.c.claimed_by, deliveries.c.claimed_until)
                                .where(deliveries.c.id == delivery_id)).one()
        assert tuple(claimed) == (None, None)
    with store.transaction(write=False) as tx:
        assert tx.outbox_counts() == {"pending": 0, "delivered": 1, "dead": 0}


def test_an_expected_ack_is_matched_or_becomes_overdue(store: Store) -> None:
    m = store.journal(b"x", channel="cli")
    ack = store.journal(b"contrl", channel="cli")
    first, second = _enqueue(store, m.id, "a"), _enqueue(store, m.id, "b")
    assert first and second
    now = utcnow()
    with store.transaction() as tx:
        tx.expect_ack(delivery_id=first, partner="MAEU", control_ref="R1", message_refs=["1"],
                      deadline=now + timedelta(hours=1))
        tx.expect_ack(delivery_id=second, partner="MAEU", control_ref="R2", message_refs=["1"],
                      deadline=now - timedelta(minutes=1))
        assert [a["control_ref"] for a in tx.mark_overdue_acks()] == ["R2"]
        assert tx.match_ack(partner="MAEU", control_ref="R1", accepted=True, ack_message_id=ack.id)
        assert tx.match_ack(partner="MAEU", control_ref="R2", accepted=False, ack_message_id=ack.id)
        assert not tx.match_ack(partner="OTHER", control_ref="R1", accepted=True, ack_message_id=ack.id)
        by_ref = {a["control_ref"]: a for a in tx.expected_acks()}
    assert by_ref["R1"]["status"] == "accepted"
    assert by_ref["R2"]["status"] == "rejected" and by_ref["R2"]["detail"] == {"late": True}


def test_unknown_delivery_channel_is_refused(store: Store) -> None:
    with store.transaction() as tx, pytest.raises(ValueError, match="unknown delivery channel"):
        tx.enqueue_delivery(message_id=None, purpose="p", partner="X", channel="fax", target={}, kind="json",
                            filename="f", payload=b"")


def test_leases_of_dead_workers_of_this_host_are_handed_back(store: Store) -> None:
    first = store.journal(b"one", channel="cli")
    second = store.journal(b"two", channel="cli")
    with store.transaction() as tx:
        tx.claim_messages("hostA:111:1", limit=1)
        tx.claim_messages("hostB:222:1", limit=1)
    with store.transaction() as tx:
        # pid 111 is gone; hostB is another machine, whose workers cannot be checked from here
        assert tx.release_leases_of("hostA", alive=lambda pid: False) == 1
        assert tx.claim_messages("hostA:333:1") == [first.id]
        assert not tx.holds_message(second.id, "hostA:333:1")
        assert tx.release_leases_of("hostA", alive=lambda pid: True) == 0
