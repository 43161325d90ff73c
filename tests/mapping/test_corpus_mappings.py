"""Every BAPLIE, CUSCAR, IFTMIN, COARRI, CODECO, COPARN, IFTSTA and CUSRES interchange of the corpus and
of samples/ maps without an exception, and gives the key fields correlation lives on.

The table below was written by reading each file (vessel in TDT C222, voyage in TDT 8028 / RFF+VON,
the port of the call, EQD container numbers, B/Ls in RFF+BM/BH): it pins what the specs in mappings/
make of them. A corpus file that is added, or a spec edit that changes a key field, fails here until
the table says what it should be. The corpus is read in place (`tests/corpus.py`); its tests are
skipped when it is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.catalog import default_catalog
from hub.ingest import map_bytes
from hub.mapping.run import MessageMapping
from tests.corpus import CORPUS, ROOT, edifact_files

TYPES = frozenset({"BAPLIE", "CUSCAR", "IFTMIN", "COARRI", "CODECO", "COPARN", "IFTSTA", "CUSRES"})
SAMPLES = ROOT / "samples"


@dataclass(frozen=True)
class Pin:
    """What one message must map to."""

    ref: str  # UNH 0062
    spec: str
    vessel: str | None = None  # call.vessel_name
    vessel_id: str | None = None  # call.vessel_id (IMO number or call sign)
    voyage_in: str | None = None
    voyage_out: str | None = None
    port: str | None = None  # call.port: the port of the call
    records: int = 0  # container records (stowage, equipment, consignment equipment) with a number
    containers: tuple[str, ...] = ()  # the distinct numbers, sorted; all of them unless `some`
    some: bool = False  # True for big bayplans: `containers` is a sample that must be among them
    distinct: int | None = None  # number of distinct container numbers, when `some`
    bls: tuple[str, ...] = ()  # B/Ls (master, house, per container), sorted, dummy '1' included
    bookings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # dotted path -> value, for what a file shows


NOT_SUPPORTED = "the message's directory is not supported"

# Files whose directory the hub does not ship: pinned as "no mapping", with why.
NO_MAPPING: dict[str, str] = {
    "MJapdeva4302__ReadBaplie/COARRI_NEW.edi": "COARRI D23A (ITG10): no D.23A directory",
    "MJapdeva4302__ReadBaplie/output.edi": "COARRI D23A: no D.23A directory",
    "MJapdeva4302__ReadBaplie/outputExportDGS.edi": "COARRI D23A: no D.23A directory",
    "OpenShipping__edi-convert/job_43002_input_Release_data.txt": "BAPLIE 1.5 (BAPLIE:1:911:UN:SMDG15)",
    "henry0hai__parse-baplie/demo_v15.edi": "BAPLIE 1.5 (BAPLIE:1:911:UN:SMDG15)",
    "apimeister__edifact-types/d04b_baplie.edi": "BAPLIE D04B: no D.04B directory",
    "nezpik__Pistology-3DBaplie/sample_baplie.txt": "BAPLIE D15A: no D.15A directory",
    "xeredi__portico/cuscar1.itc": "CUSCAR D95A: no D.95A directory",
    "xeredi__portico/cusres1.itc": "CUSRES 1:921 (pre-D directory)",
    "xeredi__portico/cusres2.itc": "CUSRES 1:921 (pre-D directory)",
}

_BIG_BAYPLAN_NOTE = "containers: a sample of the numbers, checked with grep '^EQD' over the file"

EXPECTED: dict[str, list[Pin]] = {
    # --- BAPLIE SMDG 2.x (D95B) -----------------------------------------------------------------------
    "MJapdeva4302__ReadBaplie/BAPLIE_Export.EDI": [Pin(
        "SEACOSA9624", "baplie-smdg2", vessel="DEL MONTE GOLD", vessel_id=None, voyage_in="042",
        port="GTSTC", records=672, distinct=672, some=True,
        containers=("OTPU6302396", "SEKU9206845", "TEMU9544485", "TEMU9548979"), bls=("1",),
        extra={"call.previous_port": "CRMOB", "stowage#": 672})],
    # The same bayplan with a number inserted after every tag (not EDIFACT): every element is shifted,
    # so nothing lands where the spec reads it; mapping survives and shows the damage.
    "MJapdeva4302__ReadBaplie/BAPLIE_VERSION2_EXPORT_NEW.edi": [Pin(
        "SEACOSA9624", "baplie-smdg2", records=672, containers=("CN",), extra={"stowage#": 672})],
    # Only UNB, UNH and UNZ: an empty bayplan.
    "OpenShipping__edi-convert/ASJ.edi.txt": [Pin("650", "baplie-smdg2")],
    # A planning bayplan: 1457 cells, EQD+CN++4200 without container numbers.
    "OpenShipping__edi-convert/GBSOU_arrival.BAPLIE.edi.txt": [Pin(
        "650", "baplie-smdg2", vessel="ANGE APHRODITE", vessel_id="XXXX", voyage_in="0001", voyage_out="0001",
        port="GBSOU", bls=("1",), extra={"stowage#": 1457, "call.previous_port": "VSL"})],
    "OpenShipping__edi-convert/job_43003_input_Release_data.txt": [Pin(
        "12610", "baplie-smdg2", vessel="CAROLINE MAERSK", vessel_id="OZWA2", voyage_in="1002", voyage_out="1002",
        port="OMSLL", records=4053, distinct=4053, some=True,
        containers=("CAXU6274039", "ECMU1771761", "ECMU2085386", "IPXU3013510"), bls=("1",),
        extra={"call.previous_port": "MYPKG", "call.vessel_id_scheme": "call_sign"})],
    # No LOC+61: the next port of call is not said, so there is no port of the call.
    "php-edifact__edifact/D95BBAPLIE.edi": [Pin(
        "1907", "baplie-smdg2", vessel="OOCL BEIJING", vessel_id="VRIB3", voyage_in="042",
        records=3, containers=("MOEU0710945", "OOLU4293959", "OOLU8757889"), bls=("1",),
        extra={"call.previous_port": "USLGB"})],
    # 'TOLU 2566410' with a space: normalised.
    "xlate__staedi/baplie-test.edi": [Pin(
        "SENDER123", "baplie-smdg2", vessel_id="DLHV", voyage_in="VOYAGENO123", port="GRPIR", records=1,
        containers=("TOLU2566410",), bls=("1",), extra={"stowage.0.dg.0.un_number": "2198"})],
    "shogg__edifact/unmarshal_baplie_test.go__extracted_BAPLIE.edi": [Pin(
        "SEACOSA3627", "baplie-smdg2", vessel_id="A8VP5", voyage_in="010E", port="DEHAM", records=1,
        containers=("CSNU1487660",), bookings=("2697489840",), extra={"stowage.0.vgm": 26700})],
    # --- BAPLIE SMDG 3.1 (D13B) ---------------------------------------------------------------------------
    # The vessel is in TDT element 7 (one '+' short), where D.13B has C401: not read as the vessel.
    "EdiFabric__EDIFACT.NET/Bayplan.txt": [Pin(
        "M-EX1/1", "baplie-smdg3", voyage_in="123W45", voyage_out="123E38", port="FRLEH", records=1,
        containers=("SUDU1234569",),
        extra={"bayplan.full": False, "call.previous_port": "BEANR", "stowage#": 2, "stowage.1.cell": "0200690",
               "stowage.0.gross_weight": 22600, "stowage.0.carrier": "HSD", "events.0.detail": "BEANR",
               "events.1.detail": "FRLEH"})],
    # --- CUSCAR -----------------------------------------------------------------------------------------
    # A US CBP ACE truck manifest: port 0901 is a CBP port code, the consignment has no B/L (RFF+AAM).
    "EdiFabric__EDIFACT.NET/CargoReport.txt": [Pin(
        "CUSCAR54", "cuscar-d03b", port="0901", records=2, containers=("10000325",),
        extra={"consignments.0.parties#": 3, "consignments.0.goods.0.packages": 158})],
    # --- IFTMIN -----------------------------------------------------------------------------------------
    # EANCOM: parties and places by GLN (agency 9), no vessel, no booking.
    "EdiFabric__EDIFACT.NET/Instruction.txt": [Pin(
        "ME000001", "iftmin-d96a", extra={"message.kind": "instruction", "consignments.0.parties#": 4})],
    # Two IFTMIN with a date only, between INVOIC messages (not mapped: no spec for INVOIC).
    "indice-co__EDI.Net/edifact.Issue188.edi": [Pin("42", "iftmin-d96a"), Pin("43", "iftmin-d96a")],
    # A road forwarding instruction (Bring): TDT+20 by road, no vessel and no port.
    "apimeister__edifact-types/test_iftmin.rs__extracted_IFTMIN.edi": [Pin(
        "1234", "iftmin-d99b", records=1, containers=("NC044D",),
        extra={"message.function": "cancellation", "consignments.0.goods.0.hs_code": "7411220000",
               "consignments.0.goods.0.dg.0.un_number": "1463"})],
    # --- COARRI (D95B, ITG13): a discharge report and a loading report --------------------------------
    "php-edifact__edifact/D95BCOARRI.edi": [
        Pin("1452515553811", "coarri-d95b", vessel="COSCO AFRICA", vessel_id="3ERX3", voyage_in="031W",
            port="ITGOA", records=2, containers=("FCIU9908030", "MAGU5591240"),
            extra={"message.kind": "discharge_report", "call.terminal": "VTE", "equipment.0.movement": "discharge",
                   "equipment.0.cell": "380886"}),
        Pin("1452515553819", "coarri-d95b", vessel="COSCO AFRICA", vessel_id="3ERX3", voyage_in="032E",
            port="ITGOA", records=19,
            containers=("BSIU9567158", "CAXU3190016", "CBHU6192031", "CBHU6292344", "CBHU6351154",
                        "CBHU6411248", "CBHU8131755", "CBHU8671943", "CBHU9515082", "FSCU5025633",
                        "FSCU8459470", "FSCU8710190", "SEGU4658302", "TEMU3412100", "TEMU7359214",
                        "TRLU7321376", "TRLU8132090", "TTNU4873285", "UETU4004602"),
            bookings=("9000157590", "9000157770", "9000157810", "9000157840", "9000157850", "9000157870",
                      "9000157880", "9000157890", "9000157920", "9000187200", "9000187250", "9000187260",
                      "9000187290", "9000187340", "9000187350", "9000187370"),
            extra={"message.kind": "load_report", "equipment.0.movement": "load", "equipment.0.pod": "GRPIR"}),
    ],
    # --- CODECO -----------------------------------------------------------------------------------------
    "php-edifact__edifact-generator/SAMPLES.md__CODECO.edi": [Pin(
        "M5C52028597E23", "codeco-d95b", records=1, containers=("CBHU1234567",), bookings=("4006531400",),
        extra={"message.status": "gate_in", "equipment.0.movement": "gate_in", "equipment.0.gross_weight": 15400})],
    # SMDG CODECO 2.x examples (message only, no UNB): gate-in reports (BGM 109) ...
    "xeredi__portico/codeco1.itc": [Pin(
        "241443010001", "codeco-d00b", vessel="MSC CLAUDIA", vessel_id="7104673", voyage_in="048R", voyage_out="048",
        port="AUMEL", records=1, containers=("PONU4863849",),
        extra={"call.vessel_id_scheme": "imo", "call.vessel_call_sign": "3EQZ6", "call.terminal": "CONWS",
               "message.status": "gate_in", "equipment.0.gross_weight": 10474, "equipment.0.temperature": 11})],
    "xeredi__portico/codeco2.itc": [Pin(
        "241443010001", "codeco-d00b", vessel="MSC CLAUDIA", vessel_id="7104673", voyage_in="048R", voyage_out="048",
        port="AUMEL", records=1, containers=("PONU4863849",), extra={"equipment.0.vgm": 12373})],
    "xeredi__portico/codeco3.itc": [Pin(
        "241443010001", "codeco-d00b", vessel="MSC CLAUDIA", vessel_id="7104673", voyage_in="048R", voyage_out="048",
        port="AUMEL", records=1, containers=("PONU4863849",), extra={"equipment.0.vgm": 12373})],
    # ... and status change reports (BGM 266: the box was weighed), without a vessel.
    "xeredi__portico/codeco4.itc": [Pin(
        "241443010001", "codeco-d00b", records=1, containers=("PONU4863849",),
        extra={"message.status": "status_change", "equipment.0.location": "AUMEL"})],
    "xeredi__portico/codeco5.itc": [Pin(
        "241443010001", "codeco-d00b", records=1, containers=("PONU4863849",),
        extra={"message.status": "status_change"})],
    # --- COPARN -----------------------------------------------------------------------------------------
    # An empty release for booking 204549739: the box has no number yet.
    "php-edifact__edifact/README.md__COPARN.edi": [Pin(
        "141260500001", "coparn-d95b", bookings=("204549739",),
        extra={"message.status": "release_order", "consignments.0.equipment.0.size_type": "45G1",
               "consignments.0.equipment.0.full_empty": "empty", "consignments.0.carrier": "MAE"})],
    "php-edifact__edifact-generator/SAMPLES.md__COPARN.edi": [Pin(
        "M5C5201079DE48", "coparn-d00b", vessel="NOE VESSEL", vessel_id="XNOE", voyage_out="0002W", port="ITGOA",
        records=1, containers=("CBHU1234567",), bookings=("400123456",),
        extra={"message.status": "acceptance_order", "consignments.0.equipment.0.vgm": 11495.14})],
    # --- IFTSTA -----------------------------------------------------------------------------------------
    "apimeister__edifact-types/d00b_iftsta.edi": [Pin(
        "2805567", "iftsta-d00b", records=1, containers=("TRHU4561222",), bls=("ABCD224O4023815X",),
        bookings=("24O4023815",),
        extra={"consignments.0.pol": "COCTG", "consignments.0.pod": "USNYC",
               "consignments.0.equipment.0.location": "USSYR",
               "consignments.0.equipment.0.status": "P Rail Departed from In-Transit Locat"})],
}

SAMPLE_EXPECTED: dict[str, list[Pin]] = {
    "baplie-smdg22.edi": [Pin(
        "AMLBP000101", "baplie-smdg2", vessel="ATLAS TANGIER", vessel_id="CNAT7", voyage_in="0712N",
        voyage_out="0713S", port="MACAS", records=5,
        containers=("AMLU4571202", "ATMU7710930", "CSLU9130477", "RIFU0025192", "TNGU4102863"),
        bls=("1", "AMLTNG0004512", "AMLTNG0004533", "CSLSHA0019876"),
        extra={"call.previous_port": "MAPTM", "call.eta.utc": "2025-11-27T18:00:00Z",
               "stowage.0.vgm": 24150, "stowage.1.temperature": -18})],
    "cuscar-d95b.edi": [Pin(
        "CUS0001", "cuscar-d95b", vessel="ATLAS TANGIER", vessel_id="CNAT7", voyage_in="0712N", port="MACAS",
        records=4, containers=("AMLU4571202", "CSLU9130477"), bls=("AMLTNG0004512", "CSLSHA0019876"),
        extra={"message.kind": "manifest", "call.previous_port": "MAPTM", "equipment.0.gross_weight": 24150,
               "equipment.1.seals": ["CS9913047"], "consignments.1.place_of_delivery": "MARBA",
               "consignments.0.parties.1.name": "EPICERIE FINE DE L'ATLAS SA",
               "consignments.1.goods.0.dg.0.un_number": "1263",
               "consignments.0.equipment.0.number": "AMLU4571202"})],
    "iftmin-d96a.edi": [Pin(
        "KFL0871", "iftmin-d96a", vessel="ATLAS TANGIER", vessel_id="CNAT7", voyage_out="0714N", port="MACAS",
        records=1, containers=("AMLU8803414",), bookings=("AMLCAS0098123",),
        extra={"message.kind": "instruction", "consignments.0.pod": "NLRTM", "consignments.0.gross_weight": 19850,
               "consignments.0.parties.0.name": "Coopérative Argan Souss Massa",
               "consignments.0.equipment.0.seals": ["KF0871A"], "call.etd.utc": "2025-12-03T18:00:00Z"})],
    "coarri-d95b.edi": [Pin(
        "CT1CO0458", "coarri-d95b", vessel="ATLAS TANGIER", vessel_id="CNAT7", voyage_in="0712N",
        voyage_out="0712N", port="MACAS", records=3, containers=("AMLU4571202", "CSLU9130477", "RIFU0025192"),
        bls=("AMLTNG0004512", "CSLSHA0019876"),
        extra={"message.kind": "discharge_report", "call.terminal": "CT1", "call.ata.utc": "2025-11-27T18:40:00Z",
               "equipment.2.full_empty": "empty", "equipment.2.movement": "discharge",
               "equipment.0.movement_time.utc": "2025-11-27T22:12:00Z"})],
    "codeco-d95b.edi": [Pin(
        "CT1CD1207", "codeco-d95b", vessel="ATLAS TANGIER", vessel_id="CNAT7", voyage_in="0712N", port="MACAS",
        records=2, containers=("AMLU4571202", "CSLU9130477"), bls=("AMLTNG0004512", "CSLSHA0019876"),
        extra={"message.status": "gate_out", "equipment.0.movement": "gate_out",
               "equipment.0.seals": ["MA0457120", "DOU88123"],
               "equipment.1.movement_time.utc": "2025-11-28T16:08:00Z"})],
}


# --- reading mapped documents ----------------------------------------------------------------------------


def _container_numbers(doc: dict[str, Any]) -> list[str]:
    out = [r["equipment"] for r in doc.get("stowage") or () if r.get("equipment")]
    out += [e["number"] for e in doc.get("equipment") or () if e.get("number")]
    for c in doc.get("consignments") or ():
        out += [e["number"] for e in c.get("equipment") or () if e.get("number")]
    return out


def _references(doc: dict[str, Any], consignment_field: str, record_field: str) -> list[str]:
    out: list[str] = []
    for c in doc.get("consignments") or ():
        if c.get(consignment_field):
            out.append(c[consignment_field])
        if consignment_field == "master_bl":
            out += c.get("house_bls") or []
        out += [e[record_field] for e in c.get("equipment") or () if e.get(record_field)]
    for kind in ("stowage", "equipment", "procedures", "releases"):
        out += [r[record_field] for r in doc.get(kind) or () if r.get(record_field)]
    return out


def _get(doc: dict[str, Any], path: str) -> Any:
    """'consignments.0.parties.1.name'; a trailing '#' counts a list ('stowage#')."""
    count = path.endswith("#")
    node: Any = doc
    for part in path.rstrip("#").split("."):
        if isinstance(node, list):
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        if node is None:
            break
    return len(node or ()) if count else node


def _check(m: MessageMapping, pin: Pin) -> None:
    assert m.message_ref == pin.ref
    assert m.reason is None and m.document is not None, m.reason
    assert m.spec == pin.spec
    doc = m.document
    call = doc.get("call") or {}
    got = {k: call.get(k) for k in ("vessel_name", "vessel_id", "voyage_in", "voyage_out", "port")}
    assert got == {"vessel_name": pin.vessel, "vessel_id": pin.vessel_id, "voyage_in": pin.voyage_in,
                   "voyage_out": pin.voyage_out, "port": pin.port}
    numbers = _container_numbers(doc)
    assert len(numbers) == pin.records
    distinct = sorted(set(numbers))
    if pin.some:
        assert len(distinct) == pin.distinct
        assert set(pin.containers) <= set(distinct)
    else:
        assert tuple(distinct) == pin.containers
    assert tuple(sorted(set(_references(doc, "master_bl", "bl")))) == pin.bls
    assert tuple(sorted(set(_references(doc, "booking", "booking")))) == pin.bookings
    for path, value in pin.extra.items():
        assert _get(doc, path) == value, path
    assert m.notes == [], "values that did not convert: " + "; ".join(m.notes)


def _relevant(mappings: list[MessageMapping]) -> list[MessageMapping]:
    return [m for m in mappings if m.message_type in TYPES]


# --- the tests -----------------------------------------------------------------------------------------

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


def _corpus_path(name: str) -> Path:
    return CORPUS / name


@needs_corpus
def test_every_port_message_of_the_corpus_is_in_the_table() -> None:
    """Each corpus file with a message of the eight types is pinned, mapped or 'no mapping'."""
    found = set()
    for path in edifact_files():
        _, mappings = map_bytes(path.read_bytes(), default_catalog())  # never raises
        if _relevant(mappings):
            found.add(path.relative_to(CORPUS).as_posix())
    assert found == set(EXPECTED) | set(NO_MAPPING)


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_maps_to_its_pinned_keys(name: str) -> None:
    _, mappings = map_bytes(_corpus_path(name).read_bytes(), default_catalog())
    relevant = _relevant(mappings)
    pins = EXPECTED[name]
    assert len(relevant) == len(pins)
    for m, pin in zip(relevant, pins, strict=True):
        _check(m, pin)


@needs_corpus
@pytest.mark.parametrize("name", sorted(NO_MAPPING))
def test_corpus_file_without_a_directory_is_not_mapped(name: str) -> None:
    _, mappings = map_bytes(_corpus_path(name).read_bytes(), default_catalog())
    relevant = _relevant(mappings)
    assert relevant
    for m in relevant:
        assert m.document is None and m.spec is None
        assert m.reason == NOT_SUPPORTED, NO_MAPPING[name]


def test_every_sample_is_in_the_table() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.edi")) == sorted(SAMPLE_EXPECTED)


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTED))
def test_sample_maps_to_its_pinned_keys(name: str) -> None:
    report, mappings = map_bytes((SAMPLES / name).read_bytes(), default_catalog())
    assert report.accepted
    relevant = _relevant(mappings)
    assert len(relevant) == len(SAMPLE_EXPECTED[name])
    for m, pin in zip(relevant, SAMPLE_EXPECTED[name], strict=True):
        _check(m, pin)


@pytest.mark.parametrize("name", sorted(p.name for p in (SAMPLES / "invalid").glob("*.edi")))
def test_rejected_samples_still_map(name: str) -> None:
    """Validation rejects these; mapping still runs (an author previews what they would give)."""
    report, mappings = map_bytes((SAMPLES / "invalid" / name).read_bytes(), default_catalog())
    assert not report.accepted
    assert [m.document is not None for m in _relevant(mappings)] == [True]
