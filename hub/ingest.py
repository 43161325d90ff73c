"""The path of one input: journal, validate, map, correlate into the store.

Persist before anything else: the raw bytes are journalled first, so nothing that reached the hub can
be lost by a later failure. A byte-identical input already journalled is recorded as a duplicate and
not processed twice.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from hub.catalog import Catalog
from hub.dossier.correlate import Key, Memo, Outcome, correlate, source_of
from hub.dossier.keys import Stamp
from hub.mapping.run import MessageMapping, map_edifact, map_xml
from hub.report import Report
from hub.store import Store
from hub.store.store import JournalEntry, Transaction, split_parts

_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (it nests, and works across threads).

    Mapping a large bayplan and correlating it allocate millions of small lists and dicts, none of them
    in reference cycles that matter; the collector would scan the growing heap again and again (about
    a third of the time). Reference counting still frees everything as usual; the collector runs
    again after the block."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


class HeapFreezer:
    """Keeps what a long-running worker holds out of the cyclic collector's full scans.

    A pipeline worker's DossierCache and memo hold hundreds of thousands of long-lived objects (busy
    calls, their fragments and encoded documents), none of them in reference cycles. Every full
    collection scanned them all again: a sixth of the pipeline thread's time in `hub serve` at 20,000
    messages over 200 calls. `settle()`, called after each batch (and by `ingest_bytes`, whose store
    keeps such a cache too), moves everything alive into the permanent generation (`gc.freeze`), which
    collections skip; reference counting still frees frozen objects as usual. What a freeze can hide
    is cyclic garbage not yet collected (a caught exception and its traceback, say): so every
    `full_every` seconds `settle()` unfreezes, runs one full collection and freezes again, which bounds
    that leak to what a few minutes produce.

    Process-wide, like the collector itself; any thread may call `settle()`."""

    def __init__(self, full_every: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.full_every = full_every
        self._clock = clock
        self._last_full = clock()
        self._lock = threading.Lock()

    def settle(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_full >= self.full_every:
                gc.unfreeze()
                gc.collect()
                self._last_full = now
            gc.freeze()


heap_freezer = HeapFreezer()


def map_bytes(data: bytes, catalog: Catalog) -> tuple[Report, list[MessageMapping]]:
    """Validate, then map every message that validation located (rejected ones included: a mapping
    author wants to see what they would give)."""
    with gc_paused():
        return _map_bytes(data, catalog)


def _map_bytes(data: bytes, catalog: Catalog) -> tuple[Report, list[MessageMapping]]:
    from hub.xml import looks_like_xml, parse_and_validate

    if looks_like_xml(data):
        report, root = parse_and_validate(data)
        if root is None:
            return report, []
        return report, [map_xml(root, catalog.mappings())]
    from hub.edifact.validator import validate_located

    report, located = validate_located(data, catalog)
    return report, map_edifact(located, catalog.mappings(), catalog.directory)


# A dossier as a committed transaction left it: version, stored dict (document and fragments), the ids
# of its stored events, its fragments and its parts as the store has them (the very objects, compared by
# identity), and its correlation keys as the store has them (None when not known).
_Kept = tuple[int, dict[str, Any], set[str], dict[str, dict[str, Any]], dict[str, Any], list[Key] | None]


class DossierCache:
    """Dossiers kept between transactions by one worker, so that the next message of a busy vessel call
    does not read, parse and rebuild the whole call again (its cost grew with every message of the call).

    An entry is a dossier as a committed transaction left it: its version, its stored dict and the ids of
    its stored events. A repository *takes* the entry out when it loads the dossier and uses it only if
    the store still has that version (another process may have changed it); the repositories of a
    transaction hand their dossiers back (`keep`) only once it has committed, and `discard` them
    otherwise, so an entry never holds what a rolled-back transaction changed. Not thread-safe: one per
    worker thread. The `memo` (objects built from fragments, by identity) is shared by the sessions and
    started afresh when it grows past `max_memo` entries.
    """

    def __init__(self, max_dossiers: int = 2000, max_memo: int = 200_000) -> None:
        self.max_dossiers = max_dossiers
        self.max_memo = max_memo
        self._entries: OrderedDict[str, _Kept] = OrderedDict()
        self._uncommitted: dict[str, _Kept] = {}  # handed back inside the transaction still open
        self.memo = Memo()
        self.hits = self.misses = 0

    def session_memo(self) -> Memo:
        memo = self.memo
        if (len(memo.sources) + len(memo.bayplans) + len(memo.encoded) + len(memo.built)
                + len(memo.call_facts) + len(memo.encoded_events) + len(memo.call_folds)
                + len(memo.stowed) + len(memo.ordered)) > self.max_memo:
            self.memo = memo = Memo()
        return memo

    def take(self, dossier_id: str) -> _Kept | None:
        """The entry of a dossier, removed from the cache (the taker gives it back through `pending`).
        Entries handed back by a repository of the transaction still open come first: a later message
        of the same transaction sees what an earlier one wrote."""
        return self._uncommitted.pop(dossier_id, None) or self._entries.pop(dossier_id, None)

    def pending(self, repo: StoreRepository) -> None:
        """`repo` finished its work inside a transaction that has not committed yet."""
        for dossier_id, version, stored, events, persisted, parts, index in repo.held():
            self._uncommitted[dossier_id] = (version, stored, events, persisted, parts, index)

    def keep(self) -> None:
        """The transaction committed: keep what its repositories hand back."""
        for dossier_id, entry in self._uncommitted.items():
            self._entries[dossier_id] = entry
            self._entries.move_to_end(dossier_id)
        self._uncommitted.clear()
        while len(self._entries) > self.max_dossiers:
            gone, _ = self._entries.popitem(last=False)
            self.memo.forget(gone)

    def discard(self) -> None:
        """The transaction did not commit: what its repositories took is gone (reloaded when needed).
        Their memo entries could not be mistaken for the reloaded dossiers (the memo goes by object
        identity); they are dropped only to free the memory."""
        for dossier_id in self._uncommitted:
            self.memo.forget(dossier_id)
        self._uncommitted.clear()


class StoreRepository:
    """`hub.dossier.correlate.Repository` over one store transaction.

    It keeps what it loads and saves: a dossier loaded twice is read (and its JSON parsed) once, and
    correlation's `Memo` reuses the objects dossiers were built from. Inside `deferred()` (as
    `correlate_mapped` runs it), saves are held until the block ends and then written once each, in
    batches: the dossier row once, only the correlation keys that changed (compared with the rows
    the store has), only the events that are new, and the discrepancies with one statement. Outside
    `deferred()`, each save is written at once, the same way. The store ends up exactly as if every
    save had been written when it was made (a discrepancy that one save recorded and a later one
    dropped is recorded as resolved), except for the order in which keys were linked, which no
    result depends on.
    """

    def __init__(self, tx: Transaction, content_id: str = "", journal_id: str | None = None,
                 cache: DossierCache | None = None) -> None:
        self.tx = tx
        self.cache = cache
        self.versions: dict[str, int] = {}
        # Messages are known to correlation by a content id (same bytes, same id, whatever the order
        # or the database); events of the messages being processed point to their journal entries.
        self._journal_ids: dict[str, str | None] = {}
        if content_id:
            self.begin_message(content_id, journal_id)
        self.memo = cache.session_memo() if cache is not None else Memo()
        self._docs: dict[str, dict[str, Any]] = {}  # loaded or saved, by dossier id
        self._kinds: dict[str, str] = {}
        self._index: dict[str, list[Key]] = {}  # saved in this session: the index of the last save
        self._index_sets: dict[str, frozenset[tuple[str, str]]] = {}
        self._by_key: dict[tuple[str, str, str], dict[str, None]] = {}  # (kind, type, value) -> saved ids
        self._dirty: dict[str, None] = {}  # saved, not yet written (ordered)
        self._deleted: set[str] = set()
        self._events: dict[str, set[str]] = {}  # event ids of the dossier as the store has it
        self._seen: dict[str, dict[str, dict[str, Any]]] = {}  # discrepancies saved, by dossier and id
        self._depth = 0
        self._found: dict[tuple[str, str, str], list[str]] = {}  # prefetched store look-ups
        self._locked: set[tuple[str, str, str]] = set()  # keys locked by lock_keys in this transaction
        self._known_versions: dict[str, int | None] = {}  # read (and locked) by lock_found
        self._persisted: dict[str, dict[str, dict[str, Any]]] = {}  # fragments as the store has them
        self._parts: dict[str, dict[str, Any]] = {}  # parts (hub.store.split_parts) as the store has them
        # Keys as the store has them, where known: written by this repository, or kept with the dossier
        # by the cache (only this class writes keys, always with the dossier's row, whose version the
        # cache checks). A dossier saved with the same keys then needs no read of its keys to diff.
        self._stored_index: dict[str, list[Key]] = {}

    def prefetch(self, kind: str, wanted: Iterable[tuple[str, str]]) -> None:
        """Look many keys up at once, for the `find`s that follow (one query per key type)."""
        by_type: dict[str, list[str]] = {}
        for t, v in wanted:
            if (kind, t, v) not in self._found:
                by_type.setdefault(t, []).append(v)
        for t, values in by_type.items():
            hits = self.tx.find_dossier_ids_many(t, values, kind=kind)
            for v in values:
                self._found[(kind, t, v)] = hits.get(v, [])

    @contextmanager
    def deferred(self) -> Iterator[StoreRepository]:
        """Hold saves until the block ends, then write them (not if the block raises)."""
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.flush()

    def find(self, kind: str, key_type: str, value: str) -> list[str]:
        known = self._found.get((kind, key_type, value))
        return self._with_own_changes(
            kind, key_type, value, known if known is not None else self.tx.find_dossier_ids(key_type, value, kind=kind))

    def lock_new(self, kind: str, index: Iterable[tuple[str, str]]) -> bool:
        """Before opening a dossier for keys that found none: lock the keys against other processes
        doing the same (`Transaction.lock_keys`). True when locks were taken: the caller then looks
        again, since one of them may have opened it since (prefetched answers, which predate the lock,
        are dropped). Without this, two processes filing messages about one new B/L at the same moment
        opened a dossier each. False on SQLite, where nobody else can be writing meanwhile."""
        wanted = [(kind, t, v) for t, v in index if (kind, t, v) not in self._locked]
        if not wanted:
            return True  # all locked by lock_unfound, and looked up after it
        return self._lock(wanted)

    def _lock(self, keys: list[tuple[str, str, str]]) -> bool:
        """`Transaction.lock_keys`, then forget the prefetched answers for those keys, which predate
        the lock. False (nothing done) on SQLite."""
        if not self.tx.lock_keys(keys):
            return False
        for key in keys:
            self._found.pop(key, None)
            self._locked.add(key)
        return True

    def lock_unfound(self, kind: str, wanted: Iterable[tuple[str, str]]) -> None:
        """After `prefetch`: lock at once the keys that found no dossier (a batch's messages are about
        to open dossiers for most of them) and look them up again, since another process may have
        opened one before the lock. `lock_new` then has nothing left to do for them: a batch costs one
        lock statement and one look-up per key type, not a lock and a look-up per new dossier."""
        unfound = [(kind, t, v) for t, v in dict.fromkeys(wanted)
                   if not self._found.get((kind, t, v)) and (kind, t, v) not in self._locked]
        if unfound and self._lock(unfound):
            self.prefetch(kind, [(t, v) for _, t, v in unfound])

    def lock_found(self) -> None:
        """Read at once the versions of the dossiers the prefetched keys found, locking their rows
        (PostgreSQL), so that `load` need not ask for each one the cache holds: one statement for a
        batch instead of one per dossier. Taken in id order, as two processes then take them."""
        ids = sorted({did for found in self._found.values() for did in found} - self._known_versions.keys())
        if ids:
            self._known_versions.update(self.tx.dossier_versions(ids, lock=True))

    def find_among(self, kind: str, key_type: str, value: str, among: Iterable[str]) -> list[str]:
        """`find`, restricted to the dossiers `among`: the store is asked about those only (a busy call
        links hundreds of consignments, of which a message's refresh needs the few it names)."""
        wanted = set(among)
        known = self._found.get((kind, key_type, value))
        stored = ([did for did in known if did in wanted] if known is not None
                  else self.tx.find_dossier_ids_among(key_type, value, wanted, kind))
        return [did for did in self._with_own_changes(kind, key_type, value, stored) if did in wanted]

    def _with_own_changes(self, kind: str, key_type: str, value: str, stored: Iterable[str]) -> list[str]:
        # The store's answer (or a prefetched one) stays right: its keys change only through this
        # repository, whose own changes (saved indexes, deletions) are applied on top of it here.
        out: dict[str, None] = {}
        for did in stored:
            if did in self._deleted:
                continue
            held = self._index_sets.get(did)
            if held is None or (key_type, value) in held:
                out[did] = None
        for did in self._by_key.get((kind, key_type, value), ()):
            out[did] = None
        return list(out)

    def load(self, dossier_id: str) -> dict[str, Any] | None:
        if dossier_id in self._deleted:
            return None
        doc = self._docs.get(dossier_id)
        if doc is not None:
            return doc
        kept = self.cache.take(dossier_id) if self.cache is not None else None
        if kept is not None and (self._known_versions[dossier_id] if dossier_id in self._known_versions
                                 else self.tx.dossier_version(dossier_id, lock=True)) == kept[0]:
            assert self.cache is not None
            self.cache.hits += 1
            version, doc, events, persisted, parts, index = kept
            self.versions[dossier_id] = version
            self._docs[dossier_id] = doc
            self._events[dossier_id] = events
            self._persisted[dossier_id] = persisted
            self._parts[dossier_id] = parts
            if index is not None:
                self._stored_index[dossier_id] = index
            return doc
        if self.cache is not None:
            self.cache.misses += 1
        found = self.tx.load_dossier(dossier_id, lock=True)
        if found is None:
            return None
        doc, version = found
        fragments = self.tx.fragments(dossier_id)
        self._parts[dossier_id] = split_parts(doc)[1]  # load_dossier assembled the document from them
        doc = {**doc, "fragments": fragments}
        self._persisted[dossier_id] = dict(fragments)
        self.versions[dossier_id] = version
        self._docs[dossier_id] = doc
        self._events[dossier_id] = {e["id"] for e in (doc.get("dossier") or {}).get("events") or ()}
        return doc

    def save(self, dossier_id: str, kind: str, stored: dict[str, Any], index: list[Key]) -> None:
        self._docs[dossier_id] = stored
        old = self._index.get(dossier_id)
        # A call saved again with the same index (its 24,000 container keys) leaves the look-ups as
        # they are. Only calls: correlation sorts the calls a key finds, while the order of the
        # consignments of a call (last saved last) is kept exactly.
        if kind != "vessel_call" or old is None or self._kinds.get(dossier_id) != kind or old != index:
            held = frozenset(zip(map(_FIRST, index), map(_SECOND, index), strict=True))
            by_key = self._by_key
            if kind == "vessel_call" and old is not None and self._kinds.get(dossier_id) == kind:
                # A call saved again with other keys (each message of a bayplan adds thousands): only
                # the keys it lost or gained change the look-ups (the order of the calls a key finds
                # is no one's concern, see above).
                before = self._index_sets[dossier_id]
                for t, v in before - held:
                    ids = by_key.get((kind, t, v))
                    if ids is not None:
                        ids.pop(dossier_id, None)
                gained: Iterable[tuple[str, str]] = held - before
            else:
                self._kinds[dossier_id] = kind
                if old is not None:
                    for t, v, _ in old:
                        ids = by_key.get((kind, t, v))
                        if ids is not None:
                            ids.pop(dossier_id, None)
                gained = [(t, v) for t, v, _ in index]
            self._index[dossier_id] = index
            self._index_sets[dossier_id] = held
            for t, v in gained:
                ids = by_key.get((kind, t, v))
                if ids is None:
                    by_key[(kind, t, v)] = {dossier_id: None}
                else:
                    ids[dossier_id] = None
        seen = self._seen.setdefault(dossier_id, {})
        for d in stored["dossier"].get("discrepancies") or ():
            seen[d["id"]] = d
        self._dirty[dossier_id] = None
        if self._depth == 0:
            self.flush()

    def begin_message(self, content_id: str, journal_id: str | None) -> None:
        """A message about to be correlated through this repository (several may share one, in one
        transaction): its events will point to its journal entry."""
        self._journal_ids[content_id] = journal_id

    def _journal_id(self, message_id: str | None) -> str | None:
        """The journal entry of an event's message: one of the messages correlated here; earlier
        messages' events are already stored (add_events skips them)."""
        return self._journal_ids.get(message_id.split(".", 1)[0]) if message_id else None

    def delete(self, dossier_id: str) -> None:
        self._deleted.add(dossier_id)
        self._dirty.pop(dossier_id, None)
        self._docs.pop(dossier_id, None)
        kind = self._kinds.get(dossier_id)
        for t, v, _ in self._index.pop(dossier_id, ()):
            ids = self._by_key.get((kind or "", t, v))
            if ids is not None:
                ids.pop(dossier_id, None)
        self._index_sets[dossier_id] = frozenset()
        self._seen.pop(dossier_id, None)
        self._events.pop(dossier_id, None)
        self.memo.forget(dossier_id)
        self._persisted.pop(dossier_id, None)
        self._parts.pop(dossier_id, None)
        self._stored_index.pop(dossier_id, None)
        # Gone from the store at once (a dossier never saved in this session may exist there).
        self.tx.delete_dossier(dossier_id)
        self.versions.pop(dossier_id, None)

    def held(self) -> Iterator[tuple[str, int, dict[str, Any], set[str], dict[str, dict[str, Any]],
                                     dict[str, Any], list[Key] | None]]:
        """(id, version, stored dict, stored event ids, stored fragments, stored parts, stored keys or None)
        of every dossier this repository loaded or wrote, as the store has it once the transaction
        commits."""
        for dossier_id, doc in self._docs.items():
            version = self.versions.get(dossier_id)
            if version is not None and dossier_id not in self._dirty:
                yield (dossier_id, version, doc, self._events.get(dossier_id, set()),
                       self._persisted.get(dossier_id, {}), self._parts.get(dossier_id, {}),
                       self._stored_index.get(dossier_id))

    def new_id(self, kind: str) -> str:
        # 48 random bits, as the first 12 hex digits of a uuid4 were (its version bits come later), without
        # making the UUID: a manifest opens 5,000 dossiers at once
        return ("VC-" if kind == "vessel_call" else "CS-") + os.urandom(6).hex().upper()

    def flush(self) -> None:
        """Write the saves held so far."""
        ids = list(self._dirty)
        self._dirty.clear()
        if not ids:
            return
        tx = self.tx
        stored_before = [d for d in ids if d in self.versions]
        fresh = [d for d in ids if d not in self.versions]
        # the dossier rows (their long lists as parts: only the items that are new or changed are
        # written), then the fragments that are new or were replaced
        row_docs: dict[str, dict[str, Any]] = {}
        new_parts: list[tuple[str, str, Any]] = []
        for did in ids:
            row_docs[did], parts = split_parts(_document(self._docs[did]))
            had = self._parts.get(did, {})
            new_parts += [(did, name, item) for name, item in parts.items()
                          if (old := had.get(name)) is not item and old != item]
            gone = [name for name in had if name not in parts]
            if gone:
                tx.delete_parts(did, gone)
            self._parts[did] = parts
        new_versions = tx.update_dossiers([(did, str(self._docs[did]["dossier"].get("status") or ""), row_docs[did],
                                            self.versions[did]) for did in stored_before])
        self.versions.update(zip(stored_before, new_versions, strict=True))
        tx.insert_dossiers((did, self._kinds[did], str(self._docs[did]["dossier"].get("status") or ""),
                            row_docs[did]) for did in fresh)
        tx.put_parts(new_parts)
        for did in fresh:
            self.versions[did] = 1
            self._events.setdefault(did, set())
        changed: list[tuple[str, str, dict[str, Any]]] = []
        for did in ids:
            current = self._docs[did].get("fragments") or {}
            persisted = self._persisted.get(did, {})
            gone = [source for source in persisted if source not in current]
            if gone:
                tx.delete_fragments(did, gone)
            changed += [(did, source, f) for source, f in current.items() if persisted.get(source) is not f]
            self._persisted[did] = dict(current)
        tx.put_fragments(changed)
        # the keys: only what changed
        unchanged = {did for did in stored_before if self._stored_index.get(did) == self._index[did]}
        unknown = [did for did in stored_before if did not in unchanged]
        have = tx.keys_of(unknown) if unknown else {}
        add: list[tuple[str, str, list[Key]]] = []
        drop: list[int] = []
        for did in ids:
            index = self._stored_index[did] = self._index[did]
            if did in unchanged:
                continue
            current = have.get(did)
            if not current:  # a new dossier, or one without keys yet: all of them
                add.append((did, self._kinds[did], index))
                continue
            wanted = set(index)
            add.append((did, self._kinds[did], [key for key in index if key not in current]))
            drop.extend(row for key, row in current.items() if key not in wanted)
        if drop:
            tx.delete_keys(drop)
        tx.add_keys_of(add)
        # the events: only the new ones (add_events would skip the others anyway)
        events: list[dict[str, Any]] = []
        instants: dict[tuple[tuple[str, Any], ...], Any] = {}  # an event time read once per distinct stamp
        for did in ids:
            known = self._events[did]
            for e in self._docs[did]["dossier"].get("events") or ():
                if e["id"] in known:
                    continue
                known.add(e["id"])
                when = e.get("time")
                if when:
                    stamp = tuple(when.items())
                    if stamp not in instants:
                        instants[stamp] = Stamp.from_dict(when).as_datetime()
                events.append({"id": e["id"], "dossier_id": did, "type": e["type"],
                               "event_time": instants[stamp] if when else None,
                               "message_id": self._journal_id(e.get("source_message_id")),
                               "detail": e.get("detail") or None})
        if events:
            tx.add_events(events)
        # the discrepancies: the current ones open, those an earlier save had and the last one has not
        # resolved, and the store's open ones that are no longer current resolved
        rows: list[dict[str, Any]] = []
        current_ids: dict[str, set[str]] = {}
        for did in ids:
            now = {d["id"]: d for d in self._docs[did]["dossier"].get("discrepancies") or ()}
            current_ids[did] = set(now)
            seen = self._seen.pop(did, {})
            for d in now.values():
                rows.append(self._discrepancy(did, d, "open"))
            for key, d in seen.items():
                if key not in now:
                    rows.append(self._discrepancy(did, d, "resolved"))
        tx.upsert_discrepancies(rows)
        if stored_before:
            stale = [d["id"] for d in tx.open_discrepancies(stored_before)
                     if d["key"] not in current_ids[d["dossier_id"]]]
            if stale:
                tx.set_discrepancies_status(stale, "resolved")

    @staticmethod
    def _discrepancy(dossier_id: str, d: dict[str, Any], status: str) -> dict[str, Any]:
        return {"dossier_id": dossier_id, "type": d["type"], "key": d["id"], "severity": d["severity"],
                "detail": {"text": d["detail"], "keys": d["keys"]}, "status": status}


def _document(stored: dict[str, Any]) -> dict[str, Any]:
    """The dossier row's document: the stored dict without its fragments (they have a table)."""
    return {k: v for k, v in stored.items() if k != "fragments"}


@dataclass
class Ingested:
    message_id: str
    duplicate_of: str | None
    report: Report | None
    mappings: list[MessageMapping] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id, "duplicate_of": self.duplicate_of,
            "accepted": self.report.accepted if self.report else None,
            "messages": [{"ref": m.message_ref, "type": m.message_type, "spec": m.spec, "reason": m.reason,
                          "notes": m.notes} for m in self.mappings],
            "calls": sorted({c for o in self.outcomes for c in o.calls}),
            "consignments": sorted({c for o in self.outcomes for c in o.consignments}),
            "created": sorted({c for o in self.outcomes for c in o.created}),
            "merged": sorted({c for o in self.outcomes for c in o.merged}),
        }


def correlate_mapped(tx: Transaction, entry: JournalEntry, mappings: list[MessageMapping], *,
                     channel: str, cache: DossierCache | None = None,
                     repo: StoreRepository | None = None) -> list[Outcome]:
    """Correlate the mapped documents of one journalled message into the store, inside `tx`.

    Idempotent: the message is known to correlation by its content id, so running this again for the
    same message (after a crash, or by a second hub process) changes no dossier. With a `cache`, the
    caller must call its `keep()` once `tx` has committed, or `discard()` if it did not.

    `repo`: a repository the caller shares between the messages of one transaction, inside its own
    `deferred()` block: their dossiers are then written once, when that block ends, and the caller
    hands the repository to the cache (`cache.pending(repo)`) after that.
    """
    # The repository (and the objects correlation built) is dropped before the collector runs again:
    # left alive, they would all be scanned by its first pass, on a large bayplan a tenth of the time.
    with gc_paused():
        return _correlate_mapped(tx, entry, mappings, channel, cache, repo)


def _correlate_mapped(tx: Transaction, entry: JournalEntry, mappings: list[MessageMapping], channel: str,
                      cache: DossierCache | None, shared: StoreRepository | None) -> list[Outcome]:
    content_id = "M" + entry.sha256[:20]
    if shared is None:
        repo = StoreRepository(tx, content_id, entry.id, cache)
    else:
        repo = shared
        repo.begin_message(content_id, entry.id)
    received = entry.received_at.isoformat()
    outcomes = []
    with repo.deferred():  # each dossier written once, when every message has been correlated
        for n, m in enumerate(mappings):
            if m.document is None:
                continue
            mid = content_id if len(mappings) == 1 else f"{content_id}.{n + 1}"
            src = source_of(mid, m.document, sha256=entry.sha256, received_at=received, channel=channel)
            outcomes.append(correlate(repo, src, m.document))
    if cache is not None and shared is None:
        cache.pending(repo)
    return outcomes


# ingest_bytes keeps, per store, the dossiers its earlier calls left, as a pipeline worker does: a
# manifest ingested after its bayplan finds the call already built instead of reading and folding its
# 24,000 stowage records again. Every entry is checked against the store's version before it is used.
_store_caches: weakref.WeakKeyDictionary[Store, DossierCache] = weakref.WeakKeyDictionary()
_store_caches_lock = threading.Lock()


@contextmanager
def _cache_of(store: Store) -> Iterator[DossierCache]:
    """The store's dossier cache, taken for one call (a call running at the same time in another
    thread gets a fresh one: a cache is not thread-safe) and put back afterwards."""
    with _store_caches_lock:
        cache = _store_caches.pop(store, None) or DossierCache()
    try:
        yield cache
    finally:
        with _store_caches_lock:
            _store_caches[store] = cache


def ingest_bytes(data: bytes, store: Store, catalog: Catalog, *, channel: str = "folder",
                 filename: str | None = None, partner: str | None = None) -> Ingested:
    with store.transaction(durable=True) as tx:
        entry = tx.journal(data, channel=channel, partner=partner, filename=filename)
    if entry.duplicate_of is not None:
        return Ingested(entry.id, entry.duplicate_of, None)
    report, mappings = map_bytes(data, catalog)
    result = Ingested(entry.id, None, report, mappings)
    # The collector stays paused until what the store's cache keeps (a call's 24,000 stowage records,
    # their encodings) is settled as a pipeline worker settles it after each batch (`heap_freezer`):
    # otherwise its first pass scans all of it, a twentieth of a large bayplan's path.
    with _cache_of(store) as cache, gc_paused():
        try:
            with store.transaction() as tx:
                tx.save_report(entry.id, report.to_dict(), report.accepted)
                if not report.accepted:
                    tx.set_status(entry.id, "failed", "rejected by validation")
                else:
                    result.outcomes = correlate_mapped(tx, entry, mappings, channel=channel, cache=cache)
                    tx.set_status(entry.id, "correlated")
        except BaseException:
            cache.discard()
            raise
        cache.keep()
        heap_freezer.settle()
    return result
