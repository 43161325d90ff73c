"""XSD validation: the hub's own samples, the broken ones with their exact issue, positions, paths and
messages, the document summary, and validation from several threads at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.report import Code, Severity
from hub.xml import Limits, validate, validate_document
from hub.xml.validator import _element_at, _readable_path, _reword
from tests.corpus import ROOT

SAMPLES = ROOT / "samples" / "xml"
VALID = sorted(SAMPLES.glob("*.xml"))

# invalid sample -> (code, line, path, words of the message)
S, NWF, FORBIDDEN = Code.XML_SCHEMA_INVALID, Code.XML_NOT_WELL_FORMED, Code.XML_FORBIDDEN_CONSTRUCT
INVALID: dict[str, tuple[Code, int, str | None, str]] = {
    "wco-declaration-bad-function-code.xml":
        (S, 11, "/MetaData/Declaration/FunctionCode", "The value '99' is not an element of the set"),
    "wco-cancellation-without-reason.xml":
        (S, 18, "/MetaData/Declaration/Amendment", "Expected is ( AdditionalInformation )"),
    "wco-response-datetime-wrong-namespace.xml":
        (S, 15, "/MetaData/Response/IssueDateTime/DateTimeString", "Expected is ( ds:DateTimeString )"),
    "berthing-request-eta-without-offset.xml":
        (S, 52, "/BerthingRequest/PortCall/ETA", "'2025-11-27T18:00:00' is not accepted by the pattern"),
    "berthing-request-not-well-formed.xml":
        (NWF, 49, None, "Opening and ending tag mismatch: Terminal line 49 and terminal"),
    "waste-declaration-unknown-category.xml":
        (S, 59, "/WasteDeclaration/Waste[4]/Category", "The value 'V-C-HOUSEHOLD' is not an element"),
    "heavy-package-bad-container-number.xml":
        (S, 31, "/HeavyPackageDeclaration/Package[1]/ContainerNumber",
         "'TNGU410286' is not accepted by the pattern '[A-Z]{3}[UJZ][0-9]{7}'"),
    "measuring-instrument-without-shipment-reference.xml":
        (S, 24, "/MeasuringInstrumentImportRequest/Shipment/ContainerNumber",
         "Expected is one of ( BillOfLading, CustomsReference )"),
    "sps-certificate-without-consignee.xml":
        (S, 55, "/SPSCertificate/SPSConsignment/UtilizedSPSTransportEquipment",
         "Expected is ( ConsigneeSPSParty )"),
    "xxe-etc-passwd.xml": (FORBIDDEN, 2, None, "DOCTYPE"),
    "billion-laughs.xml": (FORBIDDEN, 2, None, "DOCTYPE"),
}


def test_every_invalid_sample_is_pinned() -> None:
    assert sorted(p.name for p in (SAMPLES / "invalid").glob("*.xml")) == sorted(INVALID)
    assert len(VALID) == 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_samples(path: Path) -> None:
    result = validate_document(path.read_bytes())
    assert result.report.accepted, result.report.render()
    assert result.report.issues == [] and result.report.syntax == "xml" and result.report.interchanges == []
    doc = result.document
    assert doc is not None and doc.kind and doc.schema and doc.reference and doc.size == path.stat().st_size
    assert doc.root == (f"{{{doc.namespace}}}{doc.name}" if doc.namespace else doc.name)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_samples(name: str) -> None:
    code, line, path, words = INVALID[name]
    data = (SAMPLES / "invalid" / name).read_bytes()
    report = validate(data)
    assert not report.accepted
    [issue] = report.all_issues()
    assert (issue.code, issue.line, issue.tag) == (code, line, path), report.render()
    assert words in issue.message
    if path is not None:
        assert issue.message.startswith(path + ": ")
        assert "{urn:" not in issue.message
    # The offset points into the line the issue names.
    assert issue.offset is not None and data.count(b"\n", 0, issue.offset) + 1 == line


def test_every_problem_is_listed_in_document_order() -> None:
    data = (SAMPLES / "waste-declaration.xml").read_bytes()
    broken = (data.replace(b"<NextPort>MAPTM</NextPort>", b"<NextPort>Tanger</NextPort>")
              .replace(b'<ToBeDelivered unit="MTQ">3.2</ToBeDelivered>',
                       b'<ToBeDelivered unit="M3">-3.2</ToBeDelivered>')
              .replace(b"<Date>2025-11-12</Date>", b"<Date>12/11/2025</Date>"))
    report = validate(broken)
    issues = report.all_issues()
    assert [i.tag for i in issues] == ["/WasteDeclaration/LastDelivery/Date", "/WasteDeclaration/NextPort",
                                       "/WasteDeclaration/Waste[3]/ToBeDelivered",
                                       "/WasteDeclaration/Waste[3]/ToBeDelivered"]
    lines = [i.line or 0 for i in issues]
    assert lines == sorted(lines)
    assert "attribute 'unit'" in issues[3].message or "attribute 'unit'" in issues[2].message
    assert [i["line"] for i in report.to_dict()["issues"]] == lines


def test_issue_cap() -> None:
    data = (SAMPLES / "measuring-instrument-import.xml").read_bytes()
    broken = data.replace(b"<SerialNumber>", b"<Serial>").replace(b"</SerialNumber>", b"</Serial>")
    assert len(validate(broken).issues) >= 1
    many = data.replace(b"<Quantity>", b"<Quantity>x").replace(b"<HSCode>", b"<HSCode>x")
    report = validate(many, limits=Limits(max_issues=2))
    assert len(report.issues) == 3
    assert "further schema error(s) are not listed" in report.issues[-1].message


def test_unknown_document_is_an_error_with_a_position() -> None:
    data = b'<?xml version="1.0"?>\n<!-- x -->\n<Manifest xmlns="urn:example:manifest"/>\n'
    result = validate_document(data)
    [issue] = result.report.issues
    assert issue.code is Code.XML_UNKNOWN_DOCUMENT and issue.severity is Severity.ERROR
    assert (issue.line, issue.offset, issue.tag) == (3, data.index(b"<Manifest"), "/Manifest")
    assert result.document is not None
    assert (result.document.name, result.document.namespace, result.document.kind) == (
        "Manifest", "urn:example:manifest", None)


def test_report_serialises() -> None:
    report = validate((SAMPLES / "invalid" / "waste-declaration-unknown-category.xml").read_bytes())
    data = report.to_dict()
    json.dumps(data)
    assert data["syntax"] == "xml" and data["accepted"] is False and data["interchanges"] == []
    assert data["issues"][0]["code"] == "xml-schema-invalid" and data["issues"][0]["line"] == 59
    assert "/WasteDeclaration/Waste[4]/Category" in report.render()


def test_validation_from_many_threads() -> None:
    """Compiled schemas keep their error log on the schema object; each thread has its own."""
    docs = [(p.read_bytes(), True) for p in VALID] + [
        ((SAMPLES / "invalid" / n).read_bytes(), False) for n in sorted(INVALID)]
    expected = [[(i.code, i.line, i.tag) for i in validate(d).all_issues()] for d, _ in docs]

    def run(k: int) -> list[tuple[Code, int | None, str | None]]:
        data, _ = docs[k % len(docs)]
        return [(i.code, i.line, i.tag) for i in validate(data).all_issues()]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(len(docs) * 20)))
    for k, got in enumerate(results):
        assert got == expected[k % len(docs)]


# --- paths and messages -----------------------------------------------------------------------------

def test_paths_in_prefixed_default_and_no_namespace() -> None:
    from lxml import etree

    root = etree.fromstring(b'<p:r xmlns:p="urn:p" xmlns="urn:d">'
                            b'<a/><p:b/><a><c/><c><n xmlns="">x</n></c></a></p:r>')
    # libxml2 writes "*[i]" for default-namespace elements, counting all element siblings.
    element = _element_at(root, "/p:r/*[3]/*[2]/n")
    assert element is not None and element.text == "x"
    assert _readable_path(element) == "/r/a[2]/c[2]/n"
    assert _element_at(root, "/p:r/p:b") is not None
    assert _element_at(root, "/p:r/*[9]") is None
    assert _element_at(root, "/q:r") is None
    assert _element_at(root, "") is None


def test_reword() -> None:
    from lxml import etree

    el = etree.fromstring(b'<r xmlns="urn:a" xmlns:b="urn:b"><x/></r>')[0]
    message = "Element '{urn:a}x': This element is not expected. Expected is ( {urn:b}y, {urn:a}z )."
    assert _reword(message, el) == "This element is not expected. Expected is ( b:y, z )."
    assert _reword("Element '{urn:a}x', attribute 'unit': [facet 'enumeration'] The value 'M3' is not an "
                   "element of the set {'MTQ', 'LTR'}.", el) == (
        "attribute 'unit': [facet 'enumeration'] The value 'M3' is not an element of the set {'MTQ', 'LTR'}.")
    # A namespace the document gives no prefix stays spelt out; the leading element is the path's.
    assert _reword("Element '{urn:c}x': Expected is ( {urn:c}y )", el) == "Expected is ( {urn:c}y )."


def test_parse_and_validate_hands_back_the_tree() -> None:
    from hub.xml import parse_and_validate

    data = (SAMPLES / "invalid" / "waste-declaration-unknown-category.xml").read_bytes()
    report, root = parse_and_validate(data)
    assert not report.accepted and root is not None and root.tag.endswith("}WasteDeclaration")
    assert [i.tag for i in report.issues] == [i.tag for i in validate(data).issues]
    assert parse_and_validate(b"<a>")[1] is None
    assert parse_and_validate((SAMPLES / "invalid" / "xxe-etc-passwd.xml").read_bytes())[1] is None
    report, root = parse_and_validate(b"<Unknown/>")
    assert root is not None and report.issues[0].code is Code.XML_UNKNOWN_DOCUMENT


# --- error storms: locating errors stays bounded -------------------------------------------------------

CARGO_LINE = b"<CargoLine><Operation>LOAD</Operation><CargoType>X</CargoType><Units>-1</Units></CargoLine>"
GOOD_LINE = (b"<CargoLine><Operation>LOAD</Operation><CargoType>DRY_BULK</CargoType><Units>1</Units>"
             b"</CargoLine>")


def berthing_with(lines: bytes) -> bytes:
    sample = (SAMPLES / "berthing-request.xml").read_bytes()
    return sample.replace(b"<CargoSummary>", b"<CargoSummary>" + lines)


def test_error_storm_among_many_siblings_is_bounded() -> None:
    """30,000 invalid siblings: lxml would locate each error by walking its earlier siblings, hours of
    work; the hub validates in streaming mode and lists the errors without positions."""
    import time

    data = berthing_with(CARGO_LINE * 30_000)
    t0 = time.perf_counter()
    report = validate(data)
    assert time.perf_counter() - t0 < 10  # measured: 0.3 s
    issues = report.issues
    assert not report.accepted and len(issues) == 1 + 1000 + 1
    assert issues[0].message.startswith("60,000 schema error(s) among up to 30,00")
    assert all(i.code is Code.XML_SCHEMA_INVALID for i in issues)
    assert "Element 'CargoType'" in issues[1].message and issues[1].line is None
    assert "59,000 further schema error(s)" in issues[-1].message


def test_wide_valid_document_is_accepted() -> None:
    report = validate(berthing_with(GOOD_LINE * 30_000))
    assert report.accepted, report.render()[:2000]


def test_few_errors_in_a_wide_document_keep_their_positions() -> None:
    data = berthing_with(GOOD_LINE * 30_000 + CARGO_LINE)
    [first, second] = validate(data).all_issues()
    assert first.tag == "/BerthingRequest/CargoSummary/CargoLine[30001]/CargoType"
    assert second.tag == "/BerthingRequest/CargoSummary/CargoLine[30001]/Units"
    assert first.line == second.line == data.count(b"\n", 0, data.index(b"<CargoType>X")) + 1


def test_streaming_and_tree_validation_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced down the streaming path, every sample gets the same verdict and error count."""
    import hub.xml.validator as validator

    docs = [p.read_bytes() for p in sorted(SAMPLES.rglob("*.xml"))]
    expected = [(r.accepted, len(r.all_issues())) for r in map(validate, docs)]
    monkeypatch.setattr(validator, "PATH_BUDGET", 0)
    monkeypatch.setattr(validator, "SMALL_DOCUMENT_TAGS", 0)
    for data, (accepted, count) in zip(docs, expected, strict=True):
        report = validate(data)
        assert report.accepted is accepted
        if not accepted and report.issues[0].message.endswith("too long to locate."):
            assert len(report.issues) - 1 == count
