"""The XML specs (mappings/xml-*.yaml): every XML sample of samples/xml/ and every HMRC customs declaration
and response of the corpus that validates maps without an exception and gives the key fields correlation
lives on (references, B/Ls, vessel, voyage, containers); the hub's own samples map to exactly the
document pinned here; and the mapped documents correlate into the dossiers they should.

HMRC's DMS notification examples are written without namespaces (see tests/xml/test_corpus.py): as
received they map to nothing. `with_namespaces` puts them, in memory, into the namespaces a real
notification carries (DocumentMetaData, RES, Response_DS, and DEC for an embedded declaration); that
is how the response spec is tried on real notifications. The corpus is read in place, never copied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub.catalog import default_catalog
from hub.dossier.correlate import correlate, source_of
from hub.ingest import map_bytes
from hub.mapping.run import MessageMapping
from hub.xml import validate_document
from tests.corpus import CORPUS, ROOT
from tests.memory_repository import MemoryRepository

SAMPLES = ROOT / "samples" / "xml"
HMRC = CORPUS / "hmrc__customs-declarations"
MATTILSYNET = CORPUS / "Mattilsynet__ephyto-api" / "SPSCertificateContent.xml"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")


def _map(data: bytes) -> tuple[bool, MessageMapping]:
    report, mappings = map_bytes(data, default_catalog())
    assert len(mappings) == 1, report.render()
    json.dumps(mappings[0].to_dict())
    return report.accepted, mappings[0]


def _stamp(original: str, utc: str | None, fmt: str = "xsd") -> dict[str, Any]:
    return {"utc": utc, "original": original, "fmt": fmt}


# --- key fields --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """The key fields of one mapped document."""

    spec: str
    kind: str
    number: str | None = None  # message.number
    vessel: str | None = None  # call.vessel_imo, else call.vessel_name
    voyage: str | None = None  # call.voyage_in, else call.voyage_out
    port: str | None = None  # call.port
    bls: tuple[str, ...] = ()  # consignments' master and house B/Ls, sorted
    customs_refs: tuple[str, ...] = ()  # consignments' customs_ref
    ucrs: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()  # every container number of the document, sorted
    procedures: tuple[tuple[str, str | None, str | None], ...] = ()  # (kind, reference, status)
    releases: tuple[str, ...] = ()  # references of the releases


def pin_of(m: MessageMapping) -> Pin:
    doc = m.document
    assert doc is not None and m.spec is not None, m.reason
    call = doc.get("call") or {}
    cons = doc.get("consignments") or []
    equipment = [e for e in doc.get("equipment") or ()] + [e for c in cons for e in c.get("equipment") or ()]
    return Pin(
        spec=m.spec, kind=doc["message"]["kind"], number=doc["message"].get("number"),
        vessel=call.get("vessel_imo") or call.get("vessel_name"),
        voyage=call.get("voyage_in") or call.get("voyage_out"), port=call.get("port"),
        bls=tuple(sorted({b for c in cons for b in [c.get("master_bl"), *(c.get("house_bls") or ())] if b})),
        customs_refs=tuple(c["customs_ref"] for c in cons if c.get("customs_ref")),
        ucrs=tuple(c["ucr"] for c in cons if c.get("ucr")),
        containers=tuple(sorted({e["number"] for e in equipment if e.get("number")})),
        procedures=tuple((p["kind"], p.get("reference"), p.get("status"))
                         for p in [*(doc.get("procedures") or ()),
                                   *(p for c in cons for p in c.get("procedures") or ())]),
        releases=tuple(r.get("reference") or "" for c in cons for r in c.get("releases") or ()),
    )


# --- the hub's own samples ----------------------------------------------------------------------------

SAMPLE_PINS: dict[str, Pin] = {
    "berthing-request.xml": Pin(
        "xml-berthing-request", "berthing_request", "AML-CSB-BR-2025-1127-01", vessel="9312341", voyage="0712N",
        port="MACAS", containers=("CSLU9130477",)),
    "waste-declaration.xml": Pin(
        "xml-waste-declaration", "waste_notification", "AML-CSB-WD-2025-1127-01", vessel="9312341",
        voyage="0712N", port="MACAS"),
    "heavy-package-declaration.xml": Pin(
        "xml-heavy-package-declaration", "heavy_package_declaration", "TNF-HP-2025-0391", vessel="9312341",
        voyage="0712N", port="MAPTM", bls=("AMLTNG0004533", "AMLTNG0004534"), containers=("TNGU4102863",)),
    "measuring-instrument-import.xml": Pin(
        "xml-measuring-instrument-import", "import_licence_request", "BDM-IMP-2025-117", bls=("AMLGOA0007781",),
        containers=("AMLU7712346",),
        procedures=(("import_licence", "BDM-IMP-2025-117", "requested"),
                    ("conformity_certificate", "R76/2006-A-XX1-21.07", None),
                    ("conformity_certificate", "EU-TE-0099-MI005-2024-031", None))),
    "sps-phyto-certificate.xml": Pin(
        "xml-sps-certificate", "health_certificate", "NL-2025-PC-0884213", containers=("AMLU5520180",),
        procedures=(("sps_certificate", "NL-2025-PC-0884213", "issued"),)),
    "wco-declaration-import.xml": Pin(
        "xml-wco-declaration", "declaration", "CSB-BRK-2025-004711", vessel="9312341", bls=("AML0712N00045",),
        customs_refs=("CSB-BRK-2025-004711",), containers=("AMLU4571202",),
        procedures=(("customs_declaration", "CSB-BRK-2025-004711", "lodged"),)),
    "wco-declaration-cancellation.xml": Pin(
        "xml-wco-declaration", "declaration", "CSB-BRK-2025-004719", customs_refs=("25MACSB0000471109",),
        procedures=(("customs_declaration", "25MACSB0000471109", "cancellation_requested"),)),
    "wco-response-acceptance.xml": Pin(
        "xml-wco-response", "customs_response", "ADII-NOTIF-20251127-000318", customs_refs=("CSB-BRK-2025-004711",),
        procedures=(("customs_declaration", "CSB-BRK-2025-004711", "accepted"),)),
}


def test_every_xml_sample_is_pinned() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.xml")) == sorted(SAMPLE_PINS)


@pytest.mark.parametrize("name", sorted(SAMPLE_PINS))
def test_sample_key_fields(name: str) -> None:
    accepted, m = _map((SAMPLES / name).read_bytes())
    assert accepted
    assert m.notes == []
    assert pin_of(m) == SAMPLE_PINS[name]


@pytest.mark.parametrize("path", sorted((SAMPLES / "invalid").glob("*.xml")), ids=lambda p: p.name)
def test_broken_samples_map_without_an_exception(path: Path) -> None:
    report, mappings = map_bytes(path.read_bytes(), default_catalog())
    assert not report.accepted
    for m in mappings:  # none for the documents refused before parsing
        json.dumps(m.to_dict())


# --- the exact documents, one per spec ------------------------------------------------------------------

ATLAS = {"vessel_imo": "9312341", "vessel_name": "ATLAS TANGIER", "vessel_call_sign": "CNAT7"}
ETA = _stamp("2025-11-27T18:00:00+01:00", "2025-11-27T17:00:00Z")
ETD = _stamp("2025-11-28T14:00:00+01:00", "2025-11-28T13:00:00Z")


def test_berthing_request_document() -> None:
    _, m = _map((SAMPLES / "berthing-request.xml").read_bytes())
    assert m.spec == "xml-berthing-request"
    assert m.document == {
        "message": {"kind": "berthing_request", "number": "AML-CSB-BR-2025-1127-01",
                    "date": _stamp("2025-11-25T16:40:00+01:00", "2025-11-25T15:40:00Z"),
                    "function": "original", "type": "BerthingRequest"},
        "call": {**ATLAS, "vessel_flag": "MA", "length_overall": 147.87, "voyage_in": "0712N",
                 "voyage_out": "0713S", "operator": "AML", "previous_port": "MAPTM", "next_port": "MAPTM",
                 "port": "MACAS", "terminal": "CT1", "berth": "QUAI-32", "eta": ETA, "etd": ETD, "draught": 8.4,
                 "agent": "AGT-AML-CSB"},
        "equipment": [{"number": "CSLU9130477", "cell": "0010102",
                       "dg": [{"un_number": "1263", "imdg_class": "3", "packing_group": "II",
                               "proper_shipping_name": "PAINT"}]}],
    }


def test_waste_declaration_document() -> None:
    _, m = _map((SAMPLES / "waste-declaration.xml").read_bytes())
    assert m.spec == "xml-waste-declaration"
    assert m.document == {
        "message": {"kind": "waste_notification", "number": "AML-CSB-WD-2025-1127-01",
                    "date": _stamp("2025-11-26T08:15:00Z", "2025-11-26T08:15:00Z"),
                    "function": "original", "type": "WasteDeclaration"},
        "formalities": [{"kind": "waste_notification", "reference": "AML-CSB-WD-2025-1127-01"}],
        "call": {**ATLAS, "vessel_flag": "MA", "port": "MACAS", "terminal": "CT1", "voyage_in": "0712N",
                 "eta": ETA, "etd": ETD, "next_port": "MAPTM", "agent": "AGT-AML-CSB"},
    }


def test_heavy_package_declaration_document() -> None:
    _, m = _map((SAMPLES / "heavy-package-declaration.xml").read_bytes())
    assert m.spec == "xml-heavy-package-declaration"
    assert m.document == {
        "message": {"kind": "heavy_package_declaration", "number": "TNF-HP-2025-0391",
                    "date": _stamp("2025-11-24T11:05:00+01:00", "2025-11-24T10:05:00Z"),
                    "function": "original", "type": "HeavyPackageDeclaration"},
        "formalities": [{"kind": "heavy_package_declaration", "reference": "TNF-HP-2025-0391"}],
        "call": {**ATLAS, "port": "MAPTM", "terminal": "TM1", "voyage_out": "0712N"},  # a LOAD: outbound
        "consignments": [
            {"master_bl": "AMLTNG0004533", "equipment": [{"number": "TNGU4102863"}],
             "goods": [{"description": "Oil-immersed power transformer, 40 MVA, on flat rack, lashed with chains",
                        "packages": 1, "marks": "TFF-0391-01", "gross_weight": 26400,
                        "equipment": ["TNGU4102863"]}]},
            {"master_bl": "AMLTNG0004534",
             "goods": [{"description": "Steel press frame in wooden crate", "packages": 1, "marks": "TFF-0391-02",
                        "gross_weight": 41600}]},  # 41.6 TNE
        ],
    }


def test_measuring_instrument_import_document() -> None:
    _, m = _map((SAMPLES / "measuring-instrument-import.xml").read_bytes())
    assert m.spec == "xml-measuring-instrument-import"
    issued = _stamp("2025-11-20T10:30:00+01:00", "2025-11-20T09:30:00Z")
    assert m.document == {
        "message": {"kind": "import_licence_request", "number": "BDM-IMP-2025-117", "date": issued,
                    "function": "original", "type": "MeasuringInstrumentImportRequest"},
        "consignments": [{
            "master_bl": "AMLGOA0007781", "pod": "MACAS", "direction": "import",
            "equipment": [{"number": "AMLU7712346"}],
            "parties": [{"role": "IM", "name": "Balances du Maghreb SARL",
                         "street": "Zone industrielle Sidi Bernoussi, rue 7", "city": "Casablanca", "country": "MA",
                         "id": "004567890000056", "scheme": "ICE"}],
            "goods": [{"item_no": "1", "hs_code": "842381",
                       "description": "Retail price-computing scale, max 15 kg, e = 5 g, accuracy class III"},
                      {"item_no": "2", "hs_code": "84131100",
                       "description": "Dual-nozzle fuel dispenser for road vehicles, 5-50 L/min"}],
            "procedures": [
                {"kind": "import_licence", "reference": "BDM-IMP-2025-117", "authority": "metrology",
                 "status": "requested", "lodged_at": issued},
                {"kind": "conformity_certificate", "reference": "R76/2006-A-XX1-21.07",
                 "authority": "OIML-CS issuing authority (fictitious)",
                 "decided_at": _stamp("2021-05-12", "2021-05-12")},
                {"kind": "conformity_certificate", "reference": "EU-TE-0099-MI005-2024-031",
                 "authority": "Notified body 0099 (fictitious)", "decided_at": _stamp("2024-03-04", "2024-03-04")},
            ],
        }],
    }


def test_sps_certificate_document() -> None:
    _, m = _map((SAMPLES / "sps-phyto-certificate.xml").read_bytes())
    assert m.spec == "xml-sps-certificate"
    issued = _stamp("2025-11-14T09:20:00+01:00", "2025-11-14T08:20:00Z")
    assert m.document == {
        "message": {"kind": "health_certificate", "number": "NL-2025-PC-0884213", "date": issued,
                    "type": "SPSCertificate"},
        "consignments": [{
            "pod": "MACAS",
            "equipment": [{"number": "AMLU5520180", "seals": ["NL7734120"]}],
            "parties": [{"role": "CZ", "name": "Noordoost Pootgoed B.V. (fictitious)", "street": "Pootgoedweg 3",
                         "city": "Emmeloord", "country": "NL"},
                        {"role": "CN", "name": "Semences du Saïss SA (fictitious)",
                         "street": "Route d'Imouzzer, km 9", "city": "Fès", "country": "MA"}],
            "goods": [{"item_no": "1", "description": "Seed potatoes, class A, size 35/55", "gross_weight": 24960,
                       "net_weight": 24000, "hs_code": "070110", "packages": 960, "package_type": "BG"}],
            "procedures": [{"kind": "sps_certificate", "reference": "NL-2025-PC-0884213",
                            "authority": "National Plant Protection Organization of the Netherlands (fictitious)",
                            "status": "issued", "decision": "phytosanitary certificate", "decided_at": issued}],
        }],
    }


def test_wco_declaration_document() -> None:
    _, m = _map((SAMPLES / "wco-declaration-import.xml").read_bytes())
    assert m.spec == "xml-wco-declaration"
    assert m.document == {
        "message": {"kind": "declaration", "number": "CSB-BRK-2025-004711", "function": "original",
                    "sender": "MA001234567000089", "type": "MetaData"},
        "call": {"vessel_imo": "9312341", "vessel_name": "ATLAS TANGIER", "vessel_flag": "MA"},
        "consignments": [{
            "master_bl": "AML0712N00045",  # PreviousDocument Z 705
            "customs_ref": "CSB-BRK-2025-004711", "direction": "import", "packages": 3,
            "parties": [{"role": "IM", "id": "MA002345678000012", "name": "Coopérative Argan Souss",
                         "street": "Zone industrielle Tassila, lot 42", "city": "Agadir", "postcode": "80000",
                         "country": "MA"},
                        {"role": "DT", "id": "MA001234567000089"},
                        {"role": "AE", "id": "MA001234567000089"}],
            "goods": [{"item_no": "1", "description": "Amber glass bottles, 100 ml, with droppers",
                       "hs_code": "70109010", "gross_weight": 1180, "net_weight": 1050, "packages": 2,
                       "package_type": "PX", "marks": "ARGANE-CSB-01/02"},
                      {"item_no": "2", "description": "Hydraulic press plate for oil extraction machine",
                       "hs_code": "84799070", "gross_weight": 640, "net_weight": 610, "packages": 1,
                       "package_type": "CR", "marks": "ARGANE-CSB-CR1"}],
            "equipment": [{"number": "AMLU4571202"}],
            "procedures": [{"kind": "customs_declaration", "authority": "customs",
                            "reference": "CSB-BRK-2025-004711", "status": "lodged"}],
        }],
    }


def test_wco_cancellation_document() -> None:
    _, m = _map((SAMPLES / "wco-declaration-cancellation.xml").read_bytes())
    assert m.spec == "xml-wco-declaration"
    assert m.document == {
        "message": {"kind": "declaration", "number": "CSB-BRK-2025-004719", "reference": "25MACSB0000471109",
                    "sender": "MA001234567000089", "function": "cancellation_request", "type": "MetaData"},
        "consignments": [{"customs_ref": "25MACSB0000471109",  # the MRN of the declaration to invalidate
                          "procedures": [{"kind": "customs_declaration", "authority": "customs",
                                          "reference": "25MACSB0000471109", "status": "cancellation_requested"}]}],
    }


def test_wco_response_document() -> None:
    _, m = _map((SAMPLES / "wco-response-acceptance.xml").read_bytes())
    assert m.spec == "xml-wco-response"
    assert m.document == {
        "message": {"kind": "customs_response", "number": "ADII-NOTIF-20251127-000318",
                    "date": _stamp("20251127191502+01", "2025-11-27T18:15:02Z", "304"), "status": "accepted",
                    "response_to": "CSB-BRK-2025-004711", "reference": "25MACSB0000471102", "type": "MetaData"},
        "consignments": [{
            "customs_ref": "CSB-BRK-2025-004711",
            "procedures": [{"kind": "customs_declaration", "authority": "customs", "reference": "CSB-BRK-2025-004711",
                            "status": "accepted", "decision": "DMSACC",
                            "decided_at": _stamp("20251127191500+01", "2025-11-27T18:15:00Z", "304")}],
        }],
    }


SPS_BL = b"""<ram:ReferenceSPSReferencedDocument>
      <ram:TypeCode>705</ram:TypeCode>
      <ram:RelationshipTypeCode>BM</ram:RelationshipTypeCode>
      <ram:ID>AMLRTM0005520</ram:ID>
    </ram:ReferenceSPSReferencedDocument>
  </rsm:SPSExchangedDocument>"""


def test_sps_certificate_naming_its_bl() -> None:
    """The certificate of the sample with its B/L among the referenced documents: it then has a key."""
    data = (SAMPLES / "sps-phyto-certificate.xml").read_bytes().replace(b"</rsm:SPSExchangedDocument>", SPS_BL)
    accepted, m = _map(data)
    assert accepted
    assert pin_of(m) == Pin("xml-sps-certificate", "health_certificate", "NL-2025-PC-0884213",
                            bls=("AMLRTM0005520",), containers=("AMLU5520180",),
                            procedures=(("sps_certificate", "NL-2025-PC-0884213", "issued"),))


# --- the HMRC corpus: declarations ---------------------------------------------------------------------

LODGED = "lodged"


def _dec(ref: str, ucr: str | None, containers: tuple[str, ...] = (), vessel: str | None = None,
         status: str = LODGED) -> Pin:
    return Pin("xml-wco-declaration", "declaration", ref if status == LODGED else None, vessel=vessel,
               customs_refs=(ref,), ucrs=(ucr,) if ucr else (), containers=containers,
               procedures=(("customs_declaration", ref, status),))


# Every HMRC declaration that validates. None names a transport document (PreviousDocument 705/704...):
# their keys are the LRN (customs_ref) and the DUCR. "12345" is the (test) IMO number of
# ArrivalTransportMeans with IdentificationTypeCode 10; CSCLGLOBE a vessel name (11).
HMRC_DECLARATIONS: dict[str, Pin] = {
    "CUS_Code/New_Export_CUS_Code_Sample.xml":
        _dec("NEW-TT-SAMPLE-CUS 9", "3GB417869120000-1310TX", ("AHFB9384274",), "CSCLGLOBE"),
    "Export_Sample_With_Consignor_Declared/New_Export_C21e_Consignor_Sample.xml":
        _dec("New_Consgn_030823", "3GB427168118378-0308A2"),
    "IMY_Aggregated_Supplementary_Declaration/IMY_Aggregated_Supplementary_Declaration.xml":
        _dec("Agg_Supp_Dec_Y_TC1", "DUCRGB553202734852-1111111", ("DM1234",), "12345"),
    "IMZ_Aggregated_Supplementary_Declaration/IMZ_Aggregated_Supplementary_Declaration.xml":
        _dec("Agg_Supp_Dec_Z", "DUCRGB553202734852-12345", ("DM1234",), "12345"),
    "TT_EX001a/TT_EX001a.xml": _dec("U.7847323YIPYA", "5GB348579783333-AVCVSC", ("CONU1234567",), "CSCLGLOBE"),
    "TT_IM001a/Step1_TT_IM001a.xml": _dec("7847767E1WB6", "4GB553202734852-12345", ("AD12345",), "12345"),
    "TT_IM001b/TT_IM001b.xml": _dec("TT_IM01b_v1.7_220322_1", "1GB553202734852-12345", ("AD12345",), "12345"),
    "TT_IM002a/Step1_TT_IM002a.XML": _dec("7849431OU9IZ", "4GB553202734852-20210607", ("DM1234",), "12345"),
    "TT_IM002b/TT_IM002a.xml": _dec("TT_IM02a_EIDR_1511_004", "1GB553202734852-20210607", ("DM1234",), "12345"),
    "TT_IM003a/TT_IM003a.xml": _dec("TT_IM03a_0803_003", "1GB575456994000-12345", ("DM1234",)),
    "TT_IM003b/TT_IM003a.xml": _dec("TT_IM03a_2212_001", "1GB575456994000-12345", ("DM1234",)),
    "TT_IM004a/TT_IM004a.xml": _dec("IM04_080721_001", "1GB553202734852-20210307", ("AD12345",), "12345"),
    "TT_IM005a/TT_IM005a.xml": _dec("TTIM05a_220901_003", "2GB553202734852-12345", ("CO1234",), "12345"),
    "TT_IM006a/TT_IM006a.xml": _dec("R260_E2E_TC13_1506_02", "1GB553202734852-20200115", ("AD12345",), "12345"),
    "TT_IM007a/TT_IM007a.xml": _dec("R260_TC14_D3_1506_001", "1GB553202734852-20200115", ("AD12345",), "12345"),
    # Amendments (FunctionCode 13, TypeCode COR): their own LRN is message.number, the MRN they amend
    # the consignment's customs_ref and the procedure's reference.
    "TT_IM002b/TT_IM002b_Amendment.xml": Pin(
        "xml-wco-declaration", "declaration", "TT_IM02b_1803_002", customs_refs=("20GB32VVZI0YMFGVR0",),
        procedures=(("customs_declaration", "20GB32VVZI0YMFGVR0", "amendment_requested"),)),
    "TT_IM003a/TT_IM003a_Amendment_(Step_3).xml": Pin(
        "xml-wco-declaration", "declaration", "R251_TC05_1903_a_001", customs_refs=("20GB34BBUAX6DFGVR2",),
        procedures=(("customs_declaration", "20GB34BBUAX6DFGVR2", "amendment_requested"),)),
    "TT_IM003b/TT_IM003b_Amendment_(Step_3).xml": Pin(
        "xml-wco-declaration", "declaration", "Comp_Amend_001", customs_refs=("20GB34BT6QX6LFGVR3",),
        procedures=(("customs_declaration", "20GB34BT6QX6LFGVR3", "amendment_requested"),)),
}
for _path, _pin in list(HMRC_DECLARATIONS.items()):
    if _pin.number is None:  # an original: its LRN is its number
        HMRC_DECLARATIONS[_path] = Pin(**{**_pin.__dict__, "number": _pin.customs_refs[0]})


def _hmrc_files() -> list[Path]:
    if not HMRC.is_dir():
        return []
    return sorted(p for p in HMRC.rglob("*") if p.is_file() and p.suffix.lower() == ".xml" and "schemas" not in p.parts)


@needs_corpus
def test_every_validating_hmrc_declaration_is_pinned() -> None:
    wco = {}
    for p in _hmrc_files():
        result = validate_document(p.read_bytes())
        if result.report.accepted and result.document is not None and result.document.kind.startswith("wco-"):
            wco[str(p.relative_to(HMRC))] = result.document.kind
    assert sorted(wco) == sorted(HMRC_DECLARATIONS)
    assert set(wco.values()) == {"wco-dec"}  # no response of the corpus validates as it is (no namespace)


@needs_corpus
@pytest.mark.parametrize("rel", sorted(HMRC_DECLARATIONS))
def test_hmrc_declaration_key_fields(rel: str) -> None:
    accepted, m = _map((HMRC / rel).read_bytes())
    assert accepted
    assert m.notes == []
    assert pin_of(m) == HMRC_DECLARATIONS[rel]


@needs_corpus
def test_hmrc_declaration_details() -> None:
    """Parties, goods and item-level containers of two declarations, read by hand from the files."""
    _, m = _map((HMRC / "TT_IM004a/TT_IM004a.xml").read_bytes())
    assert m.document is not None
    [c] = m.document["consignments"]
    assert [(p["role"], p.get("id") or p.get("name")) for p in c["parties"]] == [
        ("EX", "US Trading Commodities Inc."), ("IM", "GB553202734852"), ("DT", "GB553202734852")]
    # The container is declared on the goods item (Commodity/TransportEquipment), the code is TSP, not GN (VATZ).
    assert [(g["item_no"], g["hs_code"], g.get("equipment")) for g in c["goods"]] == [
        ("1", "16042040", ["AD12345"])]
    assert c["direction"] == "import" and c["packages"] == 250
    _, m = _map((HMRC / "CUS_Code/New_Export_CUS_Code_Sample.xml").read_bytes())
    assert m.document is not None
    [c] = m.document["consignments"]
    assert c["direction"] == "export"
    assert c["equipment"] == [{"number": "AHFB9384274", "seals": ["17583753"]}]
    assert c["procedures"][0]["office"] == "GBLBA001"


# --- the HMRC corpus: responses (notifications) ---------------------------------------------------------

MD = "urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"
RES = "urn:wco:datamodel:WCO:RES-DMS:2"
DS = "urn:wco:datamodel:WCO:Response_DS:DMS:2"
DEC = "urn:wco:datamodel:WCO:DEC-DMS:2"


def with_namespaces(data: bytes) -> bytes:
    """An HMRC notification example as a real one is sent: MetaData and its header in the DocumentMetaData
    namespace, Response in RES, DateTimeString in Response_DS, an embedded declaration (a Declaration
    with a FunctionCode) in DEC."""
    root = etree.fromstring(data)

    def put(el: Any, uri: str) -> None:
        name = etree.QName(el).localname
        el.tag = f"{{{DS if uri == RES and name == 'DateTimeString' else uri}}}{name}"
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments
            local = etree.QName(child).localname
            if uri == MD and local == "Response":
                put(child, RES)
            elif uri == RES and local == "Declaration" and child.find("FunctionCode") is not None:
                put(child, DEC)
            else:
                put(child, uri)

    put(root, MD)
    etree.cleanup_namespaces(root, top_nsmap={"md": MD, None: RES, "ds": DS, "dec": DEC})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _res(lrn: str, mrn: str, status: str, number: str, released: bool = False) -> Pin:
    return Pin("xml-wco-response", "customs_response", number, customs_refs=(lrn,),
               procedures=(("customs_declaration", lrn, status),), releases=(mrn,) if released else ())


N = "Example_DMS_notifications/"
HMRC_RESPONSES: dict[str, tuple[bool, Pin]] = {  # path -> (validates once namespaced, key fields)
    N + "01_DMSACC.xml": (True, _res("3.1_P1_TT_1311RM41", "19GBCKKCQSXV2FGVA8", "accepted",
                                     "a6e4e95b91be4fe4a95800c235c7c010")),
    N + "02_DMSRCV.xml": (True, _res("3.1_P1_TT_1311RM41", "19GBCKKCQSXV2FGVA8", "received",
                                     "96209a1284e649abbd269c37b2530b74")),
    N + "03_DMSREJ.xml": (True, _res("Sample_A_TC01_1102_03", "20GB1NA4Y2YSRFGVR6", "rejected",
                                     "561fb99741a94910913f9bd1e4d4055e")),
    N + "05_DMSCTL.xml": (True, _res("IM08a_PHYCTL_002", "20GB1Q3RTK463FGVR4", "inspection",
                                     "cf614e6aa7fe4c01ae675b40ef4dffcf")),
    N + "06_DMSDOC.xml": (True, _res("CDCMRESLCTTT2211KM05", "23GBCXDLLRXMOCTAA4", "documents_required",
                                     "450a2ae1589b40cb9db92fef786e8777")),
    N + "07_DMSRES.xml": (True, _res("3.1_P1_TT_1311RM41", "19GBCKKCQSXV2FGVA8", "amended",
                                     "f01bff53f1ff47c1b2fdac4bf560dfe8")),
    N + "08_DMSROG.xml": (True, _res("R251_TC05_2111_13", "20GB1OJPU2P01FGVR4", "released",
                                     "b850b7f5b53a4e699713199658a2d17f", released=True)),
    N + "09_DMSCLE.xml": (True, _res("3.1_P1_TT_1311RM41", "19GBCKKCQSXV2FGVA8", "cleared",
                                     "33a255bb919f485681b057d74164cb00", released=True)),
    N + "10_DMSINV.xml": (True, _res("TC18_SM_1701_004", "20GB0NKQGSX2IX8PR5", "invalidated",
                                     "6d28f492631e40d5ac020129051f3f85")),
    N + "11_DMSREQ.xml": (True, _res("Comp_Amend_001", "20GB1OJPU2P01FGVR4", "amendment_accepted",
                                     "1fefd5ad7dae41d7b847c8efab5f39fb")),
    N + "13_DMSTAX.xml": (True, _res("IM08a_PHYCTL_002", "20GB1Q3RTK463FGVR4", "tax_assessed",
                                     "026dbf69ad164b92868f5df716955cad")),
    N + "14_DMSCPI.xml": (True, _res("TT_IM01a_CPI_0707_09", "20GB7HGPXUC5DFGVR2", "payment_required",
                                     "58732f17f9d7459d91e775e1edf9cd55")),
    N + "15_DMSCPR.xml": (True, _res("TT_IM01a_CPI_0707_09", "20GB7HGPXUC5DFGVR2", "payment_reminder",
                                     "bee6c4091dd14ef2a058c73398029611")),
    # Status/EffectiveDateTime "Wed Nov 13 00:00:00 UTC 2019" without formatCode: invalid, still mapped.
    N + "16_DMSEOG.xml": (False, _res("3.1_P1_TT_1311RM41", "19GBCKKCQSXV2FGVA8", "exited",
                                      "fb2794252d6b45e6b5def84d53bb969f")),
    # Named DMSGER, FunctionCode 18: not a code the spec knows.
    N + "17_DMSGER.xml": (True, _res("U.7847610GCIRM", "24GB9WRD7U2Y5ISAA2", "other",
                                     "8a96724cd7cc4a0cbbff980753ec4627")),
    "TT_IM001a/Example_Notifications/01_DMSACC.xml": (True, _res(
        "7847767E1WB6", "24GB22WOA1EV2P6AR5", "accepted", "42e66025ad574258b8a980ca3aec101e")),
    "TT_IM001a/Example_Notifications/02_DMSTAX.xml": (True, _res(
        "7847767E1WB6", "24GB22WOA1EV2P6AR5", "tax_assessed", "")),
    "TT_IM001a/Example_Notifications/03_DMSTAX.xml": (True, _res(
        "7847767E1WB6", "24GB22WOA1EV2P6AR5", "tax_assessed", "")),
    "TT_IM001a/Example_Notifications/04_DMSCLE.xml": (True, _res(
        "7847767E1WB6", "24GB22WOA1EV2P6AR5", "cleared", "", released=True)),
    "TT_IM001b/Example_Notifications/01_DMSREJ.xml": (True, _res(
        "TT_IM01b_v1.7_220322_1", "", "rejected", "")),
}


@needs_corpus
def test_every_hmrc_notification_is_pinned() -> None:
    found = sorted(str(p.relative_to(HMRC)) for p in _hmrc_files() if p.name[:2].isdigit() and "DMS" in p.name)
    assert found == sorted(HMRC_RESPONSES)


@needs_corpus
@pytest.mark.parametrize("rel", sorted(HMRC_RESPONSES))
def test_hmrc_notification_as_received_maps_to_nothing(rel: str) -> None:
    accepted, m = _map((HMRC / rel).read_bytes())
    assert not accepted
    assert m.document is None and m.reason == "no mapping spec for XML MetaData (None)"


@needs_corpus
@pytest.mark.parametrize("rel", sorted(HMRC_RESPONSES))
def test_hmrc_notification_key_fields(rel: str) -> None:
    valid, pin = HMRC_RESPONSES[rel]
    accepted, m = _map(with_namespaces((HMRC / rel).read_bytes()))
    assert accepted is valid
    got = pin_of(m)
    if not pin.number:  # the notification's own reference is not pinned for every file
        got = Pin(**{**got.__dict__, "number": pin.number})
    assert got == pin
    doc = m.document
    assert doc is not None
    assert doc["message"]["status"] == pin.procedures[0][2]
    assert doc["message"]["response_to"] == pin.customs_refs[0]
    if pin.releases:
        assert doc["message"]["reference"] == pin.releases[0]  # the MRN


@needs_corpus
def test_hmrc_clearance_document() -> None:
    _, m = _map(with_namespaces((HMRC / N / "09_DMSCLE.xml").read_bytes()))
    issued = _stamp("20191113172217Z", "2019-11-13T17:22:17Z", "304")
    assert m.document == {
        "message": {"kind": "customs_response", "number": "33a255bb919f485681b057d74164cb00", "date": issued,
                    "status": "cleared", "response_to": "3.1_P1_TT_1311RM41", "reference": "19GBCKKCQSXV2FGVA8",
                    "type": "MetaData"},
        "consignments": [{
            "customs_ref": "3.1_P1_TT_1311RM41",
            "procedures": [{"kind": "customs_declaration", "authority": "customs", "reference": "3.1_P1_TT_1311RM41",
                            "status": "cleared", "decision": "DMSCLE", "decided_at": issued}],
            "releases": [{"kind": "customs", "reference": "19GBCKKCQSXV2FGVA8", "released_at": issued}],
        }],
    }


# --- the Mattilsynet ePhyto certificate (invalid against the subset schema, mapped all the same) -------


@needs_corpus
def test_mattilsynet_certificate_maps() -> None:
    accepted, m = _map(MATTILSYNET.read_bytes())
    assert not accepted  # element order and a truncated attachment (tests/xml/test_corpus.py)
    # No B/L among its referenced documents, a transport equipment without an ID, and an unloading port
    # declared as an ISO 3166 code: no key, no container, no pod.
    assert pin_of(m) == Pin("xml-sps-certificate", "health_certificate", "123ABC",
                            procedures=(("sps_certificate", "123ABC", "issued"),))
    assert m.document is not None
    [c] = m.document["consignments"]
    assert "pod" not in c and "equipment" not in c
    assert [(g["item_no"], g.get("hs_code"), g.get("packages")) for g in c["goods"]] == [
        ("0", "06029048", 100), ("1", None, None)]
    assert c["procedures"][0]["authority"] == "Servicio Nacional de Sanidad y Calida Agroalimentaria"


# --- correlation ---------------------------------------------------------------------------------------


def _ingest(repo: MemoryRepository, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        _, m = _map(data)
        assert m.document is not None, m.reason
        correlate(repo, source_of(name, m.document), m.document)


def _procedures(c: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(p["kind"], p["reference"], p.get("status")) for p in c["procedures"]]


@pytest.mark.parametrize("reverse", [False, True])
def test_declaration_and_its_acceptance_make_one_consignment(reverse: bool) -> None:
    files = [(n, (SAMPLES / n).read_bytes()) for n in ("wco-declaration-import.xml", "wco-response-acceptance.xml")]
    repo = MemoryRepository()
    _ingest(repo, files[::-1] if reverse else files)
    [c] = repo.dossiers("consignment")
    assert c["master_bl"] == "AML0712N00045" and c["equipment"] == ["AMLU4571202"]
    # One procedure: the response's (dated) replaces the declaration's (undated, so earlier).
    assert _procedures(c) == [("customs_declaration", "CSB-BRK-2025-004711", "accepted")]
    assert c["direction"] == "import" and c["status"] == "declared"


@needs_corpus
@pytest.mark.parametrize("reverse", [False, True])
def test_hmrc_declaration_to_clearance(reverse: bool) -> None:
    """TT_IM001a: the declaration, its acceptance, two tax notifications and the clearance, by LRN."""
    files = [("Step1_TT_IM001a.xml", (HMRC / "TT_IM001a/Step1_TT_IM001a.xml").read_bytes())] + [
        (n, with_namespaces((HMRC / "TT_IM001a/Example_Notifications" / n).read_bytes()))
        for n in ("01_DMSACC.xml", "02_DMSTAX.xml", "03_DMSTAX.xml", "04_DMSCLE.xml")]
    repo = MemoryRepository()
    _ingest(repo, files[::-1] if reverse else files)
    [c] = repo.dossiers("consignment")
    assert c["ucr"] == "4GB553202734852-12345" and c["equipment"] == ["AD12345"]
    assert _procedures(c) == [("customs_declaration", "7847767E1WB6", "cleared")]
    assert [(r["kind"], r["reference"]) for r in c["releases"]] == [("customs", "24GB22WOA1EV2P6AR5")]
    assert c["status"] == "released"


@pytest.mark.parametrize("reverse", [False, True])
def test_call_formalities_join_the_bayplans_call(reverse: bool) -> None:
    names = ["../baplie-smdg22.edi", "berthing-request.xml", "waste-declaration.xml"]
    files = [(n, (SAMPLES / n).read_bytes()) for n in names]
    repo = MemoryRepository()
    _ingest(repo, files[::-1] if reverse else files)
    [call] = repo.dossiers("vessel_call")
    assert (call["port"], call["vessel"]["imo"]) == ("MACAS", "9312341")
    assert call["voyage_aliases"] == ["0712N", "0713S"]
    assert sorted((f["kind"], f["reference"]) for f in call["formalities"]) == [
        ("berthing_request", "AML-CSB-BR-2025-1127-01"), ("waste_notification", "AML-CSB-WD-2025-1127-01")]
    assert call["status"] == "berth_requested"


def test_heavy_packages_join_their_call_and_bls() -> None:
    repo = MemoryRepository()
    _ingest(repo, [("heavy", (SAMPLES / "heavy-package-declaration.xml").read_bytes())])
    [call] = repo.dossiers("vessel_call")
    assert (call["port"], call["voyage_out"]) == ("MAPTM", "0712N")
    assert [(f["kind"], f["reference"]) for f in call["formalities"]] == [
        ("heavy_package_declaration", "TNF-HP-2025-0391")]
    cons = {c["master_bl"]: c for c in repo.dossiers("consignment")}
    assert {b: c["equipment"] for b, c in cons.items()} == {"AMLTNG0004533": ["TNGU4102863"], "AMLTNG0004534": []}
    assert {c["call_id"] for c in cons.values()} == {call["id"]}


def test_measuring_instruments_land_on_their_bl() -> None:
    repo = MemoryRepository()
    _ingest(repo, [("bdm", (SAMPLES / "measuring-instrument-import.xml").read_bytes())])
    [c] = repo.dossiers("consignment")
    assert c["master_bl"] == "AMLGOA0007781" and c["equipment"] == ["AMLU7712346"]
    assert _procedures(c) == [("conformity_certificate", "EU-TE-0099-MI005-2024-031", None),
                              ("conformity_certificate", "R76/2006-A-XX1-21.07", None),
                              ("import_licence", "BDM-IMP-2025-117", "requested")]
    assert [e["type"] for e in c["events"]] == []  # not a customs declaration: no `declared`


def test_sps_certificate_correlates_only_with_a_key() -> None:
    repo = MemoryRepository()
    _ingest(repo, [("sps", (SAMPLES / "sps-phyto-certificate.xml").read_bytes())])
    assert repo.dossiers("consignment") == []  # no B/L in the sample: nothing to file it under
    data = (SAMPLES / "sps-phyto-certificate.xml").read_bytes().replace(b"</rsm:SPSExchangedDocument>", SPS_BL)
    _ingest(repo, [("sps-bl", data)])
    [c] = repo.dossiers("consignment")
    assert c["master_bl"] == "AMLRTM0005520" and c["equipment"] == ["AMLU5520180"]
    assert _procedures(c) == [("sps_certificate", "NL-2025-PC-0884213", "issued")]
    assert [e["type"] for e in c["events"]] == ["pre_cleared"]


def test_two_fragments_of_one_consignment_in_one_message_are_both_kept() -> None:
    doc = {"message": {"kind": "health_certificate", "number": "X"},
           "consignments": [{"master_bl": "BL1", "equipment": [{"number": "AMLU5520180"}]}],
           "procedures": [{"kind": "sps_certificate", "reference": "C1", "bl": "BL1"}]}
    repo = MemoryRepository()
    correlate(repo, source_of("m1", doc), doc)
    [c] = repo.dossiers("consignment")
    assert c["equipment"] == ["AMLU5520180"] and [p["kind"] for p in c["procedures"]] == ["sps_certificate"]
