"""XML acknowledgements: valid against their own XSD, and read back to the same verdict and issues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from hub.report import Code, Issue, Report, Severity
from hub.xml import default_catalog, validate, validate_document
from hub.xml.ack import ACK_NAMESPACE, build_ack, read_ack
from tests.corpus import ROOT

SAMPLES = ROOT / "samples" / "xml"
ACK_XSD = ROOT / "schemas" / "xsd" / "portnet" / "ack-1.xsd"
NOW = datetime(2025, 11, 27, 19, 16, 5, tzinfo=timezone(timedelta(hours=1)))


def ack_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ACK_XSD)))


def ack_for(report: Report, document_id: str = "AML-CSB-BR-2025-1127-01") -> bytes:
    return build_ack(report, document_id=document_id, sender="PORTNET", receiver="AGT-AML-CSB", now=NOW)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.xml")) + sorted((SAMPLES / "invalid").glob("*.xml")),
                         ids=lambda p: p.name)
def test_round_trip(path: object) -> None:
    data = path.read_bytes()  # type: ignore[attr-defined]
    report = validate(data)
    ack = ack_for(report)
    assert ack_schema().validate(etree.fromstring(ack)), ack_schema().error_log
    result = validate_document(ack)  # the hub recognises its own acknowledgements too
    assert result.report.accepted and result.document is not None and result.document.kind == "hub-ack"
    assert result.document.reference == "AML-CSB-BR-2025-1127-01"

    back = read_ack(ack)
    assert (back.sender, back.receiver, back.issued, back.document_id) == (
        "PORTNET", "AGT-AML-CSB", NOW, "AML-CSB-BR-2025-1127-01")
    assert back.accepted is report.accepted
    issues = report.all_issues()
    assert back.errors == sum(i.severity is Severity.ERROR for i in issues)
    assert [(a.code, a.severity, a.line, a.path, a.message) for a in back.issues] == [
        (i.code.ident, i.severity.value, i.line, i.tag, i.message) for i in issues]


def test_rejection_lists_code_line_path_and_message() -> None:
    report = validate((SAMPLES / "invalid" / "berthing-request-eta-without-offset.xml").read_bytes())
    root = etree.fromstring(ack_for(report))
    ns = {"a": ACK_NAMESPACE}
    assert root.findtext("a:Status", namespaces=ns) == "rejected"
    assert root.findtext("a:ErrorCount", namespaces=ns) == "1"
    [issue] = root.findall("a:Issue", ns)
    assert issue.findtext("a:Code", namespaces=ns) == "xml-schema-invalid"
    assert issue.findtext("a:Line", namespaces=ns) == "52"
    assert issue.findtext("a:Path", namespaces=ns) == "/BerthingRequest/PortCall/ETA"
    assert "pattern" in (issue.findtext("a:Message", namespaces=ns) or "")


def test_acceptance_has_no_issue() -> None:
    ack = ack_for(validate((SAMPLES / "berthing-request.xml").read_bytes()))
    back = read_ack(ack)
    assert back.accepted and back.issues == () and back.errors == back.warnings == 0
    assert b"<Status>accepted</Status>" in ack


def test_warnings_only_is_accepted() -> None:
    warning = Issue(Code.TEST_INDICATOR, "A test document.", severity=Severity.WARNING)
    back = read_ack(ack_for(Report(syntax="xml", issues=[warning])))
    assert back.accepted and (back.errors, back.warnings) == (0, 1)
    assert back.issues[0].severity == "warning"
    assert back.issues[0].line is None and back.issues[0].path is None


def test_same_input_same_bytes() -> None:
    report = validate((SAMPLES / "invalid" / "wco-declaration-bad-function-code.xml").read_bytes())
    assert ack_for(report) == ack_for(report)


def test_text_xml_cannot_carry_is_replaced() -> None:
    issue = Issue(Code.XML_SCHEMA_INVALID, "bad \x00 byte \x1b[31m here", line=3, tag="/r/a\x01")
    report = Report(syntax="xml", issues=[issue])
    ack = ack_for(report, document_id="DOC\x07-1")
    back = read_ack(ack)
    assert back.issues[0].message == "bad \ufffd byte \ufffd[31m here"
    assert back.issues[0].path == "/r/a\ufffd" and back.document_id == "DOC\ufffd-1"


def test_edifact_reports_have_no_path() -> None:
    report = Report(issues=[Issue(Code.TOO_LONG, "Too long.", segment=12, tag="SEL", element=1, line=14)])
    back = read_ack(ack_for(report))
    assert back.issues[0].path is None and back.issues[0].line == 14 and not back.accepted


@pytest.mark.parametrize("kwargs", [{"now": datetime(2025, 11, 27, 19, 16)}, {"document_id": ""},
                                    {"sender": "x" * 71}, {"receiver": "  "}])
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"document_id": "D", "sender": "S", "receiver": "R", "now": datetime.now(UTC)}
    args.update(kwargs)
    with pytest.raises(ValueError):
        build_ack(Report(syntax="xml"), **args)  # type: ignore[arg-type]


def test_read_ack_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="not a valid hub acknowledgement"):
        read_ack((SAMPLES / "berthing-request.xml").read_bytes())
    with pytest.raises(ValueError):
        read_ack(b"<Acknowledgement xmlns='urn:portnet:hub:ack:1'/>")


def test_the_ack_schema_is_in_the_catalog() -> None:
    assert any(t.xsd == "portnet/ack-1.xsd" for t in default_catalog().types)
