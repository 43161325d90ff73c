"""Messages the hub writes about its dossiers: IFTSTA status reports and CUSRES release notices.

Routing (`as: iftsta` or `as: cusres` in a partner's `receives:` rule) uses these to tell a partner
what the hub knows, instead of forwarding the message that taught it: a forwarder learns its B/L was
released by customs without being sent the customs message itself. Both take consignment dossiers as
the hub stores them (`ConsignmentDossier.to_dict()`), and both are written in D.95B, the directory the
port's partners read most widely; the hub's own mappings read them back (`iftsta-d95b`,
`cusres-d95b`), which the tests use to check that what is written says what was meant.

What it never does: look at the store, decide who receives what, or read the clock (`now` is given).

IFTSTA (D.95B segment table, used part):

    UNH BGM DTM  SG4 CNI  SG5 STS RFF(BM) RFF(BN) DTM LOC  SG7 EQD  ... UNT

- BGM 1001 23 "Status information", 1004 the interchange's control reference, 1225 9 "Original".
- One CNI per consignment (1490 its position, C503 1004 its master B/L); 999 per message, more
  consignments make more messages in the interchange.
- One SG5 per container (the mapping reads one equipment status per STS), or one without EQD for a
  consignment without containers; 99 per CNI. STS: C601 9015 1 "Transport"; C555 9011 the UNCL code
  nearest the dossier's lifecycle state (`STATUS_CODES`) and 9010 the state itself in capitals.
- DTM 334 "Status change date/time": the dossier's latest dated event, else `now`.
- LOC 11 "Place of discharge": the dossier's port of discharge, when known.

CUSRES release notice (D.95B), one message per consignment with a customs release:

    UNH BGM DTM(137) DTM(204) GIS EQD...  SG5 RFF(BM)  SG5 RFF(ABT)  UNT

- BGM 1001 962 "Document response (Customs)", 1225 9; GIS 7365 4 "Goods released" (the code
  `cusres-d95b` reads as `released`); DTM 204 "Release date (Customs)" the release's time.
- EQD CN per released container (the release's own list, else the consignment's); SG5 RFF BM the
  master B/L, and RFF ABT the release's reference when it has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydifact.segments import Segment

from hub.edifact.contrl import ReplyEnvelope, make_segment

__all__ = ["STATUS_CODES", "build_iftsta", "build_release_notice"]

# Lifecycle state (hub.dossier.lifecycle) -> UNCL 9011 (D.95B) status event code.
STATUS_CODES: dict[str, str] = {
    "booked": "6",  # Booked
    "si_received": "74",  # Received
    "manifested": "50",  # Manifested
    "arrived": "1",  # Arrived
    "discharged": "29",  # Discharged
    "pre_clearance_ok": "8",  # Cleared import restrictions
    "declared": "74",  # Received (the declaration); 9010 says DECLARED
    "under_control": "90",  # Stopped
    "released": "12",  # Cleared by customs
    "delivery_order_issued": "78",  # Released
    "gated_out": "27",  # Despatched
    "closed": "22",  # Delivery completed
    "cancelled": "7",  # Booking cancelled
    "pre_arrival_notified": "68",  # Pre-informed
    "gated_in": "74",  # Received
    "released_for_loading": "2",  # Authorized to load
    "loaded": "48",  # Loaded
    "departed": "24",  # Departed
    "manifest_closed": "14",  # Completed
    "ts_declared": "100",  # Transhipment
}
_UNKNOWN_STATUS = "102"  # Unknown goods/consignments/equipment: a dossier whose direction is not known yet

_IFTSTA = ["IFTSTA", "D", "95B", "UN"]
_CUSRES = ["CUSRES", "D", "95B", "UN"]
_CONSIGNMENTS_PER_MESSAGE = 999  # SG4 repeats 999 times
_STATUSES_PER_CONSIGNMENT = 99  # SG5 repeats 99 times
_RELEASED_CONTAINERS = 999  # header EQD repeats 999 times
_LEN_1154 = 35
_LEN_1004 = 35
_LEN_9010 = 35
_LEN_8260 = 17
_LEN_3225 = 25


def build_iftsta(consignments: Sequence[Mapping[str, Any]], *, our_id: str, our_qualifier: str | None = None,
                 recipient: str, recipient_qualifier: str | None = None, control_ref: str,
                 now: datetime) -> bytes | None:
    """One interchange of IFTSTA status reports, one CNI per consignment dossier (None if there is none
    with a B/L or booking to name it by)."""
    env = ReplyEnvelope.addressed(our_id=our_id, our_qualifier=our_qualifier, recipient=recipient,
                                  recipient_qualifier=recipient_qualifier, control_ref=control_ref, now=now)
    named = [c for c in consignments if c.get("master_bl") or c.get("booking")]
    if not named:
        return None
    messages: list[tuple[str, Sequence[str], Sequence[Segment]]] = []
    for n, start in enumerate(range(0, len(named), _CONSIGNMENTS_PER_MESSAGE), start=1):
        body = [make_segment("BGM", "23", control_ref, "9"),
                make_segment("DTM", ["137", f"{now:%Y%m%d%H%M}", "203"])]
        for position, c in enumerate(named[start:start + _CONSIGNMENTS_PER_MESSAGE], start=1):
            body += _consignment_status(env, position, c, now)
        messages.append((str(n), _IFTSTA, body))
    return env.serialise_many(messages)


def _consignment_status(env: ReplyEnvelope, position: int, c: Mapping[str, Any], now: datetime) -> list[Segment]:
    bl = env.text(c.get("master_bl"), _LEN_1004)
    state = str(c.get("status") or "")
    status = make_segment("STS", "1", [STATUS_CODES.get(state, _UNKNOWN_STATUS), "", "",
                                       env.text(state.replace("_", " ").upper() or "UNKNOWN", _LEN_9010)])
    references = []
    if bl:
        references.append(make_segment("RFF", ["BM", bl]))
    if c.get("booking"):
        references.append(make_segment("RFF", ["BN", env.text(c["booking"], _LEN_1154)]))
    when = _latest_event(c.get("events") or []) or f"{now:%Y%m%d%H%M}"
    group = [status, *references, make_segment("DTM", ["334", when, "203"])]
    pod = ((c.get("route") or {}).get("pod") or {}).get("locode")
    if pod:
        group.append(make_segment("LOC", "11", env.text(pod, _LEN_3225)))
    out = [make_segment("CNI", str(position), bl)]
    containers = [str(x) for x in c.get("equipment") or []][:_STATUSES_PER_CONSIGNMENT]
    if not containers:
        return out + group
    for number in containers:
        out += group
        out.append(make_segment("EQD", "CN", env.text(number, _LEN_8260)))
    return out


def _latest_event(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The time of the latest event with a full time, as CCYYMMDDHHMM (format 203)."""
    times = [str(e["time"].get("utc") or "") for e in events if isinstance(e.get("time"), Mapping)]
    full = sorted(t for t in times if len(t) >= 16 and "T" in t)
    return _stamp_203({"utc": full[-1]}) if full else None


def build_release_notice(consignments: Sequence[Mapping[str, Any]], *, our_id: str,
                         our_qualifier: str | None = None, recipient: str, recipient_qualifier: str | None = None,
                         control_ref: str, now: datetime) -> bytes | None:
    """One interchange of CUSRES release notices, one message per consignment dossier that holds a
    customs release (None if none does)."""
    env = ReplyEnvelope.addressed(our_id=our_id, our_qualifier=our_qualifier, recipient=recipient,
                                  recipient_qualifier=recipient_qualifier, control_ref=control_ref, now=now)
    messages: list[tuple[str, Sequence[str], Sequence[Segment]]] = []
    for c in consignments:
        release = _customs_release(c)
        bl = env.text(c.get("master_bl"), _LEN_1154)
        if release is None or not bl:
            continue
        body = [make_segment("BGM", "962", control_ref, "9"),
                make_segment("DTM", ["137", f"{now:%Y%m%d%H%M}", "203"])]
        released_at = _stamp_203(release.get("released_at"))
        if released_at:
            body.append(make_segment("DTM", ["204", released_at, "203"]))
        body.append(make_segment("GIS", "4"))
        containers = release.get("equipment") or c.get("equipment") or []
        body += [make_segment("EQD", "CN", env.text(str(x), _LEN_8260)) for x in containers[:_RELEASED_CONTAINERS]]
        body.append(make_segment("RFF", ["BM", bl]))
        if release.get("reference"):
            body.append(make_segment("RFF", ["ABT", env.text(str(release["reference"]), _LEN_1154)]))
        messages.append((str(len(messages) + 1), _CUSRES, body))
    return env.serialise_many(messages) if messages else None


def _customs_release(c: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The consignment's latest customs release (by time, undated ones first), or None."""
    releases: list[Mapping[str, Any]] = [r for r in c.get("releases") or [] if r.get("kind") == "customs"]
    if not releases:
        return None
    return max(releases, key=lambda r: str((r.get("released_at") or {}).get("utc") or ""))


def _stamp_203(stamp: Any) -> str | None:
    """A stored Stamp as CCYYMMDDHHMM, midnight for a date without time; None if it was not read."""
    utc = str((stamp or {}).get("utc") or "") if isinstance(stamp, Mapping) else ""
    if len(utc) >= 16:
        return utc[0:4] + utc[5:7] + utc[8:10] + utc[11:13] + utc[14:16]
    if len(utc) == 10:
        return utc[0:4] + utc[5:7] + utc[8:10] + "0000"
    return None
