"""XML intake: safe parsing (no entities, no DTD, no network, bounded), XSD validation against the
catalog in `schemas/xsd/catalog.yaml`, and XML acknowledgements (`hub.xml.ack`).

    from hub.xml import validate
    report = validate(data)                 # a Report with syntax="xml"
    result = validate_document(data)        # the same report, plus a DocumentSummary
    report, root = parse_and_validate(data) # the same report, plus the parsed tree for mapping

See docs/xml.md.
"""

from __future__ import annotations

from hub.xml.catalog import CatalogError, DocumentType, XsdCatalog, default_catalog
from hub.xml.safe import DEFAULT_LIMITS, Limits, Parsed, parse
from hub.xml.validator import DocumentSummary, XmlValidation, parse_and_validate, validate, validate_document


def looks_like_xml(data: bytes) -> bool:
    """True when the first significant byte (after a byte-order mark and white space) opens a tag:
    how the hub tells an XML document from an EDIFACT interchange."""
    return data[:64].lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<")


__all__ = [
    "DEFAULT_LIMITS",
    "CatalogError",
    "DocumentSummary",
    "DocumentType",
    "Limits",
    "Parsed",
    "XmlValidation",
    "XsdCatalog",
    "default_catalog",
    "looks_like_xml",
    "parse",
    "parse_and_validate",
    "validate",
    "validate_document",
]
