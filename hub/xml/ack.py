"""XML acknowledgements for XML partners (namespace `urn:portnet:hub:ack:1`,
schema `schemas/xsd/portnet/ack-1.xsd`).

`build_ack` writes what the hub answers after validating a document: the partner's document
reference, accepted or rejected, and every issue of the report with its code, severity, line, element
path and message. `read_ack` reads one back (tests, and any hub that receives these acks).

An acknowledgement is a function of its inputs: the same report, ids and time give the same bytes.
Text that XML 1.0 cannot carry (control characters quoted from a hostile input) is replaced by
U+FFFD rather than failing the answer.

No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from hub.report import Report, Severity

__all__ = ["ACK_NAMESPACE", "Ack", "AckIssue", "build_ack", "read_ack"]

ACK_NAMESPACE = "urn:portnet:hub:ack:1"
_NS = f"{{{ACK_NAMESPACE}}}"

# Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class AckIssue:
    code: str
    severity: str  # "error" | "warning"
    line: int | None
    path: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Ack:
    sender: str
    receiver: str
    issued: datetime
    document_id: str
    accepted: bool
    errors: int
    warnings: int
    issues: tuple[AckIssue, ...]


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _token(value: str, what: str) -> str:
    text = " ".join(_text(value).split())
    if not text or len(text) > 70:
        raise ValueError(f"{what} must be 1 to 70 characters, not {value!r}")
    return text


def build_ack(report: Report, *, document_id: str, sender: str, receiver: str, now: datetime) -> bytes:
    """The acknowledgement of the document `document_id` (the partner's reference), from `sender`
    (the hub) to `receiver` (the partner), dated `now`, which must carry its UTC offset."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the acknowledgement time must be timezone-aware")
    issues = report.all_issues()
    errors = sum(1 for i in issues if i.severity is Severity.ERROR)
    root = etree.Element(_NS + "Acknowledgement", nsmap={None: ACK_NAMESPACE},  # type: ignore[dict-item]
                         version="1")
    for name, value in (("Sender", _token(sender, "sender")), ("Receiver", _token(receiver, "receiver")),
                        ("IssueDateTime", now.isoformat(timespec="seconds")),
                        ("DocumentID", _token(document_id, "document_id")),
                        ("Status", "accepted" if report.accepted else "rejected"),
                        ("ErrorCount", str(errors)), ("WarningCount", str(len(issues) - errors))):
        etree.SubElement(root, _NS + name).text = value
    xml = report.syntax == "xml"
    for issue in issues:
        el = etree.SubElement(root, _NS + "Issue")
        etree.SubElement(el, _NS + "Code").text = issue.code.ident
        etree.SubElement(el, _NS + "Severity").text = issue.severity.value
        if issue.line is not None and issue.line > 0:
            etree.SubElement(el, _NS + "Line").text = str(issue.line)
        # XML issues keep the element path in `tag`; an EDIFACT report's tag is a segment tag.
        if xml and issue.tag and issue.tag.startswith("/"):
            etree.SubElement(el, _NS + "Path").text = _text(issue.tag)
        etree.SubElement(el, _NS + "Message").text = _text(issue.message) or issue.code.value.summary
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def read_ack(data: bytes) -> Ack:
    """Read an acknowledgement the hub wrote. Raises ValueError if `data` is not a valid one."""
    from hub.xml.validator import validate_document  # the validator imports nothing from here

    result = validate_document(data)
    if not result.report.accepted or result.document is None or result.document.kind != "hub-ack":
        raise ValueError("not a valid hub acknowledgement:\n" + result.report.render())
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True))

    def text(el: etree._Element, name: str) -> str | None:
        child = el.find(_NS + name)
        return None if child is None else (child.text or "")

    def need(el: etree._Element, name: str) -> str:
        value = text(el, name)
        if value is None:  # the schema requires it; only a schema change could get here
            raise ValueError(f"acknowledgement without {name}")
        return value

    issues = tuple(AckIssue(need(i, "Code"), need(i, "Severity"),
                            int(line) if (line := text(i, "Line")) is not None else None,
                            text(i, "Path"), need(i, "Message"))
                   for i in root.iterfind(_NS + "Issue"))
    return Ack(need(root, "Sender"), need(root, "Receiver"),
               datetime.fromisoformat(need(root, "IssueDateTime")), need(root, "DocumentID"),
               need(root, "Status") == "accepted", int(need(root, "ErrorCount")),
               int(need(root, "WarningCount")), issues)
