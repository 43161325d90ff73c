"""The third-party XML corpus (`../shared/corpus`, read in place): every HMRC, Mattilsynet and DEFRA file
gets a report without an exception, and the verdict on each sample is pinned, with the reason for
each rejection, checked by hand.

Why the rejections are right:
- DEFRA CHEDPP files use the prefixes ns6, ns8... without declaring them: not namespace-well-formed.
- DEFRA CreateAndSubmitChedForDecision files are SOAP envelopes, and the INTRA file a TRACES web
  service response: the hub has no schema for either (the SPS certificate inside the envelope is
  not looked at; partners send the certificate itself).
- HMRC DMS notification examples (Example_DMS_notifications/, TT_IM00*/Example_Notifications/) are
  written without any namespace, as HMRC's annotated examples show them; the real notifications
  carry the DocumentMetaData and RES namespaces, and the report says which namespace is expected.
- HMRC inventory-linking query request/response (ILE_Query/, Inventory_Linking_Request_Response/) are
  in `http://gov.uk/customs/inventoryLinking/v1`, the exports service, whose schemas are not in
  the corpus.
- HMRC TT_EX002a has "--" inside a comment at line 72: not well-formed XML.
- Mattilsynet's ePhyto test certificate breaks the SPS certificate's element order twice (checked
  against UN/CEFACT D18: the second MainCarriageSPSTransportMovement puts ID last, the first trade
  line item puts AdditionalInformationSPSNote after ApplicableSPSClassification) and its sixth
  attachment, "UkjentFiltype", is truncated base64 (54 characters, not a multiple of 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.report import Code
from hub.xml import validate_document
from tests.corpus import CORPUS, xml_files

FOLDERS = ("hmrc__customs-declarations", "hmrc__customs-inventory-linking-imports", "Mattilsynet__ephyto-api",
           "DEFRA__trade-imports-schemas")

NWF, UNKNOWN, INVALID = Code.XML_NOT_WELL_FORMED, Code.XML_UNKNOWN_DOCUMENT, Code.XML_SCHEMA_INVALID

HMRC = "hmrc__customs-declarations/"
ACCEPTED = {
    HMRC + "CUS_Code/New_Export_CUS_Code_Sample.xml": "wco-dec",
    HMRC + "Export_Sample_With_Consignor_Declared/New_Export_C21e_Consignor_Sample.xml": "wco-dec",
    HMRC + "IMY_Aggregated_Supplementary_Declaration/IMY_Aggregated_Supplementary_Declaration.xml": "wco-dec",
    HMRC + "IMZ_Aggregated_Supplementary_Declaration/IMZ_Aggregated_Supplementary_Declaration.xml": "wco-dec",
    HMRC + "TT_EX001a/TT_EX001a.xml": "wco-dec",
    HMRC + "TT_IM001a/Step1_TT_IM001a.xml": "wco-dec",
    HMRC + "TT_IM001b/TT_IM001b.xml": "wco-dec",
    HMRC + "TT_IM002a/Step1_TT_IM002a.XML": "wco-dec",
    HMRC + "TT_IM002b/TT_IM002a.xml": "wco-dec",
    HMRC + "TT_IM002b/TT_IM002b_Amendment.xml": "wco-dec",  # FunctionCode 13, TypeCode COR: full schema
    HMRC + "TT_IM003a/TT_IM003a.xml": "wco-dec",
    HMRC + "TT_IM003a/TT_IM003a_Amendment_(Step_3).xml": "wco-dec",
    HMRC + "TT_IM003b/TT_IM003a.xml": "wco-dec",
    HMRC + "TT_IM003b/TT_IM003b_Amendment_(Step_3).xml": "wco-dec",
    HMRC + "TT_IM004a/TT_IM004a.xml": "wco-dec",
    HMRC + "TT_IM005a/TT_IM005a.xml": "wco-dec",
    HMRC + "TT_IM006a/TT_IM006a.xml": "wco-dec",
    HMRC + "TT_IM007a/TT_IM007a.xml": "wco-dec",
    HMRC + "TT_IM003b/Movement_Messages/TT_IM003a_GAN_(Step_5).xml": "ilm-import-goods-arrival",
    HMRC + "TT_IM003b/Movement_Messages/UKCIRM_Validate_Movement_Response_000_(1)_(Step_4).xml":
        "ilm-import-validate-movement-response",
    HMRC + "TT_IM003b/Movement_Messages/UKCIRM_Validate_Movement_Response_000_(2)_(Step_6).xml":
        "ilm-import-validate-movement-response",
    HMRC + "TT_IM003b/Movement_Messages/UKCIRM_Validate_Movement_Response_001_(Step_2).xml":
        "ilm-import-validate-movement-response",
}

NOTIFICATIONS = [HMRC + f"Example_DMS_notifications/{n}.xml" for n in (
    "01_DMSACC", "02_DMSRCV", "03_DMSREJ", "05_DMSCTL", "06_DMSDOC", "07_DMSRES", "08_DMSROG", "09_DMSCLE",
    "10_DMSINV", "11_DMSREQ", "13_DMSTAX", "14_DMSCPI", "15_DMSCPR", "16_DMSEOG", "17_DMSGER")] + [
    HMRC + f"TT_IM001a/Example_Notifications/{n}.xml"
    for n in ("01_DMSACC", "02_DMSTAX", "03_DMSTAX", "04_DMSCLE")
] + [HMRC + "TT_IM001b/Example_Notifications/01_DMSREJ.xml"]
WCO_MD = "knows 'MetaData' in namespace urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"

DEFRA = "DEFRA__trade-imports-schemas/"
# path -> (kind or None, the first issues as (code, line), what the message must say)
REJECTED: dict[str, tuple[str | None, list[tuple[Code, int]], str]] = {
    **{p: (None, [(UNKNOWN, 2 if p.endswith(("05_DMSCTL.xml", "13_DMSTAX.xml")) else 1)], WCO_MD)
       for p in NOTIFICATIONS},
    HMRC + "ILE_Query/ile-query.xml": (None, [(UNKNOWN, 2)], "http://gov.uk/customs/inventoryLinking/v1"),
    HMRC + "Inventory_Linking_Request_Response/inventoryLinkingQueryRequest.txt":
        (None, [(UNKNOWN, 2)], "http://gov.uk/customs/inventoryLinking/v1"),
    HMRC + "Inventory_Linking_Request_Response/inventoryLinkingQueryResponse.txt":
        (None, [(UNKNOWN, 1)], "http://gov.uk/customs/inventoryLinking/v1"),
    HMRC + "TT_EX002a/TT_EX002a.xml": (None, [(NWF, 72)], "'--'"),
    DEFRA + "CHEDPP.DE.2018.0000015.xml": (None, [(NWF, 1), (NWF, 2), (NWF, 3)], "Namespace prefix ns6"),
    DEFRA + "CHEDPP.FR.2018.0028758.xml": (None, [(NWF, 1), (NWF, 2), (NWF, 3)], "Namespace prefix ns6"),
    DEFRA + "CreateAndSubmitChedForDecision-0101-Horse.xml":
        (None, [(UNKNOWN, 1)], "'Envelope' in namespace http://schemas.xmlsoap.org/soap/envelope/"),
    DEFRA + "CreateAndSubmitChedForDecision-0101-Horse-Replacing-CHEDA.ES.2019.0000011.xml":
        (None, [(UNKNOWN, 1)], "'Envelope' in namespace http://schemas.xmlsoap.org/soap/envelope/"),
    DEFRA + "CreateAndSubmitChedForDecision-01061900-Rats.xml":
        (None, [(UNKNOWN, 1)], "'Envelope' in namespace http://schemas.xmlsoap.org/soap/envelope/"),
    DEFRA + "INTRA.EU.NL.2021.0000001-with-controls-and-laboratory-tests.xml":
        (None, [(UNKNOWN, 1)], "'GetEuIntraCertificateResponse'"),
    "Mattilsynet__ephyto-api/SPSCertificateContent.xml":
        ("sps-certificate", [(INVALID, 122), (INVALID, 181), (INVALID, 218)], "xs:base64Binary"),
}

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for folder in FOLDERS for p in (CORPUS / folder).rglob("*") if p.is_file())


@needs_corpus
def test_the_corpus_is_there() -> None:
    files = corpus_files()
    assert len(files) >= 75
    samples = {str(p.relative_to(CORPUS)) for p in xml_files()}
    assert set(ACCEPTED) | set(REJECTED) <= samples, "a pinned sample has moved"


@needs_corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_file_gets_a_report(path: Path) -> None:
    result = validate_document(path.read_bytes())
    json.dumps(result.report.to_dict())
    result.report.render()
    assert result.report.syntax == "xml" and result.report.interchanges == []
    rel = str(path.relative_to(CORPUS))
    if path.suffix == ".xsd":  # a schema is not a document the hub exchanges
        assert [i.code for i in result.report.issues] == [UNKNOWN]
    elif rel in ACCEPTED:
        assert result.report.accepted, result.report.render()
        assert result.report.issues == []
        assert result.document is not None and result.document.kind == ACCEPTED[rel]
        assert result.document.reference
    elif rel in REJECTED:
        kind, first, says = REJECTED[rel]
        assert not result.report.accepted
        issues = result.report.all_issues()
        assert [(i.code, i.line) for i in issues[:len(first)]] == first, result.report.render()
        assert says in issues[0].message
        assert (result.document.kind if result.document else None) == kind
    else:
        assert not path.read_bytes().lstrip().startswith(b"<"), f"{rel}: an XML sample with no pinned verdict"


@needs_corpus
def test_mattilsynet_certificate_failures_in_detail() -> None:
    path = CORPUS / "Mattilsynet__ephyto-api" / "SPSCertificateContent.xml"
    issues = validate_document(path.read_bytes()).report.all_issues()
    assert [i.tag for i in issues] == [
        "/SPSCertificate/SPSExchangedDocument/ReferenceSPSReferencedDocument[6]/AttachmentBinaryObject",
        "/SPSCertificate/SPSConsignment/MainCarriageSPSTransportMovement[2]/ID",
        "/SPSCertificate/SPSConsignment/IncludedSPSConsignmentItem/IncludedSPSTradeLineItem[1]/"
        "AdditionalInformationSPSNote[1]",
    ]
    assert "not expected" in issues[1].message and "not expected" in issues[2].message


@needs_corpus
def test_defra_chedpp_reports_every_undeclared_prefix() -> None:
    data = (CORPUS / DEFRA / "CHEDPP.DE.2018.0000015.xml").read_bytes()
    issues = validate_document(data).report.all_issues()
    assert len(issues) > 10 and {i.code for i in issues} == {NWF}
    assert all("is not defined" in i.message for i in issues[:10])
