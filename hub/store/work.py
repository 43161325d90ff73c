"""Work queues in the store: message leases for the pipeline, the delivery outbox, expected acks.

Several hub processes may share one PostgreSQL database, so work is claimed, not just read: a worker
takes a lease (claimed_by, claimed_until) on rows in one short transaction, works without holding a
database lock, and writes its result only if the lease is still its own. A worker that dies leaves a
lease that expires, and another takes the row over. On PostgreSQL the claiming SELECT skips rows another
transaction is claiming at that instant (FOR UPDATE SKIP LOCKED); on SQLite the write transaction is
exclusive anyway.

Every stage that writes here is idempotent: a delivery is identified by (message, purpose, partner) and
inserted at most once, so routing a message again after a crash adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hub.store.ids import new_id
from hub.store.prepared import Prepared, chunks
from hub.store.schema import call_owners, deliveries, expected_acks, messages
from hub.store.types import utcnow

if TYPE_CHECKING:
    from hub.store.store import HeldWrites

DELIVERY_STATUSES = ("pending", "delivered", "dead")
ACK_STATUSES = ("waiting", "accepted", "rejected", "overdue")
DELIVERY_CHANNELS = frozenset({"sftp", "sftp-push", "amqp", "folder"})


@dataclass(frozen=True)
class Delivery:
    id: str
    message_id: str | None
    purpose: str
    partner: str
    channel: str
    target: dict[str, Any]
    kind: str
    filename: str
    content_type: str | None
    payload: bytes | None  # None in listings
    control_ref: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


# `claimed_by` of a message one worker leased and handed to another (`hand_messages`): the prefix, then
# the receiving worker's name.
HANDED_TO = "to:"

_DELIVERY_LIST_COLUMNS = [c for c in deliveries.c if c.name not in ("payload", "claimed_by", "claimed_until")]


def _lease_holders(for_update: bool) -> Any:
    query = (sa.select(messages.c.id, messages.c.claimed_by)
             .where(messages.c.id.in_(sa.bindparam("b_ids", expanding=True))).order_by(messages.c.id))
    return query.with_for_update() if for_update else query


# Built once: a statement built around literal values costs SQLAlchemy more than SQLite takes to run it.
_LEASE_HOLDERS = {pg: Prepared(_lease_holders(pg)) for pg in (False, True)}
_RELEASE_MANY = Prepared(messages.update().where(messages.c.id.in_(sa.bindparam("b_ids", expanding=True)))
                         .values(claimed_by=None, claimed_until=None))
_MARK_DELIVERED = {
    by_worker: Prepared(deliveries.update()
                        .where(deliveries.c.id == sa.bindparam("b_id"), deliveries.c.status == "pending",
                               *((deliveries.c.claimed_by == sa.bindparam("b_worker"),) if by_worker else ()))
                        .values(status="delivered", attempts=deliveries.c.attempts + 1, last_error=None,
                                claimed_by=None, claimed_until=None))
    for by_worker in (False, True)}
_SAME_INTERCHANGE = Prepared(sa.select(messages.c.id)
                             .where(messages.c.sender == sa.bindparam("b_sender"),
                                    messages.c.control_ref == sa.bindparam("b_ref"),
                                    messages.c.received_at >= sa.bindparam("b_since"),
                                    messages.c.id != sa.bindparam("b_not"), messages.c.duplicate_of.is_(None),
                                    messages.c.status.not_in(("failed", "duplicate")))
                             .order_by(messages.c.id).limit(1))
_INTERCHANGES_SEEN = Prepared(sa.select(messages.c.id, messages.c.sender, messages.c.control_ref,
                                        messages.c.received_at)
                              .where(messages.c.sender.in_(sa.bindparam("b_senders", expanding=True)),
                                     messages.c.control_ref.in_(sa.bindparam("b_refs", expanding=True)),
                                     messages.c.received_at >= sa.bindparam("b_since"),
                                     messages.c.duplicate_of.is_(None),
                                     messages.c.status.not_in(("failed", "duplicate"))))


def _enqueue(pg: bool) -> Any:
    return (postgresql.insert if pg else sqlite.insert)(deliveries).on_conflict_do_nothing(
        index_elements=[deliveries.c.message_id, deliveries.c.purpose, deliveries.c.partner])


_ENQUEUE = {pg: Prepared(_enqueue(pg).returning(deliveries.c.id)) for pg in (False, True)}
_ENQUEUE_MANY = {pg: Prepared(_enqueue(pg), rows_per_statement=20) for pg in (False, True)}


def _delivery(row: Any, payload: bool) -> Delivery:
    values = dict(row._mapping)
    if not payload:
        values["payload"] = None
    return Delivery(**{k: v for k, v in values.items() if k not in ("claimed_by", "claimed_until")})


class WorkMixin:
    """The work-queue part of `Transaction` (hub.store.store)."""

    _c: Connection
    _pg: bool
    _held: HeldWrites | None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit: if the block raises, only its writes are undone, and the transaction goes on."""
        with self._c.begin_nested():
            yield

    # --- pipeline leases ------------------------------------------------------------------------------

    def claim_messages(self, worker: str, *, status: str = "received", limit: int = 20,
                       lease: timedelta = timedelta(minutes=5), call_hold: timedelta | None = None) -> list[str]:
        """Lease up to `limit` messages in `status` (oldest first) whose lease is free or expired, or
        that another worker handed to this one (`hand_messages`).

        With `call_hold` (several workers on PostgreSQL), a message whose call hint (`messages.call_hint`)
        another worker owns (`own_calls`) is left to that worker, and the worker takes, or keeps for
        `call_hold`, the calls of the messages it leases: a call is then written by one worker, whose
        dossiers stay in its cache, and nobody validates a message only to hand it over. A message handed
        to this worker is taken whatever its hint."""
        now = utcnow()
        m = messages.c
        handed_here = HANDED_TO + worker
        query = (sa.select(m.id, m.call_hint, m.claimed_by)
                 .where(m.status == status,
                        sa.or_(m.claimed_until.is_(None), m.claimed_until < now, m.claimed_by == handed_here))
                 .order_by(m.received_at, m.id).limit(limit))
        by_call = self._pg and call_hold is not None
        if by_call:
            o = call_owners.c
            owned_elsewhere = sa.exists().where(o.call_key == m.call_hint, o.worker != worker, o.until >= now)
            query = query.where(sa.or_(m.call_hint.is_(None), m.claimed_by == handed_here, ~owned_elsewhere))
        if self._pg:
            query = query.with_for_update(skip_locked=True, of=messages)
        rows = self._c.execute(query).all()
        if by_call and rows:
            assert call_hold is not None
            hints = [hint for _, hint, _ in rows if hint]
            owners = self.own_calls(hints, worker, hold=call_hold) if hints else {}
            # Another worker took a call between the SELECT and own_calls: its messages stay for it.
            rows = [row for row in rows if row.claimed_by == handed_here or owners.get(row.call_hint, worker) == worker]
        ids = [row.id for row in rows]
        if ids:
            self._c.execute(messages.update().where(m.id.in_(ids))
                            .values(claimed_by=worker, claimed_until=now + lease))
        return ids

    def take_over_late_call(self, worker: str, *, hold: timedelta, late: timedelta,
                            status: str = "received") -> str | None:
        """Take over, for `hold`, the call of the oldest message that nobody leases and that has waited
        longer than `late` for the worker owning its call hint; returns its key, or None.

        Owners keep their calls while they go on writing them, so the first worker to start could keep
        most of them, and the others idle: a worker with less to do than a batch takes a call over this
        way. The owner leases no more of its messages, and hands those it leased before over when it
        comes to write them (hub.pipeline renews its calls then); a batch already being written goes
        on under the row locks. PostgreSQL only."""
        if not self._pg:
            return None
        now = utcnow()
        m, o = messages.c, call_owners.c
        oldest = (sa.select(m.call_hint).join(call_owners, o.call_key == m.call_hint)
                  .where(m.status == status, sa.or_(m.claimed_until.is_(None), m.claimed_until < now),
                         m.received_at < now - late, o.worker != worker, o.until >= now)
                  .order_by(m.received_at, m.id).limit(1).scalar_subquery())
        taken = self._c.execute(call_owners.update().where(o.call_key == oldest, o.worker != worker)
                                .values(worker=worker, until=now + hold).returning(o.call_key)).scalar()
        return str(taken) if taken is not None else None

    def own_calls(self, keys: Sequence[str], worker: str, *, hold: timedelta) -> dict[str, str]:
        """Take, or keep, the vessel calls of `keys` for `worker` for `hold` from now, where no other
        worker owns them (or its hold has run out); returns each key's owner, `worker` for those it
        now holds. PostgreSQL only; on SQLite, which one process writes, every call is the caller's."""
        wanted = sorted(set(keys))
        if not self._pg or not wanted:
            return {k: worker for k in wanted}
        now = utcnow()
        o = call_owners.c
        upsert = postgresql.insert(call_owners).values(
            [{"call_key": k, "worker": worker, "until": now + hold} for k in wanted])
        # Rows are taken in key order by every worker: two workers wanting overlapping calls do not deadlock.
        taken = upsert.on_conflict_do_update(
            index_elements=[o.call_key], set_={"worker": upsert.excluded.worker, "until": upsert.excluded.until},
            where=sa.or_(o.worker == upsert.excluded.worker, o.until < now)).returning(o.call_key)
        owners = {k: worker for k in self._c.execute(taken).scalars()}
        others = [k for k in wanted if k not in owners]
        if others:
            owners.update({k: w for k, w in self._c.execute(
                sa.select(o.call_key, o.worker).where(o.call_key.in_(others)))})
        return owners

    def release_calls(self, worker: str) -> int:
        """Give up every vessel call `worker` owns (it stops); returns how many."""
        return int(self._c.execute(call_owners.delete().where(call_owners.c.worker == worker)).rowcount or 0)

    def forget_idle_calls(self, idle: timedelta) -> int:
        """Delete the owner rows of the calls nobody has held for `idle`: `own_calls` leaves a row for
        every call ever written, which is of no use once its hold has long run out (a worker taking the
        call again makes a new one). Returns how many were deleted."""
        cutoff = utcnow() - idle
        return int(self._c.execute(call_owners.delete().where(call_owners.c.until < cutoff)).rowcount or 0)

    def hand_messages(self, to: Mapping[str, Sequence[str]], worker: str, *, lease: timedelta) -> int:
        """Pass messages `worker` leased to the workers that own their calls ({owner: message ids}):
        each owner's next `claim_messages` takes them. A hand-over is a lease of its own: if the owner
        has died, anyone takes the messages once `lease` has run out. Returns how many were handed."""
        now = utcnow()
        m = messages.c
        handed = 0
        for owner, ids in to.items():
            for chunk in chunks(list(ids)):
                handed += self._c.execute(messages.update().where(m.id.in_(chunk), m.claimed_by == worker)
                                          .values(claimed_by=HANDED_TO + owner, claimed_until=now + lease)).rowcount
        return handed

    def release_leases_of(self, host: str, alive: Callable[[int], bool]) -> int:
        """Hand back the leases held by workers of `host` whose process is gone (a crash, a SIGKILL), so
        a restarted hub takes their work over at once rather than when the leases expire. Workers are
        named host:pid:thread[.n] (hub.pipeline.worker_name, pipeline_worker_name); `alive(pid)` tells
        whether that process runs.
        Workers of other machines are left to their lease expiry: nothing here can tell they died.
        The vessel calls such workers owned (`own_calls`) are freed too; they are not counted."""

        def gone(worker: str) -> bool:
            name = worker.removeprefix(HANDED_TO)
            pid = name.split(":")[1] if name.count(":") >= 2 else ""
            return not pid.isdigit() or not alive(int(pid))

        released = 0
        for table in (messages, deliveries):
            c = table.c
            holders = self._c.execute(sa.select(c.claimed_by).where(sa.or_(
                c.claimed_by.like(f"{host}:%"), c.claimed_by.like(f"{HANDED_TO}{host}:%"))).distinct()).scalars()
            dead = [worker for worker in holders if gone(worker)]
            if dead:
                released += self._c.execute(table.update().where(c.claimed_by.in_(dead))
                                            .values(claimed_by=None, claimed_until=None)).rowcount
        o = call_owners.c
        owners = self._c.execute(sa.select(o.worker).where(o.worker.like(f"{host}:%")).distinct()).scalars()
        dead_owners = [worker for worker in owners if gone(worker)]
        if dead_owners:
            self._c.execute(call_owners.delete().where(o.worker.in_(dead_owners)))
        return released

    def holds_message(self, message_id: str, worker: str) -> bool:
        """True if `worker` still holds the lease; on PostgreSQL the row stays locked until commit, so
        the answer cannot change before this transaction ends."""
        return message_id in self.messages_held([message_id], worker)

    def release_message(self, message_id: str) -> None:
        self.release_messages([message_id])

    def messages_held(self, message_ids: Sequence[str], worker: str) -> set[str]:
        """`holds_message` for many messages at once: those whose lease `worker` still holds (on
        PostgreSQL their rows are locked, in id order, until the transaction ends)."""
        held: set[str] = set()
        for chunk in chunks(message_ids):
            rows = _LEASE_HOLDERS[self._pg].run(self._c, {"b_ids": chunk}).rows
            held.update(message_id for message_id, holder in rows if holder == worker)
        return held

    def release_messages(self, message_ids: Sequence[str]) -> None:
        for chunk in chunks(message_ids):
            _RELEASE_MANY.run(self._c, {"b_ids": chunk})

    def unfinished_messages(self) -> int:
        """Messages journalled and not yet through the pipeline."""
        return int(self._c.execute(sa.select(sa.func.count()).select_from(messages)
                                   .where(messages.c.status == "received")).scalar_one())

    def recent_messages(self, *, status: str | None = None, partner: str | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        """The journal, newest first, without bodies: what an operator lists."""
        m = messages.c
        query = sa.select(m.id, m.received_at, m.channel, m.partner, m.filename, m.size, m.sender, m.recipient,
                          m.control_ref, m.message_type, m.status, m.error, m.duplicate_of)
        if status is not None:
            query = query.where(m.status == status)
        if partner is not None:
            query = query.where(m.partner == partner)
        return [dict(r._mapping) for r in self._c.execute(query.order_by(m.received_at.desc(), m.id.desc())
                                                          .limit(limit))]

    def same_interchange(self, sender: str, control_ref: str, since: datetime, not_id: str) -> str | None:
        """The first other message from `sender` with UNB reference `control_ref` received since `since`
        and not itself a duplicate or rejected (a corrected resend of a rejected interchange may reuse
        its reference)."""
        found = _SAME_INTERCHANGE.run(self._c, {"b_sender": sender, "b_ref": control_ref, "b_since": since,
                                                "b_not": not_id}).scalar_one_or_none()
        return None if found is None else str(found)

    def interchanges_seen(self, pairs: Iterable[tuple[str, str]], since: datetime,
                          excluding: Iterable[str] = ()) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
        """`same_interchange` for many (sender, UNB reference) pairs at once: the messages received
        since `since` that such a check would find, as (id, received_at) by pair in id order, leaving
        out the messages `excluding` (a pipeline batch, which accounts for its own)."""
        wanted = set(pairs)
        left_out = set(excluding)
        out: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
        senders = sorted({sender for sender, _ in wanted})
        for refs in chunks(sorted({ref for _, ref in wanted}), 500):
            rows = _INTERCHANGES_SEEN.run(self._c, {"b_senders": senders, "b_refs": refs, "b_since": since}).rows
            for message_id, sender, ref, received_at in rows:
                if (sender, ref) in wanted and message_id not in left_out:
                    out.setdefault((sender, ref), []).append((message_id, received_at))
        for found in out.values():
            found.sort()
        return out

    # --- outbox ---------------------------------------------------------------------------------------

    def enqueue_delivery(self, *, message_id: str | None, purpose: str, partner: str, channel: str,
                         target: Mapping[str, Any], kind: str, filename: str, payload: bytes,
                         content_type: str | None = None, control_ref: str | None = None,
                         not_before: datetime | None = None) -> str | None:
        """Put a delivery in the outbox; returns its id, or None if (message, purpose, partner) is
        already there (routing run twice). Inside `writes_together` the row is written when the block
        ends, and the id returned is the one it will have: only one held by the block itself is known
        to be there already (one already in the outbox is left as it is, and the id is never used)."""
        if channel not in DELIVERY_CHANNELS:
            raise ValueError(f"unknown delivery channel {channel!r}; expected one of "
                             f"{', '.join(sorted(DELIVERY_CHANNELS))}")
        now = utcnow()
        row = {
            "id": new_id(), "message_id": message_id, "purpose": purpose, "partner": partner,
            "channel": channel, "target": dict(target), "kind": kind, "filename": filename,
            "content_type": content_type, "payload": bytes(payload), "control_ref": control_ref,
            "status": "pending", "attempts": 0, "next_attempt_at": not_before or now, "last_error": None,
            "created_at": now, "updated_at": now, "delivered_at": None, "claimed_by": None,
            "claimed_until": None}
        if self._held is not None:
            if self._held.deliveries.setdefault((message_id, purpose, partner), row) is not row:
                return None
            return str(row["id"])
        inserted = _ENQUEUE[self._pg].run(self._c, row).scalar_one_or_none()
        return None if inserted is None else str(inserted)

    def _insert_deliveries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        _ENQUEUE_MANY[self._pg].run_many(self._c, rows)

    def claim_deliveries(self, worker: str, *, limit: int = 20,
                         lease: timedelta = timedelta(minutes=2)) -> list[Delivery]:
        """Lease due pending deliveries (payload included), oldest due first."""
        now = utcnow()
        d = deliveries.c
        query = (sa.select(d.id).where(d.status == "pending", d.next_attempt_at <= now,
                                       sa.or_(d.claimed_until.is_(None), d.claimed_until < now))
                 .order_by(d.next_attempt_at, d.id).limit(limit))
        if self._pg:
            query = query.with_for_update(skip_locked=True)
        ids = list(self._c.execute(query).scalars())
        if not ids:
            return []
        self._c.execute(deliveries.update().where(d.id.in_(ids))
                        .values(claimed_by=worker, claimed_until=now + lease))
        rows = self._c.execute(sa.select(deliveries).where(d.id.in_(ids)).order_by(d.next_attempt_at, d.id))
        return [_delivery(row, payload=True) for row in rows]

    def next_delivery_due(self) -> datetime | None:
        d = deliveries.c
        return self._c.execute(sa.select(sa.func.min(d.next_attempt_at))
                               .where(d.status == "pending")).scalar_one_or_none()

    def mark_delivered(self, delivery_id: str, worker: str | None = None) -> bool:
        now = utcnow()
        params: dict[str, Any] = {"b_id": delivery_id, "delivered_at": now, "updated_at": now}
        if worker is not None:
            params["b_worker"] = worker
        return _MARK_DELIVERED[worker is not None].run(self._c, params).rowcount > 0

    def mark_attempt_failed(self, delivery_id: str, error: str, *, retry_at: datetime | None) -> None:
        """Record a failed attempt: retry at `retry_at`, or dead-letter it (retry_at None)."""
        now = utcnow()
        d = deliveries.c
        values: dict[str, Any] = {"attempts": d.attempts + 1, "last_error": error, "updated_at": now,
                                  "claimed_by": None, "claimed_until": None}
        if retry_at is None:
            values["status"] = "dead"
        else:
            values["next_attempt_at"] = retry_at
        self._c.execute(deliveries.update().where(d.id == delivery_id, d.status == "pending").values(**values))

    def deliveries(self, *, status: str | None = None, partner: str | None = None,
                   message_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """The outbox, newest first, without payloads."""
        d = deliveries.c
        query = sa.select(*_DELIVERY_LIST_COLUMNS, sa.null().label("payload"))
        if status is not None:
            if status not in DELIVERY_STATUSES:
                raise ValueError(f"unknown delivery status {status!r}; expected one of "
                                 f"{', '.join(DELIVERY_STATUSES)}")
            query = query.where(d.status == status)
        if partner is not None:
            query = query.where(d.partner == partner)
        if message_id is not None:
            query = query.where(d.message_id == message_id)
        query = query.order_by(d.created_at.desc(), d.id.desc()).limit(limit)
        return [_delivery(row, payload=False) for row in self._c.execute(query)]

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self._c.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
        return None if row is None else _delivery(row, payload=True)

    def requeue_delivery(self, delivery_id: str, *, from_statuses: Sequence[str], note: str) -> bool:
        """Make a delivery due now with a fresh retry budget (its age counts from now): `retry` for a
        pending one, `replay` for a dead or delivered one."""
        now = utcnow()
        d = deliveries.c
        return self._c.execute(deliveries.update()
                               .where(d.id == delivery_id, d.status.in_(list(from_statuses)))
                               .values(status="pending", next_attempt_at=now, created_at=now, updated_at=now,
                                       last_error=note, claimed_by=None, claimed_until=None)).rowcount > 0

    def outbox_counts(self) -> dict[str, int]:
        d = deliveries.c
        out = dict.fromkeys(DELIVERY_STATUSES, 0)
        for status, n in self._c.execute(sa.select(d.status, sa.func.count()).group_by(d.status)):
            out[status] = int(n)
        return out

    # --- expected acknowledgements -------------------------------------------------------------------

    def expect_ack(self, *, delivery_id: str, partner: str, control_ref: str, message_refs: Sequence[str],
                   deadline: datetime) -> None:
        now = utcnow()
        insert = postgresql.insert if self._pg else sqlite.insert
        self._c.execute(insert(expected_acks).on_conflict_do_nothing(
            index_elements=[expected_acks.c.partner, expected_acks.c.control_ref]), {
            "id": new_id(), "delivery_id": delivery_id, "partner": partner, "control_ref": control_ref,
            "message_refs": list(message_refs), "deadline": deadline, "status": "waiting",
            "ack_message_id": None, "detail": None, "created_at": now, "updated_at": now})

    def match_ack(self, *, partner: str, control_ref: str, accepted: bool, ack_message_id: str,
                  detail: Mapping[str, Any] | None = None, application: bool = False) -> bool:
        """Record the acknowledgement of an interchange the hub sent; False if none was expected. A late
        acknowledgement of an overdue one still counts (it stays visible as having been late).

        `application`: the answer is an APERAK, the receiver's application's verdict, which a CONTRL
        (syntax only) arriving after it does not overturn: a rejected APERAK stays the status, and the
        CONTRL is kept in the detail."""
        e = expected_acks.c
        row = self._c.execute(sa.select(e.id, e.status, e.detail, e.ack_message_id)
                              .where(e.partner == partner, e.control_ref == control_ref)).one_or_none()
        if row is None:
            return False
        before = dict(row.detail or {})
        info = dict(detail or {})
        if row.status == "overdue" or before.get("late"):
            info["late"] = True
        status = "accepted" if accepted else "rejected"
        answered_by = ack_message_id
        if application:
            if "contrl" in before:  # a CONTRL kept from after an earlier APERAK
                info.setdefault("contrl", before["contrl"])
            info["application"] = status
        elif "application" in before:  # a CONTRL after the APERAK: keep the application's verdict
            info = {**before, **({"late": True} if info.get("late") else {}),
                    "contrl": {"accepted": accepted, "message_id": ack_message_id, **(detail or {})}}
            status, answered_by = row.status, row.ack_message_id
        self._c.execute(expected_acks.update().where(e.id == row.id).values(
            status=status, ack_message_id=answered_by, detail=info or None, updated_at=utcnow()))
        return True

    def mark_overdue_acks(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Flag the waiting acknowledgements past their deadline; returns them."""
        now = now or utcnow()
        e = expected_acks.c
        rows = [dict(r._mapping) for r in self._c.execute(
            sa.select(expected_acks).where(e.status == "waiting", e.deadline < now))]
        if rows:
            self._c.execute(expected_acks.update().where(e.id.in_([r["id"] for r in rows]))
                            .values(status="overdue", updated_at=now))
        return rows

    def expected_acks(self, *, status: str | None = None, partner: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        e = expected_acks.c
        query = sa.select(expected_acks)
        if status is not None:
            query = query.where(e.status == status)
        if partner is not None:
            query = query.where(e.partner == partner)
        return [dict(r._mapping) for r in self._c.execute(query.order_by(e.created_at.desc()).limit(limit))]
