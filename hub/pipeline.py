"""The pipeline: what happens to a journalled message, from validation to the outbox.

Intake (SFTP, AMQP, folder) only journals: it commits the raw bytes and returns, and the transport is
acknowledged. Everything after is done here, by workers that lease journalled messages (status
`received`) from the store, so a message interrupted by a crash is simply leased again at start-up,
by this process or another one sharing the database:

    dedupe -> validate -> acknowledge (CONTRL / XML ack) -> map -> correlate -> route (APERAK on failure)

The result of a message (report, dossier changes, acknowledgements and routed deliveries in the
outbox, the final status) is written in ONE transaction, and only if this worker still holds the
lease. Every write is idempotent (correlation knows a message by its content, a delivery by
(message, purpose, partner)), so even a message processed twice by a worker whose lease expired
changes nothing the second time.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hub.affinity import call_owner_keys
from hub.catalog import Catalog
from hub.dossier.correlate import Outcome, call_keys, prefetch_keys
from hub.edifact.validator import Options
from hub.ingest import DossierCache, StoreRepository, correlate_mapped, heap_freezer
from hub.mapping.run import MessageMapping
from hub.preparation import Failed, PendingBatch, Preparation, ProcessPreparer, prepare
from hub.report import Code, InterchangeReport, Issue, Report
from hub.store import ConcurrentUpdate, Store, StoredMessage
from hub.store.store import JournalEntry, Transaction
from hub.store.types import utcnow

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.partners import Partner, Partners

log = logging.getLogger("hub.pipeline")

ACK_TYPES = frozenset({"CONTRL", "APERAK"})
HUB_ID = "PORTNETHUB"  # the hub's own UNB identifier when hub.toml names none


@dataclass
class Processed:
    """What the pipeline did with one message."""

    message_id: str
    status: str  # routed, failed, duplicate
    partner: str | None = None
    reason: str | None = None
    deliveries: list[str] = field(default_factory=list)
    dossiers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """A delivery to put in the outbox, decided before the transaction."""

    purpose: str
    partner: str
    channel: str
    target: dict[str, Any]
    kind: str
    filename: str
    payload: bytes
    content_type: str | None = None
    control_ref: str | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


_pipeline_numbers = itertools.count(1)


def pipeline_worker_name() -> str:
    """A name of its own for each pipeline worker of the process. `hub serve` makes its workers in one
    thread, where `worker_name()` gave them all the same name: on PostgreSQL they then owned the same
    vessel calls, wrote each other's dossiers and read them back (cache misses, row locks), and two
    workers did less than half the work of one."""
    return f"{worker_name()}.{next(_pipeline_numbers)}"


def work_loop(cycle: Callable[[], int], stop: threading.Event, wake: threading.Event, what: str,
              idle_wait: float = 0.5) -> None:
    """Run `cycle` (returns how much it did) until `stop` is set: at once again while there is work,
    else after `wake` is set or `idle_wait` passes; a failing cycle is logged and retried a second later."""
    while not stop.is_set():
        try:
            n = cycle()
        except Exception:
            log.exception("%s cycle failed; retrying", what)
            n = 0
            stop.wait(1.0)
        if n == 0:
            wake.wait(idle_wait)
            wake.clear()


def _process_alive(pid: int) -> bool:
    """Whether a process runs with that pid; this process counts as not alive, since a restarted hub
    may get the pid of the one it replaces and has claimed nothing yet when it asks."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def release_dead_leases(store: Store) -> int:
    """At start-up: take back what crashed hub processes of this machine held (see
    Transaction.release_leases_of); returns how many leases were released."""
    with store.transaction() as tx:
        released = tx.release_leases_of(socket.gethostname(), _process_alive)
    if released:
        log.warning("took back %d leases of hub processes of this machine that are gone", released)
    return released


def _control_ref(message_id: str, salt: str) -> str:
    """A UNB 0020 for something the hub sends about a message: 14 characters derived from the message
    id and a salt, so re-running the stage gives the same reference."""
    import hashlib

    digest = hashlib.sha256(f"{message_id}:{salt}".encode()).hexdigest().upper()
    return "H" + digest[:13]


class Pipeline:
    """Leases journalled messages and processes them. One instance per worker thread: it keeps the
    dossiers it wrote (`cache`) for the next messages of the same calls and consignments."""

    def __init__(self, store: Store, catalog: Catalog, partners: Callable[[], Partners], settings: Settings,
                 *, worker: str | None = None, router: Callable[..., list[_Plan]] | None = None,
                 notify: Sequence[threading.Event] = (), preparer: ProcessPreparer | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.partners = partners
        self.settings = settings
        self.worker = worker or pipeline_worker_name()
        self.wake = threading.Event()
        self.notify = list(notify)  # set when a message put deliveries in the outbox
        self.cache = DossierCache()
        self.preparer = preparer  # None: validation and mapping in this thread
        self._ahead: _Ahead | None = None  # leased and handed to the preparer, to be written next
        # Several processes on PostgreSQL: each vessel call is written by the worker that owns it.
        self.shares_calls = store.engine.dialect.name == "postgresql"
        self.handed = 0  # messages handed to the owner of their call
        self.taken_over = 0  # calls taken over from a worker that was behind
        self.processed = 0  # messages this worker wrote the result of
        from hub.routing.rules import route

        self._route = router or route

    # --- the worker loop ------------------------------------------------------------------------------

    def run_once(self, limit: int | None = None, stop: threading.Event | None = None) -> int:
        """Lease up to `limit` messages (`[pipeline] batch` when None) and process them; returns how many
        were processed. When `stop` is set midway, the leases of the messages not yet begun are handed
        back at once, so another process (or the next start) need not wait for them to expire.

        The leased messages are validated and mapped one after the other, then written in ONE
        transaction (a commit and a dozen statements a message less). If anything fails in that
        transaction, nothing of it is written and each message is processed again on its own, so that
        one message's trouble is that message's alone.

        With helper processes (`preparer`), validation and mapping happen there: the next batch is
        leased and handed over before this one is written, so that the two overlap."""
        limit = limit or self.settings.pipeline_batch
        if self.preparer is None:
            works = self._prepare_here(limit, stop)
        else:
            batch, self._ahead = self._ahead or self._hand_over(limit), None
            if batch is None:
                return 0
            works = self._adopt(batch)
            if stop is None or not stop.is_set():
                self._ahead = self._hand_over(limit)
        if not works:
            return 0
        try:
            return self._write(works)
        finally:
            heap_freezer.settle()  # what the batch left in the cache: out of the collector's scans

    def _lease_batch(self, limit: int) -> list[_Work]:
        hold = CALL_HOLD if self.shares_calls else None
        with self.store.transaction() as tx:
            ids = tx.claim_messages(self.worker, limit=limit, lease=self._lease(), call_hold=hold)
            if hold is not None and len(ids) < limit:
                call = tx.take_over_late_call(self.worker, hold=hold, late=TAKE_OVER_AFTER)
                if call is not None:
                    self.taken_over += 1
                    log.info("took over vessel call %s, whose messages waited for its owner", call)
                    ids += tx.claim_messages(self.worker, limit=limit - len(ids), lease=self._lease(), call_hold=hold)
        if not ids:
            return []
        with self.store.transaction(write=False) as tx:
            stored = tx.messages_by_id(ids)
        partners = self.partners()
        return [_Work(self, msg, partners) for msg in stored if msg is not None and msg.raw is not None]

    def _prepare_here(self, limit: int, stop: threading.Event | None) -> list[_Work]:
        works = self._lease_batch(limit)
        for n, work in enumerate(works):
            if stop is not None and stop.is_set():
                self._hand_back([w.msg.id for w in works[n:]])
                return works[:n]
            try:
                work.prepare()
            except Exception:  # left to process(), which reports it
                work.failed = True
        return works

    def _hand_over(self, limit: int) -> _Ahead | None:
        works = self._lease_batch(limit)
        if not works:
            return None
        assert self.preparer is not None
        return _Ahead(works, self.preparer.submit([(w.raw, w.validator_options()) for w in works]))

    def _adopt(self, batch: _Ahead) -> list[_Work]:
        for work, prepared in zip(batch.works, batch.pending.result(), strict=True):
            if isinstance(prepared, Failed):
                work.failed = True  # left to process(), which prepares it again and reports it
                continue
            try:
                work.adopt(prepared)
            except Exception:
                work.failed = True
        return batch.works

    def stopped(self) -> None:
        """The loop ended: hand back the batch leased ahead, which nobody will write now, and the calls."""
        batch, self._ahead = self._ahead, None
        if batch is not None or self.shares_calls:
            self._hand_back([w.msg.id for w in batch.works] if batch is not None else [])

    def _write(self, works: list[_Work]) -> int:
        handed = 0
        if self.shares_calls:
            works, handed = self._keep_own_calls(works)
            if not works:
                return handed
        results = self._commit_together(works) if all(not w.failed for w in works) else None
        if results is not None:
            for result in results:
                self._done(result)
            return len(results) + handed
        done = handed
        for work in works:
            try:
                if self.process(work.msg.id) is not None:
                    done += 1
            except Exception:  # one message's bug must not stop the others; the lease expires
                log.exception("processing failed", extra={"message_id": work.msg.id})
        return done

    def _keep_own_calls(self, works: list[_Work]) -> tuple[list[_Work], int]:
        """The batch's messages whose vessel call this worker owns, and how many it handed to the owners
        of the others (PostgreSQL, several processes).

        Two processes writing messages of the same calls waited on each other's row locks and read back
        the dossiers the other had just written (its cache no help): on two vCPUs the pair did less than
        one process alone. So each call is written by the worker that owns it. Most messages were leased
        by their call's owner already, by the hint intake read off their bytes (`claim_messages`,
        hub.affinity); here, before writing, the worker renews its hold on the calls of the batch
        (`own_calls`, for `CALL_HOLD`, so that a slow batch does not outlive it), takes those nobody
        holds (messages without a hint, or whose mapped call is not the one their hint gave), and hands
        the messages of calls another worker holds to it (`hand_messages`: a call taken over meanwhile,
        see `take_over_late_call`); the owner's next lease takes them, and validates and maps them
        again. Messages naming no call stay in the batch, and if the hand-over itself fails, the whole
        batch is written here (the row locks keep it right)."""
        keys = {w.msg.id: key for w in works if not w.failed and (key := _owner_key(w))}
        if not keys:
            return works, 0
        to: dict[str, list[str]] = {}
        try:
            with self.store.transaction() as tx:
                owners = tx.own_calls(list(keys.values()), self.worker, hold=CALL_HOLD)
                for message_id, key in keys.items():
                    owner = owners.get(key, self.worker)
                    if owner != self.worker:
                        to.setdefault(owner, []).append(message_id)
                handed = tx.hand_messages(to, self.worker, lease=HAND_OVER_LEASE) if to else 0
        except Exception as exc:
            if not retryable(exc):
                raise
            log.info("could not share out the calls of a batch (%s); writing it here", type(exc).__name__)
            return works, 0
        if handed:
            self.handed += handed
            log.debug("%d message(s) handed to the owners of their calls", handed)
        gone = {message_id for ids in to.values() for message_id in ids}
        return [w for w in works if w.msg.id not in gone], handed

    def _commit_together(self, works: list[_Work], attempts: int = 4) -> list[Processed] | None:
        """Write the results of prepared messages in one transaction; None if it failed (nothing written).

        The messages are written in the order of the vessel calls they name, so that two hub processes
        lock the rows of the calls they share in the same order (they deadlocked on PostgreSQL, each
        holding a call the other wanted). A batch that still meets a deadlock, or a dossier another
        process changed first, is written again after a short random wait; only another failure sends
        its messages one at a time."""
        if not works:
            return []
        works = sorted(works, key=_lock_order)
        for attempt in range(attempts):
            try:
                results = []
                with self.store.transaction() as tx:
                    held = tx.messages_held([work.msg.id for work in works], self.worker)
                    # One repository for the batch: each dossier it touched is written once, at the
                    # end, in one set of statements for all (on PostgreSQL, round trips saved).
                    repo = StoreRepository(tx, cache=self.cache)
                    prefetch_keys(repo, [m.document for work in works if work.msg.id in held
                                         for m in work.mappings if m.document is not None])
                    interchanges = _BatchInterchanges(tx, [w for w in works if w.msg.id in held],
                                                      self._dedupe_window())
                    with repo.deferred(), tx.writes_together():
                        for work in works:
                            work.repo, work.interchanges = repo, interchanges
                            if work.msg.id not in held:
                                log.warning("lease lost; left to its new holder",
                                            extra={"message_id": work.msg.id})
                                continue
                            results.append(work.commit(tx))
                    self.cache.pending(repo)
                    tx.release_messages([work.msg.id for work in works if work.msg.id in held])
                self.cache.keep()
                return results
            except Exception as exc:
                self.cache.discard()
                if retryable(exc) and attempt + 1 < attempts:
                    log.info("a batch of %d messages met %s; writing it again", len(works), type(exc).__name__)
                    _pause_before_retry(attempt)
                    continue
                log.warning("a batch of %d messages failed; processing them one at a time", len(works),
                            exc_info=True)
                return None
        return None

    def _dedupe_window(self) -> timedelta:
        return timedelta(hours=getattr(self.settings, "dedupe_window_hours", 72))

    def _hand_back(self, ids: Sequence[str]) -> None:
        """The worker stops: release the leases of messages it has not begun, and its vessel calls, so
        that another worker takes them at once rather than when the lease or hold runs out."""
        with self.store.transaction() as tx:
            for left in ids:
                if tx.holds_message(left, self.worker):
                    tx.release_message(left)
            if self.shares_calls:
                tx.release_calls(self.worker)

    def _done(self, result: Processed) -> None:
        self.processed += 1
        if result.deliveries:
            for event in self.notify:
                event.set()
        log.info("message %s: %s", result.status, result.reason or "",
                 extra={"message_id": result.message_id, "partner": result.partner, "status": result.status})

    def run(self, stop: threading.Event, idle_wait: float = 0.5) -> None:
        """Process until `stop` is set; sleeps until woken (`wake`) or `idle_wait` when idle."""
        try:
            work_loop(lambda: self.run_once(stop=stop), stop, self.wake, "pipeline", idle_wait)
        finally:
            self.stopped()

    def _lease(self) -> timedelta:
        return timedelta(minutes=5)

    # --- one message ----------------------------------------------------------------------------------

    def process(self, message_id: str) -> Processed | None:
        """Process a leased message; None if the lease was lost (another worker has it)."""
        with self.store.transaction(write=False) as tx:
            msg = tx.message(message_id)
        if msg is None or msg.raw is None:
            return None
        partners = self.partners()
        for attempt in range(5):
            work = _Work(self, msg, partners)
            work.prepare()
            try:
                with self.store.transaction() as tx:
                    if not tx.holds_message(message_id, self.worker):
                        log.warning("lease lost; left to its new holder", extra={"message_id": message_id})
                        return None
                    result = work.commit(tx)
                    tx.release_message(message_id)
                self.cache.keep()
            except BaseException as exc:
                self.cache.discard()
                if not retryable(exc):
                    raise
                if attempt == 4:
                    raise
                _pause_before_retry(attempt)
                continue
            self._done(result)
            return result
        return None


def retryable(exc: BaseException) -> bool:
    """Whether the same transaction, run again, may succeed: a dossier another process changed since it
    was read, or a deadlock or serialization failure between hub processes on PostgreSQL."""
    if isinstance(exc, ConcurrentUpdate):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


def _pause_before_retry(attempt: int) -> None:
    """A random wait growing with the attempt, so that two processes that collided do not again."""
    time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))


@dataclass
class _Ahead:
    """A leased batch whose validation and mapping run in a helper process."""

    works: list[_Work]
    pending: PendingBatch


# How long a worker keeps a vessel call after it last wrote one of its messages, and how long a message
# handed to a call's owner waits for it before any worker may take it (the owner has died).
CALL_HOLD = timedelta(seconds=10)
HAND_OVER_LEASE = timedelta(seconds=30)
# How long a message waits for the worker owning its call before a worker with too little to do takes
# the call over (the owner is behind: it took more calls than its share, or a big message holds it up).
TAKE_OVER_AFTER = timedelta(seconds=1)


def _owner_key(work: _Work) -> str:
    """The call key a message is owned by ('' for none): its hint, when that is one of its mapped
    call's voyage keys (hub.affinity), else the least of those, else its first call key (a call known
    by its port call reference alone)."""
    voyages: set[str] = set()
    for m in work.mappings:
        voyages |= call_owner_keys((m.document or {}).get("call") or {})
    if work.msg.call_hint is not None and work.msg.call_hint in voyages:
        return work.msg.call_hint
    return min(voyages) if voyages else _lock_order(work)


def _lock_order(work: _Work) -> str:
    """The first of the call keys a message names ('' for none): the order dossier rows get locked in."""
    found = [f"{kind}|{value}" for m in work.mappings for kind, value in call_keys(
        (m.document or {}).get("call") or {})]
    return min(found, default="")


class _BatchInterchanges:
    """The duplicate check (same sender and UNB reference within the window) of a batch written in one
    transaction: one query for the whole batch instead of one a message. It knows the messages of the
    store (`interchanges_seen`) and, as they are filed, those of the batch (whose writes the transaction
    holds until its end), so a message sees every earlier one, the batch's included."""

    def __init__(self, tx: Transaction, works: Sequence[_Work], window: timedelta) -> None:
        self.window = window
        pairs = {pair for w in works if (pair := w.interchange()) is not None}
        self.seen = (tx.interchanges_seen(pairs, min(w.msg.received_at for w in works) - window,
                                          excluding=[w.msg.id for w in works]) if pairs else {})

    def first(self, work: _Work) -> str | None:
        pair = work.interchange()
        if pair is None:
            return None
        since = work.msg.received_at - self.window
        return min((message_id for message_id, at in self.seen.get(pair, ())
                    if at >= since and message_id != work.msg.id), default=None)

    def filed(self, work: _Work, status: str) -> None:
        pair = work.interchange()
        if pair is not None and status not in ("failed", "duplicate") and work.msg.duplicate_of is None:
            self.seen.setdefault(pair, []).append((work.msg.id, work.msg.received_at))


class _Work:
    """The processing of one message: `prepare` (no transaction: validation and mapping, the costly
    part), then `commit` (one transaction: store everything)."""

    def __init__(self, pipeline: Pipeline, msg: StoredMessage, partners: Partners) -> None:
        self.p = pipeline
        self.msg = msg
        self.raw: bytes = msg.raw or b""
        self.partners = partners
        self.partner: Partner | None = partners.get(msg.partner) if msg.partner else None
        self.report = Report()
        self.mappings: list[MessageMapping] = []
        self.meta: dict[str, Any] = {}
        self.refusal: tuple[Code, str] | None = None
        self.now = utcnow()
        self.failed = False  # prepare raised
        self.repo: StoreRepository | None = None  # the batch's repository, when committed with others
        self.interchanges: _BatchInterchanges | None = None  # likewise, the batch's duplicate check

    # -- outside the transaction

    def prepare(self) -> None:
        self.adopt(prepare(self.raw, self.p.catalog, self.validator_options()))

    def validator_options(self) -> Options | None:
        return self.partner.strictness.validator_options() if self.partner else None

    def adopt(self, prepared: Preparation) -> None:
        """Take the validation and mapping of the message, then decide whether its sender may send it:
        the mappings of a refused message are dropped."""
        self.report, self.meta, self.mappings = prepared.report, dict(prepared.meta), prepared.mappings
        if self.meta["syntax"] == "edifact":
            self._identify_sender(self.report.interchanges[0] if self.report.interchanges else None)
            if self.refusal is not None or not self.report.accepted:
                self.mappings = []

    def _identify_sender(self, first: InterchangeReport | None) -> None:
        """The partner who sent the interchange, and whether it may send it."""
        if first is None or first.sender is None:
            return
        by_unb = self.partners.by_unb(first.sender, first.sender_qualifier)
        if self.partner is None:
            self.partner = by_unb
        if self.partner is None:
            self._refuse(first, Code.UNKNOWN_SENDER,
                         f"UNB sender {first.sender!r} is not the identifier of any partner of the hub.")
            return
        if by_unb is not None and by_unb.id != self.partner.id or by_unb is None:
            self._refuse(first, Code.SENDER_NOT_PARTNER,
                         f"UNB sender {first.sender!r} is not an identifier of partner {self.partner.id}, "
                         f"who delivered the interchange.")
            return
        if self.partner.suspended:
            self._refuse(first, Code.SENDER_SUSPENDED, f"Partner {self.partner.id} is suspended.")
            return
        for ic in self.report.interchanges:
            for m in ic.messages:
                directory = f"{m.version or ''}{m.release or ''}" or None
                # Acknowledgements answer what the hub sent: any partner may send them.
                if m.type and m.type not in ACK_TYPES and not self.partner.may_send(m.type, directory, m.assoc):
                    m.issues.append(Issue(Code.MESSAGE_NOT_ALLOWED,
                                          f"Partner {self.partner.id} may send {', '.join(self.partner.sends)}, "
                                          f"not {m.type} {directory or ''} {m.assoc or ''}".rstrip() + ".",
                                          segment=1, tag="UNH"))

    def _refuse(self, interchange: InterchangeReport, code: Code, text: str) -> None:
        self.refusal = (code, text)
        interchange.issues.append(Issue(code, text, tag="UNB", element=2))

    # -- inside the transaction

    def commit(self, tx: Transaction) -> Processed:
        msg = self.msg
        result = Processed(msg.id, "routed", partner=self.partner.id if self.partner else None)
        meta = {k: v for k, v in self.meta.items() if v is not None}
        if self.partner is not None and msg.partner is None:
            meta["partner_identified"] = self.partner.id
        if meta:
            tx.set_meta(msg.id, meta, current=msg.meta)  # leased: nobody else changes it meanwhile
        duplicate_of = msg.duplicate_of or self._same_interchange(tx)
        if duplicate_of is not None:
            self._mark_duplicate(duplicate_of)
        tx.save_report(msg.id, self.report.to_dict(), self.report.accepted)
        plans = self._acknowledgements()
        if duplicate_of is not None:
            result.status, result.reason = "duplicate", f"already received as message {duplicate_of}"
        elif not self.report.accepted:
            result.status = "failed"
            result.reason = "; ".join(i.message for i in self.report.all_issues()[:3]) or "rejected"
        else:
            outcomes, failures = self._correlate(tx)
            plans += self._aperaks(failures)
            result.dossiers = sorted({d for o in outcomes for d in (*o.calls, *o.consignments)})
            result.notes = [n for o in outcomes for n in o.notes]
            if self._is_acknowledgement():
                self._reconcile_ack(tx)
            plans += self.p._route(tx, self, outcomes)
            if failures:
                result.reason = "; ".join(failures.values())
        for plan in plans:
            delivery_id = tx.enqueue_delivery(
                message_id=msg.id, purpose=plan.purpose, partner=plan.partner, channel=plan.channel,
                target=plan.target, kind=plan.kind, filename=plan.filename, payload=plan.payload,
                content_type=plan.content_type, control_ref=plan.control_ref)
            if delivery_id:
                result.deliveries.append(delivery_id)
        tx.set_status(msg.id, result.status, result.reason)  # routed with a reason: not (wholly) filed
        if self.interchanges is not None:
            self.interchanges.filed(self, result.status)
        return result

    def interchange(self) -> tuple[str, str] | None:
        """(sender, UNB reference): what the duplicate check goes by, when the message has both."""
        sender, ref = self.meta.get("sender"), self.meta.get("control_ref")
        return (sender, ref) if sender and ref else None

    def _same_interchange(self, tx: Transaction) -> str | None:
        if self.interchanges is not None:
            return self.interchanges.first(self)
        pair = self.interchange()
        if pair is None:
            return None
        return tx.same_interchange(*pair, self.msg.received_at - self.p._dedupe_window(), self.msg.id)

    def _mark_duplicate(self, original: str) -> None:
        """Say so in the report, once (a batch written again marks it again)."""
        text = f"This interchange was already received (message {original}) and is not processed again."
        def unmarked(issues: list[Issue]) -> bool:
            return all(i.code != Code.DUPLICATE_INTERCHANGE for i in issues)

        if self.report.interchanges:
            for ic in self.report.interchanges:
                if unmarked(ic.issues):
                    ic.issues.append(Issue(Code.DUPLICATE_INTERCHANGE, text, tag="UNB", element=5))
        elif unmarked(self.report.issues):
            self.report.issues.append(Issue(Code.DUPLICATE_INTERCHANGE, text))

    def _correlate(self, tx: Transaction) -> tuple[list[Outcome], dict[str, str]]:
        """Correlate the mapped messages; a message whose correlation fails is reported, not lost.

        Among other messages in one transaction (through the batch's `repo`), a failure is not caught
        here: it fails that transaction, and the message is processed again alone, where it is caught.
        That spares every message a savepoint."""
        entry = JournalEntry(self.msg.id, self.msg.sha256, self.msg.size, self.msg.received_at, None)
        failures: dict[str, str] = {}
        if self.repo is not None:
            return correlate_mapped(tx, entry, self.mappings, channel=self.msg.channel, cache=self.p.cache,
                                    repo=self.repo), failures
        try:
            with tx.savepoint():
                return correlate_mapped(tx, entry, self.mappings, channel=self.msg.channel,
                                        cache=self.p.cache), failures
        except ConcurrentUpdate:
            raise
        except Exception as exc:  # a bug or a bad document: answer the sender, keep the message
            log.exception("correlation failed", extra={"message_id": self.msg.id})
            for m in self.mappings:
                failures[m.message_ref or ""] = f"the message could not be filed: {exc}"
            return [], failures

    def _is_acknowledgement(self) -> bool:
        return any(t in ACK_TYPES for t in self.meta.get("message_types") or [])

    def _reconcile_ack(self, tx: Transaction) -> None:
        """An incoming CONTRL or APERAK: match it to the interchange the hub sent, a CONTRL by its UCI
        0020, an APERAK by the references it quotes (RFF: the interchange reference, or the document
        number, which in the hub's own messages is the interchange reference too)."""
        from hub.edifact import segments
        from hub.edifact.aperak import read_aperaks

        if self.partner is None:
            return
        found = list(segments(self.raw))
        for seg in found:
            if seg.tag != "UCI":
                continue
            ref = seg.elements[0] if seg.elements and isinstance(seg.elements[0], str) else None
            action = seg.elements[3] if len(seg.elements) > 3 and isinstance(seg.elements[3], str) else ""
            if ref:
                tx.match_ack(partner=self.partner.id, control_ref=ref, accepted=action in ("7", "8"),
                             ack_message_id=self.msg.id, detail={"action": action})
        for answer in read_aperaks(found):
            detail = {"aperak": answer.message_ref, "errors": [list(e) for e in answer.errors]}
            for ref in answer.references:
                if tx.match_ack(partner=self.partner.id, control_ref=ref, accepted=answer.accepted,
                                ack_message_id=self.msg.id, detail=detail, application=True):
                    break

    # -- acknowledgements

    def _ack_wanted(self, interchange: InterchangeReport | None) -> bool:
        if self.partner is None:
            return False
        mode = self.partner.acks.contrl
        if mode == "never":
            return False
        if mode == "always" or interchange is None:
            return True
        # "when_requested": when UNB 0031 asks, and always for a rejection: a sender must learn
        # that its interchange was refused.
        return interchange.ack_requested or not interchange.accepted

    def _acknowledgements(self) -> list[_Plan]:
        if self.partner is None:
            return []
        if self.report.syntax == "xml":
            return self._xml_ack()
        from hub.edifact.contrl import build_contrl

        wanted = [ic for ic in self.report.interchanges if self._ack_wanted(ic)]
        if not wanted:
            return []
        report = replace(self.report, interchanges=wanted)
        ref = _control_ref(self.msg.id, "contrl")
        hub_id = self.p.settings.our_unb_id or HUB_ID
        payload = build_contrl(report, our_id=hub_id, control_ref=ref, now=self.now)
        if payload is None:
            return []
        return [self._ack_plan("contrl", "contrl", payload, f"CONTRL_{self._stem()}.edi", "application/edifact",
                               ref)]

    def _xml_ack(self) -> list[_Plan]:
        from hub.xml.ack import build_ack

        assert self.partner is not None
        if self.partner.acks.contrl == "never":
            return []
        hub_id = self.p.settings.our_unb_id or HUB_ID
        document_id = str(self.meta.get("control_ref") or self.msg.filename or self.msg.id)[:70]
        payload = build_ack(self.report, document_id=document_id, sender=hub_id, receiver=self.partner.id,
                            now=self.now)
        return [self._ack_plan("xml-ack", "xml-ack", payload, f"ACK_{self._stem()}.xml", "application/xml", None)]

    def _aperaks(self, failures: dict[str, str]) -> list[_Plan]:
        if not failures or self.partner is None or not self.partner.acks.aperak or self.report.syntax != "edifact":
            return []
        from hub.edifact.aperak import build_aperak

        hub_id = self.p.settings.our_unb_id or HUB_ID
        plans = []
        for ic in self.report.interchanges:
            for m in ic.messages:
                if (m.ref or "") not in failures:
                    continue
                ref = _control_ref(self.msg.id, f"aperak:{m.ref}")
                payload = build_aperak(m, ic, our_id=hub_id, control_ref=ref, now=self.now,
                                       errors=[("999", failures[m.ref or ""][:70])])
                plans.append(self._ack_plan(f"aperak:{m.ref}", "aperak", payload,
                                            f"APERAK_{self._stem()}_{m.ref}.edi", "application/edifact", ref))
        return plans

    def _ack_plan(self, purpose: str, kind: str, payload: bytes, filename: str, content_type: str,
                  control_ref: str | None) -> _Plan:
        from hub.routing.rules import ack_destination

        assert self.partner is not None
        channel, target = ack_destination(self.partner, self.msg)
        return _Plan(purpose, self.partner.id, channel, target, kind, filename, payload, content_type, control_ref)

    def _stem(self) -> str:
        name = self.msg.filename or self.msg.id
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80] or self.msg.id


def json_payload(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode()
