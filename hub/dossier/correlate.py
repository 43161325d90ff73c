"""Correlation: attaching mapped messages to vessel-call and consignment dossiers.

Rule 1: a dossier is a function of the set of messages that contributed to it. Each dossier keeps the
fragment every message gave it; the dossier is rebuilt by folding the fragments in `precedence` order
(the document's own date, then the content digest), never in arrival order. The same files ingested in
any order give the same dossiers; ingesting a message twice changes nothing.

Rule 2: keys decide where a fragment goes. A call is found by its port call reference, or by port and
voyage (any alias) with no conflicting IMO number; a consignment by its B/L, booking or customs
reference (BAPLIE's dummy '1' never links). A fragment that finds nothing opens a provisional dossier; one
that finds several of one kind merges them into the oldest id.

Rule 3: discrepancies are derived, not accumulated: they are recomputed from the call and its
consignments every time either changes, so one that a later message clears disappears.

No I/O: the store is reached through `Repository`.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import chain, compress, islice, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any, Protocol

from hub.dossier import keys
from hub.dossier.keys import Stamp
from hub.dossier.lifecycle import Direction
from hub.dossier.model import (
    Bayplan,
    BayplanScope,
    ConsignmentDossier,
    DangerousGoods,
    Discrepancy,
    DiscrepancySeverity,
    Event,
    Formality,
    FullEmpty,
    GoodsItem,
    Leg,
    Location,
    Party,
    Procedure,
    Release,
    SourceMessage,
    StowageRecord,
    Temperature,
    Vessel,
    VesselCall,
    discrepancy_id,
    stable_id,
)

WEIGHT_TOLERANCE = 0.05  # relative difference between bayplan and manifest weights that is flagged

# Message kinds (mapping `message.kind`) and the events they put on the timelines.
CALL_EVENTS = {"bayplan": "bayplan_received", "manifest": "manifested", "berthing_request": "berthing_requested",
               "discharge_report": "ops_started", "load_report": "ops_started"}
CONSIGNMENT_EVENTS = {"manifest": "manifested", "instruction": "si_received", "declaration": "declared",
                      "booking": "booked", "health_certificate": "pre_cleared", "discharge_report": "discharged",
                      "load_report": "loaded"}
_DIRECTION_VALUES = frozenset(d.value for d in Direction)
# Equipment movements (COARRI, CODECO) and the consignment events they mean.
MOVEMENT_EVENTS = {"discharge": "discharged", "load": "loaded", "gate_in": "gated_in", "gate_out": "gated_out"}


Key = tuple[str, str, str]  # (key type, normalised value, scope)
# What `_stowed` keeps per call (see `Memo.stowed`): the bayplans by identity, the bayplans with their
# records, the records naming a container, the container keys, the cells in force, the container numbers.
_Stowed = tuple[frozenset[tuple[int, int]], list[tuple[Bayplan, Any]], list[StowageRecord], list[Key],
                dict[str, list[StowageRecord]], set[str]]


class Repository(Protocol):
    """What correlation needs from the store, inside one transaction."""

    def find(self, kind: str, key_type: str, value: str) -> list[str]: ...
    def load(self, dossier_id: str) -> dict[str, Any] | None: ...
    def save(self, dossier_id: str, kind: str, stored: dict[str, Any], index: list[Key]) -> None: ...
    def delete(self, dossier_id: str) -> None: ...
    def new_id(self, kind: str) -> str: ...


class Memo:
    """What one correlation session (a repository used for one or more messages in one transaction)
    may reuse instead of recomputing. Optional: a repository offers it as its `memo` attribute.

    * `built`: per dossier id, the dossier document last written into its stored dict, with the object
      it was encoded from and its index. Valid only while the stored dict still holds that very
      document (checked by identity), so a repository that copies what it loads simply never hits.
    * `bayplans`: the bayplan each call fragment gives (by fragment identity, the fragment kept alive
      with it): a fragment never changes once attached, and a 24,000-record bayplan is costly to
      rebuild on every message of the same call.
    * `call_facts`: likewise, what each call fragment sets on its call (parsed dates, normalised
      voyages, events), for the call it was folded into.
    * `call_folds`: per call, the state of its last fold and the fragments it was folded from, so that
      a new last fragment is folded into it rather than the whole call again (`_fold_call`).
    * `stowed`: per call, the stowage records in force that name a container and their sorted
      container keys, with the bayplans (and their records) they were taken from, the cells in force
      and the set of container numbers: the call's index, its consignments' look-up and its
      discrepancies all walk them, on every save of a busy call.
    * `ordered`: per fragments dict (by identity, kept alive with it), its fragments in precedence
      order as `_ordered` last gave them, with the fragments they were taken from: a message adds one
      fragment, which is put in its place instead of the whole call being sorted again.
    """

    def __init__(self) -> None:
        self.built: dict[str, tuple[dict[str, Any], VesselCall | ConsignmentDossier, list[Key]]] = {}
        self.bayplans: dict[int, tuple[dict[str, Any], Bayplan]] = {}
        self.sources: dict[int, tuple[dict[str, Any], tuple[tuple[str, str, str], SourceMessage]]] = {}
        self.ordered: dict[int, tuple[dict[str, Any], list[dict[str, Any]],
                                      list[tuple[tuple[str, str, str], SourceMessage, dict[str, Any]]]]] = {}
        self.encoded: dict[int, tuple[Bayplan, dict[str, list[StowageRecord]], dict[str, Any]]] = {}
        self.call_facts: dict[int, tuple[dict[str, Any], str, _CallFacts]] = {}
        self.encoded_events: dict[int, tuple[Event, dict[str, Any]]] = {}
        self.call_folds: dict[str, tuple[tuple[dict[str, Any], ...], VesselCall, dict[str, Any]]] = {}
        self.stowed: dict[str, _Stowed] = {}

    def forget(self, dossier_id: str) -> None:
        """Drop what is kept per dossier (its build, its call fold, its stowage), e.g. when the dossier
        leaves a cache or its transaction did not commit."""
        self.built.pop(dossier_id, None)
        self.call_folds.pop(dossier_id, None)
        self.stowed.pop(dossier_id, None)

    def encode_call(self, vc: VesselCall) -> dict[str, Any]:
        """vc.to_dict(), reusing the encoding of each bayplan already encoded (same object, same
        records): a bayplan never changes once built from its fragment; and of each event, which
        `call_facts` made once for its fragment and nothing changes afterwards."""
        plans, events = vc.bayplans, vc.events
        vc.bayplans, vc.events = [], []
        try:
            out = vc.to_dict()
        finally:
            vc.bayplans, vc.events = plans, events
        cache = self.encoded_events  # inline: a busy call has a hundred events, encoded once each
        encoded_events = []
        for e in events:
            known = cache.get(id(e))
            if known is None or known[0] is not e:
                known = cache[id(e)] = (e, e.to_dict())
            encoded_events.append(known[1])
        out["events"] = encoded_events
        encoded = []
        for b in plans:
            hit = self.encoded.get(id(b))
            if hit is None or hit[0] is not b or hit[1] is not b.records:
                hit = self.encoded[id(b)] = (b, b.records, b.to_dict())
            encoded.append(hit[2])
        out["bayplans"] = encoded
        return out

    def source(self, data: dict[str, Any]) -> SourceMessage:
        """SourceMessage.from_dict, once per fragment's source dict (never changed once attached)."""
        return self.ranked_source(data)[1]

    def ranked_source(self, data: dict[str, Any]) -> tuple[tuple[str, str, str], SourceMessage]:
        """(its precedence, the source) of a fragment's source dict, each made once."""
        hit = self.sources.get(id(data))
        if hit is not None and hit[0] is data:
            return hit[1]
        src = SourceMessage.from_dict(data)
        ranked = (src.precedence(), src)
        self.sources[id(data)] = (data, ranked)
        return ranked

    def object_of(self, dossier_id: str, stored: dict[str, Any]) -> tuple[Any, list[Key]] | None:
        hit = self.built.get(dossier_id)
        if hit is not None and hit[0] is stored.get("dossier"):
            return hit[1], hit[2]
        return None


def _memo(repo: Repository) -> Memo | None:
    memo = getattr(repo, "memo", None)
    return memo if isinstance(memo, Memo) else None


@dataclass
class Outcome:
    """What one message did: the dossiers it touched, and whether each was new."""

    calls: list[str] = field(default_factory=list)
    consignments: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def source_of(message_id: str, doc: dict[str, Any], sha256: str | None = None,
              received_at: str | None = None, channel: str | None = None) -> SourceMessage:
    m = doc.get("message", {})
    date = m.get("date")
    return SourceMessage(
        message_id=message_id, channel=channel, sender=m.get("sender"), recipient=m.get("recipient"),
        interchange_ref=m.get("interchange_ref"), message_ref=m.get("message_ref"),
        message_type=m.get("type"), document_number=m.get("number"), function=m.get("function"),
        issued_at=Stamp.from_dict(date) if date else None, received_at=received_at, sha256=sha256)


# --- fragments ---------------------------------------------------------------------------------------

def call_keys(call: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys that identify a call: its port call reference, or port and voyage."""
    out = []
    port = call.get("port")
    if call.get("port_call_ref"):
        out.append(("port_call_ref", f"{port or ''}|{keys.normalise_reference(call['port_call_ref'])}"))
    if port:
        for v in (call.get("voyage_in"), call.get("voyage_out")):
            if v:
                out.append(("port_voyage", f"{port}|{keys.normalise_voyage(v)}"))
    return out


def _vessel_imo(call: dict[str, Any]) -> str | None:
    if call.get("vessel_imo"):
        return keys.normalise_imo(str(call["vessel_imo"]))
    if call.get("vessel_id_scheme") == "imo" and call.get("vessel_id"):
        return keys.normalise_imo(str(call["vessel_id"]))
    return None


def _consignment_keys(c: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys a consignment fragment is found by, normalised as `keys.normalise_key` makes them (B/L
    and booking without the BAPLIE dummy; the references of a manifest's 5,000 B/Ls go straight to the
    normalisation of their kind)."""
    out = []
    for kt, f in (("bl", "master_bl"), ("booking", "booking")):
        norm = keys.real_reference(c.get(f))
        if norm:
            out.append((kt, norm))
    for kt in ("customs_ref", "ucr"):
        v = c.get(kt)
        norm = keys.normalise_reference(v) if v else None
        if norm:
            out.append((kt, norm))
    for h in c.get("house_bls") or ():
        norm = keys.real_reference(h)
        if norm:
            out.append(("bl", norm))
    return out


def _consignments_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Consignment fragments: the mapped consignments, plus those that procedures, releases and
    equipment movements naming a B/L imply (a customs release for a B/L is a fact about that
    consignment). Message-level equipment facts (a manifest's container weights) are copied onto the
    consignment equipment with the same number."""
    by_number = {keys.container_value(e["number"]): e for e in doc.get("equipment") or ()
                 if isinstance(e, dict) and e.get("number")}
    out = []
    for c in doc.get("consignments") or ():
        if not _consignment_keys(c):
            continue
        c = dict(c)
        if by_number and c.get("equipment"):
            merged = []
            for e in c["equipment"]:
                if isinstance(e, dict) and e.get("number"):
                    extra = by_number.get(keys.container_value(e["number"]), {})
                    e = {**{k: v for k, v in extra.items() if k in ("gross_weight", "vgm", "seals")}, **e}
                merged.append(e)
            c["equipment"] = merged
        out.append(c)
    for e in doc.get("equipment") or ():
        bl = e.get("bl") if isinstance(e, dict) else None
        if keys.real_reference(bl) and e.get("movement"):
            out.append({"master_bl": bl, "equipment": [e], "movements": [e]})
    for kind in ("procedures", "releases"):
        for item in doc.get(kind) or ():
            bl = item.get("bl")
            if keys.real_reference(bl):
                entry = {k: v for k, v in item.items() if k not in ("bl", "container")}
                if item.get("container"):
                    entry["equipment"] = [item["container"]]
                out.append({"master_bl": bl, kind: [entry]})
    return _one_per_consignment(out)


def _one_per_consignment(fragments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the fragments of one message that share a key: a dossier keeps one fragment per message,
    so a second one would replace the first. Lists are concatenated; the first value of a field stays."""
    out: list[dict[str, Any]] = []
    owner: dict[tuple[str, str], dict[str, Any]] = {}  # key -> the fragment holding it
    for frag in fragments:
        frag_keys = _consignment_keys(frag)
        into = next((owner[key] for key in frag_keys if key in owner), None)
        if into is None:
            out.append(frag)
            into = frag
        else:
            for k, v in frag.items():
                if isinstance(v, list):
                    into[k] = [*(into.get(k) or []), *v]
                else:
                    into.setdefault(k, v)
        for key in frag_keys:
            owner.setdefault(key, into)
    return out


# --- the entry point ---------------------------------------------------------------------------------

def correlate(repo: Repository, source: SourceMessage, doc: dict[str, Any]) -> Outcome:
    """Attach one mapped message to its dossiers (idempotent)."""
    out = Outcome()
    call_id: str | None = None
    call = doc.get("call") or {}
    kind = doc.get("message", {}).get("kind")
    # The source as fragments keep it: one dict for all the fragments of this message (nothing changes
    # a fragment's source in place), decoded once for the memo, not once per consignment.
    encoded = source.to_dict()
    memo = _memo(repo)
    if memo is not None:
        memo.source(encoded)
    if call_keys(call) or call.get("vessel_name") or call.get("vessel_id"):
        if call_keys(call):
            call_id = _attach(repo, "vessel_call", call_keys(call), source, encoded, _call_fragment(doc), out,
                              imo=_vessel_imo(call))
            out.calls.append(call_id)
        else:
            out.notes.append("the message names a vessel but no port and voyage or port call reference: "
                             "it was not attached to a vessel call")
    keyed = [(c, _consignment_keys(c)) for c in _consignments_of(doc)]
    prefetch = getattr(repo, "prefetch", None)
    if prefetch is not None and len(keyed) > 1:
        prefetch("consignment", [k for _, ks in keyed for k in ks])
    for c, ks in keyed:
        frag = {"consignment": c, "kind": kind, "call_id": call_id, "call_port": call.get("port")}
        cid = _attach(repo, "consignment", ks, source, encoded, frag, out)
        out.consignments.append(cid)
    # Calls whose consignments changed get their discrepancies recomputed.
    touched_calls = set(out.calls)
    if call_id is None:
        for cid in out.consignments:
            stored = repo.load(cid)
            if stored and stored["dossier"].get("call_id"):
                touched_calls.add(stored["dossier"]["call_id"])
    for c_id in sorted(touched_calls):
        _refresh_call(repo, c_id)
    return out


def prefetch_keys(repo: Repository, docs: Iterable[dict[str, Any]]) -> None:
    """Look up at once the keys by which several mapped messages (a pipeline batch) will find their
    calls and consignments, for a repository that can (`prefetch`): one query per kind and key type
    instead of one per key and message (on PostgreSQL a round trip each). What the batch itself files
    meanwhile, the repository overlays on these answers; a new dossier is looked for again under lock.
    A repository that can also locks at once the keys that found nothing (`lock_unfound`, for the
    dossiers the batch is about to open) and the dossiers that were found (`lock_found`)."""
    prefetch = getattr(repo, "prefetch", None)
    if prefetch is None:
        return
    calls: list[tuple[str, str]] = []
    consignments: list[tuple[str, str]] = []
    # The containers stowed on the calls the batch touches (as the memo last saw them, below) and those
    # its bayplans bring: the refresh of a call looks up which consignments carry them (small bayplans,
    # `_relevant_consignments`), otherwise once per call and batch.
    containers: dict[str, None] = {}
    for doc in docs:
        calls += call_keys(doc.get("call") or {})
        consignments += [k for c in _consignments_of(doc) for k in _consignment_keys(c)]
        stowage = doc.get("stowage") or ()
        if len(stowage) <= _FEW_STOWED:
            containers.update((r["equipment"], None) for r in stowage
                              if isinstance(r, dict) and r.get("cell") and isinstance(r.get("equipment"), str))
    lock_unfound = getattr(repo, "lock_unfound", None)
    for kind, wanted in (("vessel_call", calls), ("consignment", consignments)):
        if wanted:
            prefetch(kind, wanted)
            if lock_unfound is not None:
                lock_unfound(kind, wanted)
    memo = _memo(repo)
    if memo is not None:
        for kt, v in dict.fromkeys(calls):
            for call_id in repo.find("vessel_call", kt, v):
                kept = memo.stowed.get(call_id)
                if kept is not None and len(kept[5]) <= _FEW_STOWED:
                    containers.update(dict.fromkeys(kept[5]))
    if containers:
        prefetch("consignment", [("container", n) for n in containers])
    lock_found = getattr(repo, "lock_found", None)
    if lock_found is not None:
        lock_found()


def _attach(repo: Repository, kind: str, index: list[tuple[str, str]], source: SourceMessage,
            encoded_source: dict[str, Any], fragment: dict[str, Any], out: Outcome, imo: str | None = None) -> str:
    found = _found(repo, kind, index, imo)
    lock_new = getattr(repo, "lock_new", None)
    if not found and lock_new is not None and lock_new(kind, index):
        found = _found(repo, kind, index, imo)  # another process may have opened it meanwhile
    if not found:
        target = repo.new_id(kind)
        stored: dict[str, Any] = {"fragments": {}}
        out.created.append(target)
    else:
        found.sort()
        target = found[0]
        stored = repo.load(target) or {"fragments": {}}
        for other in found[1:]:  # one message proves these are one dossier: merge them
            extra = repo.load(other)
            if extra:
                stored["fragments"].update(extra["fragments"])
            repo.delete(other)
            out.merged.append(other)
            if kind == "vessel_call":
                _repoint_consignments(repo, other, target)
    stored["fragments"][source.message_id] = {"source": encoded_source, **fragment}
    _rebuild(repo, kind, target, stored)
    return target


def _found(repo: Repository, kind: str, index: list[tuple[str, str]], imo: str | None) -> list[str]:
    """The dossiers the keys find, oldest link first; for a call, those whose vessel agrees."""
    found: list[str] = []
    for kt, value in index:
        for did in repo.find(kind, kt, value):
            if did not in found:
                found.append(did)
    if imo and kind == "vessel_call":
        found = [d for d in found if _imo_agrees(repo, d, imo)]
    return found


def _imo_agrees(repo: Repository, dossier_id: str, imo: str) -> bool:
    stored = repo.load(dossier_id)
    if stored is None:
        return False
    other = (stored["dossier"].get("vessel") or {}).get("imo")
    return other is None or other == imo


def _repoint_consignments(repo: Repository, old: str, new: str) -> None:
    for cid in repo.find("consignment", "call_id", old):
        stored = repo.load(cid)
        if stored is None:
            continue
        for source, frag in list(stored["fragments"].items()):
            if frag.get("call_id") == old:
                # A new dict, not a change in place: a repository tells changed fragments by identity.
                stored["fragments"][source] = {**frag, "call_id": new}
        _rebuild(repo, "consignment", cid, stored)


def _ordered(stored: dict[str, Any], memo: Memo | None = None) -> list[tuple[SourceMessage, dict[str, Any]]]:
    if memo is None:
        items = [(SourceMessage.from_dict(f["source"]), f) for f in stored["fragments"].values()]
        items.sort(key=lambda sf: sf[0].precedence())
        return items
    fragments = stored["fragments"]
    hit = memo.ordered.get(id(fragments))
    ranked: list[tuple[tuple[str, str, str], SourceMessage, dict[str, Any]]]
    if hit is not None and hit[0] is fragments and len(fragments) - len(hit[1]) in (0, 1) and all(
            map(is_, hit[1], islice(fragments.values(), len(hit[1])))):
        # the fragments the memo ordered, in the same places, and perhaps one more after them (a new
        # key goes last in a dict): put it in its place
        ranked = list(hit[2])
        if len(fragments) > len(hit[1]):
            new = next(reversed(fragments.values()))
            insort(ranked, (*memo.ranked_source(new["source"]), new), key=itemgetter(0))
    else:
        ranked = [(*memo.ranked_source(f["source"]), f) for f in fragments.values()]
        ranked.sort(key=itemgetter(0))
    memo.ordered[id(fragments)] = (fragments, list(fragments.values()), ranked)
    return [(src, f) for _, src, f in ranked]


def _rebuild(repo: Repository, kind: str, dossier_id: str, stored: dict[str, Any]) -> None:
    dossier: VesselCall | ConsignmentDossier
    if kind == "vessel_call":
        vc = _fold_call(dossier_id, _ordered(stored, _memo(repo)), _memo(repo))
        previous = stored.get("dossier", {}).get("discrepancies")
        if previous:  # derived by _refresh_call; kept until it runs again
            vc.discrepancies = [Discrepancy.from_dict(d) for d in previous]
        index = _call_index(vc, _memo(repo))
        dossier = vc
    else:
        dossier = _fold_consignment(dossier_id, _ordered(stored, _memo(repo)))
        index = _consignment_index(dossier)
    dossier.canonicalise()
    memo = _memo(repo)
    if memo is not None and isinstance(dossier, VesselCall):
        stored["dossier"] = memo.encode_call(dossier)
    else:
        stored["dossier"] = dossier.to_dict()
    if memo is not None:
        memo.built[dossier_id] = (stored["dossier"], dossier, index)
    repo.save(dossier_id, kind, stored, index)


# --- vessel calls --------------------------------------------------------------------------------------

def _call_fragment(doc: dict[str, Any]) -> dict[str, Any]:
    frag: dict[str, Any] = {"call": doc.get("call") or {}, "kind": doc.get("message", {}).get("kind")}
    if doc.get("stowage") is not None:
        frag["stowage"] = doc["stowage"]
        frag["bayplan"] = doc.get("bayplan") or {}
    for k in ("formalities", "events"):
        if doc.get(k):
            frag[k] = doc[k]
    return frag


def _stamp(v: Any) -> Stamp | None:
    return Stamp.from_dict(v) if isinstance(v, dict) else None


@dataclass(slots=True)
class _CallFacts:
    """What one call fragment says about its call, parsed once: a fragment never changes once attached,
    and a busy call folds every one of its fragments again for each new message."""

    fields: list[tuple[str, Any]]  # (attribute, value) the fragment sets on the call
    voyages: list[str]
    vessel: dict[str, Any]
    names_vessel: bool
    events: list[Event]


def _call_facts(call_id: str, src: SourceMessage, frag: dict[str, Any]) -> _CallFacts:
    c = frag.get("call", {})
    fields: list[tuple[str, Any]] = [(f, c[f]) for f in ("port", "terminal", "berth", "port_call_ref", "operator",
                                                         "service") if c.get(f)]
    voyages = []
    for f in ("voyage_in", "voyage_out"):
        if c.get(f):
            voyage = keys.normalise_voyage(c[f])
            fields.append((f, voyage))
            voyages.append(voyage)
    for f in ("eta", "etd", "ata", "atd", "ops_start", "ops_end"):
        stamp = _stamp(c.get(f))
        if stamp is not None:
            fields.append((f, stamp))
    for f, role in (("previous_port", "5"), ("next_port", "61")):
        if c.get(f):
            fields.append((f, Location(locode=c[f], qualifier=role)))
    vessel: dict[str, Any] = {}
    imo = _vessel_imo(c)
    if imo:
        vessel["imo"], vessel["imo_valid"] = imo, keys.is_valid_imo(imo)
    if c.get("vessel_name"):
        vessel["name"] = keys.normalise_vessel_name(c["vessel_name"])
    sign = c.get("vessel_call_sign") or (c.get("vessel_id") if c.get("vessel_id_scheme") == "call_sign" else None)
    if sign:
        vessel["call_sign"] = keys.normalise_call_sign(sign)
    if c.get("vessel_flag"):
        vessel["flag"] = c["vessel_flag"]
    names_vessel = any(c.get(k) for k in ("vessel_imo", "vessel_name", "vessel_id", "vessel_call_sign"))
    return _CallFacts(fields, voyages, vessel, names_vessel, list(_call_events(call_id, src, frag)))


def _facts_of(call_id: str, src: SourceMessage, frag: dict[str, Any], memo: Memo | None) -> _CallFacts:
    if memo is None:
        return _call_facts(call_id, src, frag)
    hit = memo.call_facts.get(id(frag))
    if hit is not None and hit[0] is frag and hit[1] == call_id:
        return hit[2]
    facts = _call_facts(call_id, src, frag)
    memo.call_facts[id(frag)] = (frag, call_id, facts)
    return facts


def _fold_call(call_id: str, items: list[tuple[SourceMessage, dict[str, Any]]],
               memo: Memo | None = None) -> VesselCall:
    """The call its fragments give, folded in precedence order (`items`).

    The fold is a left fold: each fragment changes the state the earlier ones left. So when the memo
    holds the state of this call folded from exactly `items[:-1]` (the very fragment objects, in that
    order), only the last fragment is folded in: the usual case of a busy call, whose new message is
    its latest, and which otherwise refolded every fragment of the call for every message. The state
    kept is never the call returned (that one is canonicalised and finished), so it stays the fold's.
    """
    kept = memo.call_folds.get(call_id) if memo is not None else None
    if kept is not None and len(kept[0]) == len(items) - 1 and all(
            f is g for f, (_, g) in zip(kept[0], items, strict=False)):
        vc, vessel = kept[1], kept[2]
        todo = items[-1:]
    else:
        vc, vessel = VesselCall(id=call_id), {}
        todo = items
    for src, frag in todo:
        _fold_step(vc, vessel, src, frag, memo)
    if memo is not None:
        memo.call_folds[call_id] = (tuple(f for _, f in items), vc, vessel)
        vc = _copy_call(vc)
    vc.vessel = Vessel(**vessel)
    vc.refresh_status()
    return vc


def _copy_call(vc: VesselCall) -> VesselCall:
    """A copy whose collections can be sorted and changed without touching `vc`'s (the items in them
    are shared: none is changed once folded in)."""
    out = replace(vc)
    out.voyage_aliases = list(vc.voyage_aliases)
    out.formalities = list(vc.formalities)
    out.bayplans = list(vc.bayplans)
    out.events = list(vc.events)
    out.discrepancies = list(vc.discrepancies)
    out.sources = list(vc.sources)
    out.provenance = dict(vc.provenance)
    return out


def _fold_step(vc: VesselCall, vessel: dict[str, Any], src: SourceMessage, frag: dict[str, Any],
               memo: Memo | None) -> None:
    # Provenance is written directly, not through record_source: none of the paths set here is the
    # parent of another (no "vessel.x" beside "vessel"), so there is never a child entry to drop, and
    # record_source's scan of every entry, per field and per fragment, was a third of a busy call's fold.
    mid = src.message_id
    provenance = vc.provenance
    facts = _facts_of(vc.id, src, frag, memo)
    for f, value in facts.fields:
        setattr(vc, f, value)
        provenance[f] = mid
    vc.voyage_aliases.extend(facts.voyages)
    vessel.update(facts.vessel)
    if facts.names_vessel:
        provenance["vessel"] = mid
    kind = frag.get("kind")
    if kind == "manifest":
        vc.formalities = [f for f in vc.formalities
                          if f.kind != "import_manifest" or f.reference != src.document_number]
        vc.formalities.append(Formality(kind="import_manifest", reference=src.document_number, source=mid))
    if kind == "berthing_request":
        vc.formalities.append(Formality(kind="berthing_request", reference=src.document_number, source=mid))
        if vc.eta is not None:
            vc.berthing_requested_at = src.issued_at
    for f in frag.get("formalities") or ():
        vc.formalities.append(Formality(kind=f.get("kind", "other"), reference=f.get("reference"), source=mid))
    if "stowage" in frag:
        _add_bayplan(vc, src, frag, memo)
    vc.events.extend(facts.events)
    vc.sources.append(mid)


def _add_bayplan(vc: VesselCall, src: SourceMessage, frag: dict[str, Any], memo: Memo | None = None) -> None:
    hit = memo.bayplans.get(id(frag)) if memo is not None else None
    if hit is not None and hit[0] is frag:
        bp = hit[1]
    else:
        bp, encoded = _bayplan(src, frag)
        if memo is not None:
            memo.bayplans[id(frag)] = (frag, bp)
            memo.encoded[id(bp)] = (bp, bp.records, encoded)  # what encode_call would make of it
    vc.bayplans.append(bp)
    vc.provenance[f"bayplans[{bp.id}]"] = src.message_id


def _bayplan(src: SourceMessage, frag: dict[str, Any]) -> tuple[Bayplan, dict[str, Any]]:
    """The bayplan of a fragment, its records by cell in cell order (as `canonicalise` leaves them: it
    then keeps the very dict, and what is memoised by its identity stays valid), and its `to_dict()`.

    The encoding is made in the same pass, from the values the records are made of: encoding 24,000
    records afterwards read every field back from every record (tests/dossier/test_bayplan_fold.py
    checks the two are the same)."""
    full = frag.get("bayplan", {}).get("full", True)
    bp = Bayplan(id=stable_id("bp", src.message_id), source_message_id=src.message_id,
                 scope=BayplanScope.FULL if full else BayplanScope.PARTIAL, function=src.function,
                 issued_at=src.issued_at)
    encoded = bp.to_dict()  # its records are put in below
    records: dict[str, list[StowageRecord]] = {}
    encoded_records: dict[str, list[dict[str, Any]]] = {}
    # One pass of plain steps per record (24,000 in a large bayplan): each reference normalised once.
    real_reference = keys.real_reference
    for r in frag["stowage"]:
        get = r.get
        cell = get("cell")
        if not cell:
            continue
        gross, vgm, temperature, dg, handling = (get("gross_weight"), get("vgm"), get("temperature"), get("dg"),
                                                 get("handling"))
        equipment, size_type, pol, pod, final_pod, transhipment, carrier = (
            get("equipment"), get("size_type"), get("pol"), get("pod"), get("final_pod"), get("transhipment_port"),
            get("carrier"))
        bl, booking = real_reference(get("bl")), real_reference(get("booking"))
        gross = float(gross) if isinstance(gross, (int, float)) else None
        vgm = float(vgm) if isinstance(vgm, (int, float)) else None
        reefer = (Temperature(value=float(temperature), unit=get("temperature_unit") or "CEL")
                  if temperature is not None else None)
        goods = [_dg(d) for d in dg] if dg else []
        fe = get("full_empty")
        full_empty = FullEmpty.FULL if fe == "full" else FullEmpty.EMPTY if fe == "empty" else None
        # The fields in their declared order, passed by position (a third of the cost of keywords):
        # cell, equipment_number, size_type, pol, pod, final_pod, transhipment_port, gross_weight, vgm,
        # temperature, dg, carrier, bl, booking, full_empty, handling (tests/dossier/test_bayplan_fold.py).
        record = StowageRecord(cell, equipment, size_type, pol, pod, final_pod, transhipment, gross, vgm, reefer,
                               goods, carrier, bl, booking, full_empty, [handling] if handling else [])
        as_dict = {"cell": cell, "equipment_number": equipment, "size_type": size_type, "pol": pol, "pod": pod,
                   "final_pod": final_pod, "transhipment_port": transhipment, "gross_weight": gross, "vgm": vgm,
                   "temperature": reefer.to_dict() if reefer is not None else None,
                   "dg": [d.to_dict() for d in goods] if goods else [], "carrier": carrier, "bl": bl,
                   "booking": booking, "full_empty": full_empty.value if full_empty is not None else None,
                   "handling": [handling] if handling else []}
        in_cell = records.get(cell)
        if in_cell is None:
            records[cell] = [record]
            encoded_records[cell] = [as_dict]
        else:
            in_cell.append(record)
            encoded_records[cell].append(as_dict)
    cells = list(records)
    ordered = sorted(cells)
    if cells == ordered:
        bp.records = records
    else:
        bp.records = {cell: records[cell] for cell in ordered}
        encoded_records = {cell: encoded_records[cell] for cell in ordered}
    encoded["records"] = encoded_records
    return bp, encoded


def _num(v: Any) -> float | None:
    """Numbers as the model stores them (floats), so a dossier built now equals one read back."""
    return float(v) if isinstance(v, (int, float)) else None


def _dg(d: dict[str, Any]) -> DangerousGoods:
    flash = d.get("flashpoint")
    return DangerousGoods(un_number=d.get("un_number"), imdg_class=d.get("imdg_class"),
                          packing_group=d.get("packing_group"), proper_shipping_name=d.get("proper_shipping_name"),
                          flashpoint=Temperature(value=float(flash), unit="CEL") if flash is not None else None)


def _in_force_order(b: Bayplan) -> tuple[str, str]:
    """The order in which `current_stowage` lays a call's bayplans over each other."""
    return (b.issued_at.utc or "") if b.issued_at else "", b.source_message_id


def _file_of(b: Bayplan) -> str:
    return b.source_message_id.split(".", 1)[0]


def current_stowage(vc: VesselCall) -> dict[str, list[StowageRecord]]:
    """The bayplan in force: the latest full one (by precedence), with later partial ones merged by cell."""
    plans = sorted(vc.bayplans, key=_in_force_order)
    cells: dict[str, list[StowageRecord]] = {}
    previous_file = None
    for b in plans:
        # The messages of one interchange file ('<file>.<n>') are the parts of one bayplan, as SMDG
        # splits a large ship's plan: only a full plan from another file replaces the one in force.
        file = _file_of(b)
        if b.scope is BayplanScope.FULL and file != previous_file:
            cells = {}
        cells.update(b.records)
        previous_file = file
    return cells


def _call_events(call_id: str, src: SourceMessage, frag: dict[str, Any]) -> Iterable[Event]:
    kind = frag.get("kind")
    c = frag.get("call", {})
    out = []
    if kind in CALL_EVENTS:
        out.append(Event(id=stable_id("ev", src.message_id, CALL_EVENTS[kind]), dossier_id=call_id,
                         type=CALL_EVENTS[kind], time=src.issued_at, source_message_id=src.message_id))
    for f in ("eta", "ata", "etd", "atd"):
        st = _stamp(c.get(f))
        if st is not None:
            out.append(Event(id=stable_id("ev", src.message_id, f), dossier_id=call_id, type=f, time=st,
                             source_message_id=src.message_id))
    if src.function == "cancellation":
        out.append(Event(id=stable_id("ev", src.message_id, "cancelled"), dossier_id=call_id, type="cancelled",
                         time=src.issued_at, source_message_id=src.message_id))
    for e in frag.get("events") or ():
        out.append(Event(id=stable_id("ev", src.message_id, e.get("type", "")), dossier_id=call_id,
                         type=e.get("type", "note"), time=_stamp(e.get("time")), source_message_id=src.message_id,
                         detail={"text": e["detail"]} if e.get("detail") else {}))
    return out


def _call_index(vc: VesselCall, memo: Memo | None = None) -> list[Key]:
    """Lookup keys (port_call_ref, port_voyage) and query keys (the rest) of a call, sorted."""
    index: list[Key] = []
    if vc.port_call_ref:
        ref = keys.normalise_reference(vc.port_call_ref)
        index.append(("port_call_ref", f"{vc.port or ''}|{ref}", ""))
        index.append(("port_call_ref", ref, vc.port or ""))
    for v in dict.fromkeys(vc.voyage_aliases):  # a busy call's fold repeats them (canonicalise dedupes)
        if vc.port:
            index.append(("port_voyage", f"{vc.port}|{v}", ""))
        index.append(("voyage", v, vc.port or ""))
    if vc.vessel.imo:
        index.append(("imo", vc.vessel.imo, ""))
    if vc.vessel.name:
        index.append(("vessel_name", vc.vessel.name, ""))
    if vc.vessel.call_sign:
        index.append(("call_sign", vc.vessel.call_sign, ""))
    # The container keys come sorted and distinct; no other key has their type, so they go between
    # the keys whose type sorts before "container" and those after it, as one sort of all would put them.
    head = sorted(set(index))
    return ([k for k in head if k[0] < "container"] + _stowed(vc, memo)[1]
            + [k for k in head if k[0] > "container"])


_EQUIPMENT_NUMBER = attrgetter("equipment_number")
_VALUE = itemgetter(1)


def _stowed(vc: VesselCall, memo: Memo | None = None) -> tuple[list[StowageRecord], list[Key]]:
    """The records of the bayplan in force that name a container, in `current_stowage` order, and the
    call's container keys, sorted and distinct; kept in the memo while the call has the same bayplans,
    and grown from it when the call gains a bayplan that only adds cells (`_grown`)."""
    records, container_keys, _ = _stowage_in_force(vc, memo)
    return records, container_keys


def _stowed_numbers(vc: VesselCall, memo: Memo | None = None) -> set[str]:
    """The container numbers of the bayplan in force (not to be changed: the memo keeps the set)."""
    return _stowage_in_force(vc, memo)[2]


def _stowage_in_force(vc: VesselCall, memo: Memo | None) -> tuple[list[StowageRecord], list[Key], set[str]]:
    # By identity and in any order (canonicalise sorts a call's bayplans; current_stowage sorts them
    # itself). The entry keeps the objects alive, so their ids cannot stand for others.
    plans = frozenset((id(b), id(b.records)) for b in vc.bayplans)
    hit = memo.stowed.get(vc.id) if memo is not None else None
    if hit is not None and hit[0] == plans:
        return hit[2], hit[3], hit[5]
    grown = _grown(hit, plans, vc) if hit is not None else None
    if grown is not None:
        cells, records, container_keys, numbers = grown
    else:
        # In C (itertools, map): a busy call has 24,000 records, walked again whenever its bayplans change.
        cells = current_stowage(vc)
        every = list(chain.from_iterable(cells.values()))
        records = list(compress(every, map(_EQUIPMENT_NUMBER, every)))
        numbers = set(map(_EQUIPMENT_NUMBER, records))
        # Sorted as strings, then made keys: one order (type and scope are the same), a tenth of the time.
        container_keys = list(zip(repeat("container"), sorted(numbers), repeat("")))
    if memo is not None:
        memo.stowed[vc.id] = (plans, [(b, b.records) for b in vc.bayplans], records, container_keys, cells,
                              numbers)
    return records, container_keys, numbers


def _grown(kept: _Stowed, plans: frozenset[tuple[int, int]],
           vc: VesselCall) -> tuple[dict[str, list[StowageRecord]], list[StowageRecord], list[Key], set[str]] | None:
    """`_stowed`'s cells, records, container keys and container numbers for `vc`, worked out from what
    it kept for the same call with one bayplan fewer, when `current_stowage` merges that bayplan last
    and it adds cells without replacing any: the usual case of a large bayplan split over the messages
    of one interchange, whose every message would otherwise walk and sort all the records so far again.
    None when that is not the case (the plain computation then runs)."""
    old_plans, kept_plans, old_records, old_keys, old_cells, old_numbers = kept
    added = plans - old_plans
    if len(added) != 1 or len(plans) != len(old_plans) + 1:
        return None
    (new_id, new_records_id), = added
    new = next((b for b in vc.bayplans if id(b) == new_id and id(b.records) == new_records_id), None)
    if new is None or not kept_plans:
        return None
    last = max((b for b, _ in kept_plans), key=_in_force_order)
    if _in_force_order(new) <= _in_force_order(last):
        return None  # not merged last
    if new.scope is BayplanScope.FULL and _file_of(new) != _file_of(last):
        return None  # it replaces the plan in force
    if not old_cells.keys().isdisjoint(new.records):
        return None  # it replaces cells: their records leave the plan in force
    every = list(chain.from_iterable(new.records.values()))
    added_records = list(compress(every, map(_EQUIPMENT_NUMBER, every)))
    fresh = set(map(_EQUIPMENT_NUMBER, added_records)) - old_numbers
    container_keys = old_keys + list(zip(repeat("container"), sorted(fresh), repeat("")))
    container_keys.sort(key=_VALUE)  # two sorted runs, merged in one pass (type and scope are the same)
    return {**old_cells, **new.records}, old_records + added_records, container_keys, old_numbers | fresh


# --- consignments ------------------------------------------------------------------------------------

def _loc(v: Any, role: str) -> Location | None:
    return Location(locode=str(v), qualifier=role) if v else None


def _fold_consignment(cid: str, items: list[tuple[SourceMessage, dict[str, Any]]]) -> ConsignmentDossier:
    cd = ConsignmentDossier(id=cid)
    goods: dict[int, GoodsItem] = {}
    parties: dict[str, Party] = {}
    procedures: dict[str, Procedure] = {}
    releases: dict[str, Release] = {}
    equipment: set[str] = set()
    explicit_direction = False
    for src, frag in items:
        mid = src.message_id
        c = frag["consignment"]
        if frag.get("call_id"):
            cd.call_id = frag["call_id"]
            cd.record_source("call_id", mid)
            leg = Leg(stage="20", call_id=frag["call_id"])
            if leg.key() not in {lg.key() for lg in cd.legs}:
                cd.legs.append(leg)
        if c.get("master_bl"):
            cd.master_bl = keys.normalise_bl(c["master_bl"])
            cd.record_source("master_bl", mid)
        for f in ("booking", "ucr"):
            if c.get(f):
                setattr(cd, f, keys.normalise_reference(c[f]))
                cd.record_source(f, mid)
        for f in ("carrier", "transport_document_type"):
            if c.get(f):
                setattr(cd, f, c[f])
                cd.record_source(f, mid)
        if c.get("direction") in _DIRECTION_VALUES:
            cd.direction = Direction(c["direction"])
            cd.record_source("direction", mid)
            explicit_direction = True
        elif not explicit_direction and frag.get("call_port"):
            # Not stated: the route says it, seen from the port of the call the message is about.
            port = frag["call_port"]
            inferred = (Direction.IMPORT if c.get("pod") == port or c.get("place_of_delivery") == port
                        else Direction.EXPORT if c.get("pol") == port or c.get("place_of_receipt") == port
                        else None)
            if inferred is not None:
                cd.direction = inferred
                cd.record_source("direction", mid)
        for h in c.get("house_bls") or ():
            cd.house_bls.append(keys.normalise_bl(h))
        for f, role in (("place_of_receipt", "88"), ("pol", "9"), ("pod", "11"), ("place_of_delivery", "7")):
            if c.get(f):
                setattr(cd.route, f, _loc(c[f], role))
                cd.record_source(f"route.{f}", mid)
        for p in c.get("parties") or ():
            if not p.get("role"):
                continue
            street = p.get("street")
            parties[p["role"]] = Party(role=p["role"], id=p.get("id"), scheme=p.get("scheme"), name=p.get("name"),
                                       address=[street] if street else [], city=p.get("city"),
                                       postcode=p.get("postcode"), country=p.get("country"))
            cd.record_source(f"parties[{p['role']}]", mid)
        for k, g in enumerate(c.get("goods") or (), 1):
            no = int(g.get("item_no") or k) if str(g.get("item_no") or k).isdigit() else k
            goods[no] = GoodsItem(item_no=no, packages=int(g["packages"]) if g.get("packages") is not None else None,
                                  package_type=g.get("package_type"), description=g.get("description"),
                                  hs_code=g.get("hs_code"), gross_weight=_num(g.get("gross_weight")),
                                  net_weight=_num(g.get("net_weight")), volume=_num(g.get("volume")),
                                  marks=[g["marks"]] if g.get("marks") else [],
                                  dg=[_dg(d) for d in g.get("dg") or ()])
            cd.record_source(f"goods_items[{no}]", mid)
        for e in c.get("equipment") or ():
            number = e.get("number") if isinstance(e, dict) else e
            if number:
                equipment.add(keys.container_value(number))
        for p in c.get("procedures") or ():
            proc = Procedure(kind=p.get("kind", "customs_declaration"), reference=p.get("reference"),
                             authority=p.get("authority"), status=p.get("status"), decision=p.get("decision"),
                             lodged_at=_stamp(p.get("lodged_at")), decided_at=_stamp(p.get("decided_at")),
                             source=mid)
            procedures[proc.key()] = proc
            if proc.status == "released":  # a customs decision to release is a release
                rel = Release(kind="customs", reference=proc.reference, released_at=proc.decided_at, source=mid)
                releases[rel.key()] = rel
        for r in c.get("releases") or ():
            rel = Release(kind=r.get("kind", "customs"), reference=r.get("reference"),
                          released_at=_stamp(r.get("released_at")), equipment=sorted(r.get("equipment") or []),
                          source=mid)
            releases[rel.key()] = rel
        cd.events.extend(_consignment_events(cid, src, frag))
        cd.sources.append(mid)
    cd.goods_items = list(goods.values())
    cd.parties = list(parties.values())
    cd.procedures = list(procedures.values())
    cd.releases = list(releases.values())
    cd.equipment = sorted(equipment)
    cd.discrepancies = _consignment_discrepancies(cd, items)
    cd.refresh_status()
    return cd


def _consignment_events(cid: str, src: SourceMessage, frag: dict[str, Any]) -> list[Event]:
    kind = frag.get("kind")
    # Event ids name the consignment by its keys, not by its hub id (which depends on arrival order).
    who = "|".join(f"{t}={v}" for t, v in sorted(_consignment_keys(frag["consignment"])))
    out = []
    if kind in CONSIGNMENT_EVENTS:
        t = CONSIGNMENT_EVENTS[kind]
        out.append(Event(id=stable_id("ev", src.message_id, who, t), dossier_id=cid, type=t, time=src.issued_at,
                         source_message_id=src.message_id))
    c = frag["consignment"]
    released = [dict(r) for r in c.get("releases") or ()]
    released += [{"reference": p.get("reference"), "released_at": p.get("decided_at"), "kind": "customs"}
                 for p in c.get("procedures") or () if p.get("status") == "released"]
    for r in released:
        out.append(Event(id=stable_id("ev", src.message_id, who, "released", r.get("reference") or ""),
                         dossier_id=cid, type="released", time=_stamp(r.get("released_at")) or src.issued_at,
                         source_message_id=src.message_id, detail={"kind": r.get("kind", "customs")}))
    for p in c.get("procedures") or ():
        if p.get("status") in ("under_control", "inspection"):
            out.append(Event(id=stable_id("ev", src.message_id, who, "inspection", p.get("reference") or ""),
                             dossier_id=cid, type="inspection_ordered", time=src.issued_at,
                             source_message_id=src.message_id))
    for mv in c.get("movements") or ():
        moved = MOVEMENT_EVENTS.get(mv.get("movement", ""))
        if moved:
            out.append(Event(id=stable_id("ev", src.message_id, who, moved, mv.get("number") or ""),
                             dossier_id=cid, type=moved, time=_stamp(mv.get("movement_time")) or src.issued_at,
                             source_message_id=src.message_id, detail={"container": mv.get("number") or ""}))
    if src.function == "cancellation":
        out.append(Event(id=stable_id("ev", src.message_id, who, "cancelled"), dossier_id=cid, type="cancelled",
                         time=src.issued_at, source_message_id=src.message_id))
    return out


def _consignment_index(cd: ConsignmentDossier) -> list[Key]:
    index: list[Key] = []
    if cd.master_bl:
        index.append(("bl", cd.master_bl, ""))
    index += [("bl", h, "") for h in cd.house_bls]
    if cd.booking:
        index.append(("booking", cd.booking, ""))
    if cd.ucr:
        index.append(("ucr", cd.ucr, ""))
    if cd.call_id:
        index.append(("call_id", cd.call_id, ""))
    for p in cd.procedures:
        if p.reference and p.kind == "customs_declaration":
            index.append(("customs_ref", keys.normalise_reference(p.reference), ""))
    index += [("container", e, "") for e in cd.equipment]
    return sorted(set(index))


def _consignment_discrepancies(cd: ConsignmentDossier,
                               items: list[tuple[SourceMessage, dict[str, Any]]]) -> list[Discrepancy]:
    out = []
    documented = any(f.get("kind") in ("manifest", "instruction", "booking") for _, f in items)
    if cd.releases and not documented and cd.master_bl:
        k = {"bl": cd.master_bl}
        out.append(Discrepancy(id=discrepancy_id("unknown_bl_in_release", k), type="unknown_bl_in_release",
                               severity=DiscrepancySeverity.ERROR, keys=k,
                               detail=f"A release names B/L {cd.master_bl}, which no manifest or shipping "
                                      "instruction has declared.",
                               message_ids=sorted({r.source for r in cd.releases if r.source})))
    return out


# --- call-level discrepancies --------------------------------------------------------------------------

def _refresh_call(repo: Repository, call_id: str) -> None:
    stored = repo.load(call_id)
    if stored is None:
        return
    memo = _memo(repo)
    hit = memo.object_of(call_id, stored) if memo is not None else None
    consignments = []
    for cid in _relevant_consignments(repo, call_id, hit[0] if hit is not None else None, stored):
        cs = repo.load(cid)
        if cs is not None:
            known = memo.object_of(cid, cs) if memo is not None else None
            obj = known[0] if known is not None else ConsignmentDossier.from_dict(cs["dossier"])
            consignments.append((obj, cs))
    if hit is None:
        vc = VesselCall.from_dict(stored["dossier"])
        vc.discrepancies = call_discrepancies(vc, [c for c, _ in consignments],
                                             _manifest_weights(consignments, memo), memo)
        vc.canonicalise()
        new = vc.to_dict()
        if new != stored["dossier"]:
            stored["dossier"] = new
            index = _call_index(vc, memo)
            if memo is not None:
                memo.built[call_id] = (new, vc, index)
            repo.save(call_id, "vessel_call", stored, index)
        return
    # The call as _rebuild left it (canonical, encoded into stored["dossier"]): only its discrepancies
    # can change, so only they are recomputed, sorted as canonicalise sorts them, and compared.
    vc, index = hit
    found = call_discrepancies(vc, [c for c, _ in consignments], _manifest_weights(consignments, memo), memo)
    found.sort(key=Discrepancy.key)
    encoded = [d.to_dict() for d in found]
    if encoded != stored["dossier"].get("discrepancies"):
        vc.discrepancies = found
        new = {**stored["dossier"], "discrepancies": encoded}
        stored["dossier"] = new
        if memo is not None:
            memo.built[call_id] = (new, vc, index)
        repo.save(call_id, "vessel_call", stored, index)


def _relevant_consignments(repo: Repository, call_id: str, vc: VesselCall | None,
                           stored: dict[str, Any]) -> list[str]:
    """The consignments of the call that can matter to its discrepancies, in the order the store links
    them: those carrying a container of the bayplan in force (the checks only look at stowed
    containers). Without loading the others: a busy call has hundreds of consignments, and every
    message touching one of them refreshes the call."""
    if vc is None:
        vc = VesselCall.from_dict(stored["dossier"])
    stowed = _stowed_numbers(vc, _memo(repo))
    if not stowed:
        return []
    # Few containers in force: them first, then which of their consignments are the call's, so a busy
    # call's hundreds of consignment links are not read for every message.
    find_among = getattr(repo, "find_among", None) if len(stowed) <= _FEW_STOWED else None
    if find_among is None:
        ids = repo.find("consignment", "call_id", call_id)
        if not ids or len(stowed) >= len(ids):
            return ids  # a big bayplan: loading the call's consignments is cheaper than a look-up per container
    prefetch = getattr(repo, "prefetch", None)
    if prefetch is not None:
        prefetch("consignment", [("container", n) for n in stowed])
    carrying = {d for n in stowed for d in repo.find("consignment", "container", n)}
    if find_among is not None:
        return find_among("consignment", "call_id", call_id, carrying) if carrying else []
    return [d for d in ids if d in carrying]


_FEW_STOWED = 200  # up to this many containers in force, _relevant_consignments starts from them


def _manifest_weights(consignments: list[tuple[ConsignmentDossier, dict[str, Any]]],
                      memo: Memo | None = None) -> dict[str, float]:
    """Gross weight per container as the manifests declare it (EQD with its MEA in CUSCAR)."""
    out: dict[str, float] = {}
    for _, stored in consignments:
        for _, frag in _ordered(stored, memo):
            for e in frag["consignment"].get("equipment") or ():
                if isinstance(e, dict) and e.get("number") and e.get("gross_weight") is not None:
                    out[keys.container_value(e["number"])] = float(e["gross_weight"])
    return out


def call_discrepancies(vc: VesselCall, consignments: list[ConsignmentDossier],
                       manifest_weight: dict[str, float], memo: Memo | None = None) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    stowage = _stowed(vc, memo)[0]
    manifested = {e: c for c in consignments for e in c.equipment}
    has_manifest = any(f.kind == "import_manifest" for f in vc.formalities)
    if not has_manifest:
        # Without a manifest only a container some consignment carries or weighs can disagree: a call
        # with its bayplan alone (24,000 records) has nothing to check.
        if not manifested and not manifest_weight:
            return out
        stowage = [r for r in stowage if r.equipment_number in manifested or r.equipment_number in manifest_weight]
    for r in stowage:
        n = r.equipment_number
        assert n is not None
        # The discrepancy lives on the call: its id need not (and must not) name it. Made only for a
        # discrepancy found (most of 24,000 records have none), and shared by those of one record.
        k: dict[str, str] | None = None
        if has_manifest and r.full_empty is not FullEmpty.EMPTY and r.pod == vc.port and n not in manifested:
            k = {"container": n}
            out.append(Discrepancy(id=discrepancy_id("container_not_manifested", k), type="container_not_manifested",
                                   keys=k, severity=DiscrepancySeverity.ERROR,
                                   detail=f"Container {n} (cell {r.cell}) is in the bayplan for discharge at "
                                          f"{vc.port} but in no manifest of the call."))
        weight = r.vgm if r.vgm is not None else r.gross_weight
        declared = manifest_weight.get(n)
        if weight and declared and abs(weight - declared) > WEIGHT_TOLERANCE * max(weight, declared):
            k = k or {"container": n}
            out.append(Discrepancy(id=discrepancy_id("weight_mismatch", k), type="weight_mismatch", keys=k,
                                   detail=f"Container {n}: the bayplan says {weight:g} kg, the manifest "
                                          f"{declared:g} kg (more than {WEIGHT_TOLERANCE:.0%} apart)."))
        c = manifested.get(n)
        if c is not None and c.route.pod is not None and r.pod and c.route.pod.locode != r.pod:
            kk = {"container": n, "bl": c.master_bl or ""}
            out.append(Discrepancy(id=discrepancy_id("pod_mismatch", kk), type="pod_mismatch", keys=kk,
                                   detail=f"Container {n}: the bayplan discharges it at {r.pod}, B/L "
                                          f"{c.master_bl} declares {c.route.pod.locode}."))
    return out


