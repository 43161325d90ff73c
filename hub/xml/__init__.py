"""XML intake: safe parsing (no entities, no DTD, no network) and, where a schema is known, XSD
validation. For now the hub checks well-formedness; schema selection arrives with the XML issue."""

from __future__ import annotations

from lxml import etree

from hub.report import Code, Issue, Report, Severity


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False)


def validate(data: bytes) -> Report:
    report = Report(syntax="xml")
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:65536]:
        report.issues.append(Issue(Code.XML_FORBIDDEN_CONSTRUCT, "The document declares a DTD or "
                                   "entities; the hub accepts neither. Remove the DOCTYPE.", offset=0))
        return report
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        line = e.position[0] if e.position else None
        report.issues.append(Issue(Code.XML_NOT_WELL_FORMED, f"The XML is not well-formed: {e.msg}.",
                                   line=line))
        return report
    ns = etree.QName(root).namespace
    report.issues.append(Issue(Code.XML_UNKNOWN_DOCUMENT, f"No schema is configured for root element "
                               f"{etree.QName(root).localname!r}" + (f" in namespace {ns}" if ns else "")
                               + "; only well-formedness was checked.", severity=Severity.WARNING))
    return report
