"""Mapping whole inputs: each located EDIFACT message (or an XML document) through the spec that
selects it. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.edifact.directory import Directory
from hub.edifact.validator import LocatedMessage
from hub.mapping.compiled import evaluate_edifact
from hub.mapping.compiled_xml import compiled_xml, evaluate_xml
from hub.mapping.registry import MappingRegistry
from hub.mapping.spec import MappingSpec


@dataclass
class MessageMapping:
    """What mapping made of one message: the mapped document, or why there is none."""

    message_ref: str | None
    message_type: str | None
    directory: str | None
    guide: str | None
    spec: str | None
    document: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    reason: str | None = None  # set when document is None

    def to_dict(self) -> dict[str, Any]:
        return {"message_ref": self.message_ref, "message_type": self.message_type,
                "directory": self.directory, "guide": self.guide, "spec": self.spec,
                "document": self.document, "notes": self.notes, "reason": self.reason}


def map_edifact(located: list[LocatedMessage], registry: MappingRegistry,
                directory: Callable[[str, str | None], Directory | None]) -> list[MessageMapping]:
    out = []
    for lm in located:
        r = lm.report
        if lm.directory is None:
            out.append(MessageMapping(r.ref, r.type, None, lm.guide, None, None,
                                      reason="the message's directory is not supported"))
            continue
        spec = registry.select("edifact", r.type, lm.directory, r.assoc)
        if spec is None:
            out.append(MessageMapping(r.ref, r.type, lm.directory, lm.guide, None, None,
                                      reason=f"no mapping spec for {r.type} {lm.directory}"
                                      + (f" ({r.assoc})" if r.assoc else "")))
            continue
        d = directory(lm.directory, lm.interchange.syntax_version)
        assert d is not None and r.type is not None
        # One pass over the message with the compiled spec; the same result as
        # evaluate(spec, EdifactSource(), message_tree(...)), which stays the reference.
        mapped = evaluate_edifact(spec, lm.scan, lm.start, lm.end, d.messages[r.type])
        doc = mapped.document
        msg = doc.setdefault("message", {})
        msg.setdefault("type", r.type)
        msg.setdefault("sender", lm.interchange.sender)
        msg.setdefault("recipient", lm.interchange.recipient)
        msg["interchange_ref"] = lm.interchange.control_ref
        msg["message_ref"] = r.ref
        out.append(MessageMapping(r.ref, r.type, lm.directory, lm.guide, spec.name, doc, mapped.notes))
    return out


def xml_spec(root: Any, registry: MappingRegistry, qname: Any = None) -> MappingSpec | None:
    """The spec that maps an XML document: the first candidate for its root whose `when` holds.
    (`qname`: the root's `etree.QName`, when the caller has it.)"""
    from lxml import etree

    qname = qname or etree.QName(root)
    for candidate in registry.candidates("xml", qname.localname, namespace=qname.namespace):
        if compiled_xml(candidate).holds(root):
            return candidate
    return None


def map_xml(root: Any, registry: MappingRegistry) -> MessageMapping:
    from lxml import etree

    qname = etree.QName(root)
    spec = xml_spec(root, registry, qname)
    if spec is None:
        return MessageMapping(None, qname.localname, None, None, None, None,
                              reason=f"no mapping spec for XML {qname.localname} ({qname.namespace})")
    # The compiled spec; evaluate(spec, XmlSource(spec.namespaces), root) stays the reference.
    mapped = evaluate_xml(spec, root)
    mapped.document.setdefault("message", {}).setdefault("type", qname.localname)
    return MessageMapping(None, qname.localname, None, None, spec.name, mapped.document, mapped.notes)
