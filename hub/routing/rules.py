"""Routing rules: from a processed message and the dossiers it touched to the deliveries it causes.

A rule sits in the receiving partner's `receives:` list in partners.yaml:

    receives:
      - types: [BAPLIE]                 # message types, or "*"
        from: [MAEU, CMACGM]            # sending partners (default: any)
        when:                           # dossier fields (hub.routing.ROUTE_FIELDS), all must hold
          call.next_port: MAPTM
        as: original                    # original | json | iftsta | cusres
        via: sftp                       # the partner's channel: sftp (its box), sftp-push, amqp, folder

`iftsta` and `cusres` are messages the hub writes from the consignment dossiers the message touched
(hub.edifact.status): a status report of each, a release notice of each holding a customs release.
A rule whose message touched no such dossier delivers nothing. A message is never routed back to the
partner who sent it. Deliveries are identified by (message,
`route:<rule number>:<format>`, partner), so routing a message twice adds nothing to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hub.dossier.correlate import Outcome
from hub.store import StoredMessage
from hub.store.store import Transaction

if TYPE_CHECKING:
    from hub.partners import Partner, ReceiveRule
    from hub.pipeline import _Plan, _Work


def destination(partner: Partner, via: str | None, purpose: str = "route") -> tuple[str, dict[str, Any]]:
    """The outbox channel and target of a delivery to `partner` over `via` (None: its first channel).
    Acknowledgements (`purpose` "ack") go to the box's ack/ folder, the rest to out/."""
    channels = _channels(partner)
    if via is None:
        if not channels:
            raise ValueError(f"partner {partner.id} has no channel to deliver to")
        via = channels[0]
    if via == "sftp":
        return "sftp", {"box": "ack" if purpose == "ack" else "out"}
    if via == "sftp-push":
        push = partner.sftp.push if partner.sftp else None
        if push is None:
            raise ValueError(f"partner {partner.id} has no sftp.push server")
        return "sftp-push", {"remote_dir": push.remote_dir}
    if via == "amqp":
        amqp = partner.amqp
        if amqp is None:
            raise ValueError(f"partner {partner.id} has no amqp channel")
        key = (amqp.ack_routing_key if purpose == "ack" else None) or amqp.deliver_routing_key
        return "amqp", {"exchange": amqp.deliver_exchange or "", "routing_key": key}
    if via == "folder":
        folder = partner.folder
        if folder is None:
            raise ValueError(f"partner {partner.id} has no folder channel")
        return "folder", {"dir": str(folder.out_dir)}
    raise ValueError(f"unknown channel {via!r}")


def _channels(partner: Partner) -> list[str]:
    return list(partner.channels())


def ack_destination(partner: Partner, msg: StoredMessage) -> tuple[str, dict[str, Any]]:
    """Where an acknowledgement of `msg` goes: by the partner's preference, else back the way the
    message came (an AMQP message's reply_to first)."""
    via: str | None = partner.acks.channel
    if via == "same":
        via = {"sftp": "sftp", "amqp": "amqp", "folder": "folder"}.get(msg.channel)
    if via == "amqp":
        reply_to = (msg.meta or {}).get("reply_to")
        if reply_to:
            return "amqp", {"exchange": "", "routing_key": str(reply_to)}
    if via is not None and via not in _channels(partner) and not (via == "amqp" and partner.amqp):
        via = None
    return destination(partner, via, purpose="ack")


def route(tx: Transaction, work: _Work, outcomes: list[Outcome]) -> list[_Plan]:
    """The deliveries a processed message causes, by every partner's `receives:` rules."""
    from hub.pipeline import _Plan, json_payload

    sender = work.partner
    facts = _Facts(tx, work, outcomes)
    plans: list[_Plan] = []
    for partner in work.partners.all():
        if partner.suspended or (sender is not None and partner.id == sender.id):
            continue
        for n, rule in enumerate(partner.receives, start=1):
            if not _matches(rule, partner, facts):
                continue
            channel, target = destination(partner, rule.via)
            fmt = rule.output
            if fmt in _WRITTEN:
                plan = _written(work, facts, partner, n, fmt, channel, target)
                if plan is not None:
                    plans.append(plan)
                continue
            if fmt == "json":
                payload = json_payload(facts.canonical())
                filename, content_type = f"{work._stem()}.json", "application/json"
            else:
                payload = work.raw
                filename = work.msg.filename.rsplit("/", 1)[-1] if work.msg.filename else f"{work.msg.id}.edi"
                content_type = "application/xml" if work.report.syntax == "xml" else "application/edifact"
            control_ref = work.meta.get("control_ref") if fmt == "original" and work.report.syntax == "edifact" \
                else None
            plans.append(_Plan(f"route:{n}:{fmt}", partner.id, channel, target, "original" if fmt == "original"
                               else fmt, filename, payload, content_type, control_ref))
    return plans


_WRITTEN = {"iftsta": "IFTSTA", "cusres": "CUSRES"}


def _written(work: _Work, facts: _Facts, partner: Partner, n: int, fmt: str, channel: str,
             target: dict[str, Any]) -> _Plan | None:
    """The delivery of a message the hub writes (`as: iftsta` / `as: cusres`) about the consignments
    the message touched, addressed to the partner's first UNB id (its hub id when it has none)."""
    from hub.edifact.status import build_iftsta, build_release_notice
    from hub.pipeline import HUB_ID, _control_ref, _Plan

    consignments = [facts.doc(c) for c in facts.consignment_ids]
    if not consignments:
        return None
    unb = partner.unb_ids[0] if partner.unb_ids else None
    purpose = f"route:{n}:{fmt}"
    control_ref = _control_ref(work.msg.id, f"{purpose}:{partner.id}")
    build = build_iftsta if fmt == "iftsta" else build_release_notice
    payload = build(consignments, our_id=work.p.settings.our_unb_id or HUB_ID,
                    recipient=unb.id if unb else partner.id, recipient_qualifier=unb.qualifier if unb else None,
                    control_ref=control_ref, now=work.now)
    if payload is None:
        return None
    return _Plan(purpose, partner.id, channel, target, fmt, f"{_WRITTEN[fmt]}_{work._stem()}.edi", payload,
                 "application/edifact", control_ref)


class _Facts:
    """The values a rule's conditions test, read lazily from the touched dossiers."""

    def __init__(self, tx: Transaction, work: _Work, outcomes: list[Outcome]) -> None:
        self.tx = tx
        self.work = work
        self.call_ids = sorted({c for o in outcomes for c in o.calls})
        self.consignment_ids = sorted({c for o in outcomes for c in o.consignments})
        self._docs: dict[str, dict[str, Any]] = {}

    def doc(self, dossier_id: str) -> dict[str, Any]:
        if dossier_id not in self._docs:
            # From the repository the message was correlated through when it has one: it holds the
            # dossier as correlation left it, which a batch writes to the store only at its end.
            repo = getattr(self.work, "repo", None)
            found = (repo.load(dossier_id) if repo is not None else self.tx.dossier(dossier_id)) or {}
            self._docs[dossier_id] = found.get("dossier") or {}
        return self._docs[dossier_id]

    def message_types(self) -> set[str]:
        types = {t.upper() for t in self.work.meta.get("message_types") or []}
        types |= {(m.message_type or "").upper() for m in self.work.mappings if m.message_type}
        return types

    def message_values(self, field: str) -> set[str]:
        if field == "message.type":
            return self.message_types()
        if field == "message.sender":
            out = {str(self.work.meta.get("sender") or "")}
            if self.work.partner is not None:
                out.add(self.work.partner.id)
            return out
        if field == "message.recipient":
            return {str(self.work.meta.get("recipient") or "")}
        if field == "message.function":
            return {str((m.document or {}).get("message", {}).get("function") or "") for m in self.work.mappings}
        return set()

    def canonical(self) -> dict[str, Any]:
        msg = self.work.msg
        return {
            "message": {"id": msg.id, "received_at": msg.received_at.isoformat(), "channel": msg.channel,
                        "partner": self.work.partner.id if self.work.partner else None,
                        "sender": self.work.meta.get("sender"), "recipient": self.work.meta.get("recipient"),
                        "control_ref": self.work.meta.get("control_ref"),
                        "types": sorted(self.message_types()), "sha256": msg.sha256},
            "documents": [m.document for m in self.work.mappings if m.document is not None],
            "dossiers": {"calls": self.call_ids, "consignments": self.consignment_ids},
        }


def _call_values(doc: dict[str, Any], field: str) -> set[str]:
    if field == "call.port":
        return {doc.get("port") or ""}
    if field in ("call.next_port", "call.previous_port"):
        loc = doc.get(field.split(".", 1)[1]) or {}
        return {loc.get("locode") or ""}
    if field == "call.vessel_imo":
        return {(doc.get("vessel") or {}).get("imo") or ""}
    return set()


def _consignment_values(doc: dict[str, Any], field: str) -> set[str]:
    route = doc.get("route") or {}
    if field == "consignment.port_of_loading":
        return {(route.get("pol") or {}).get("locode") or ""}
    if field == "consignment.port_of_discharge":
        return {(route.get("pod") or {}).get("locode") or ""}
    if field == "consignment.status":
        return {doc.get("status") or ""}
    if field in ("consignment.party", "consignment.forwarder"):
        parties = doc.get("parties") or []
        if field == "consignment.forwarder":
            parties = [p for p in parties if p.get("role") == "FW"]
        return {v for p in parties for v in (p.get("id"), p.get("name")) if v}
    return set()


def _expand(values: Iterable[str], partner: Partner) -> set[str]:
    out = set()
    for v in values:
        if v == "$self":
            out |= {partner.id, *(u.id for u in partner.unb_ids), *partner.xml_ids, *partner.party_ids}
        else:
            out.add(v)
    return {v.strip().upper() for v in out if v}


def _matches(rule: ReceiveRule, partner: Partner, facts: _Facts) -> bool:
    if not any(rule.accepts_type(t) for t in facts.message_types()):
        return False
    if not rule.accepts_sender(facts.work.partner.id if facts.work.partner else None):
        return False
    calls: dict[str, set[str]] = {}
    consignments: dict[str, set[str]] = {}
    for field, wanted in rule.when.items():
        expected = _expand(wanted, partner)
        if field.startswith("message."):
            if not {v.upper() for v in facts.message_values(field)} & expected:
                return False
        elif field.startswith("call."):
            calls[field] = expected
        else:
            consignments[field] = expected
    for conditions, ids, values in ((calls, facts.call_ids, _call_values),
                                    (consignments, facts.consignment_ids, _consignment_values)):
        if conditions and not any(
                all({v.upper() for v in values(facts.doc(i), f)} & expected for f, expected in conditions.items())
                for i in ids):
            return False
    return True
