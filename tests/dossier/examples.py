"""Example dossiers as the mapping and correlation stages would build them: a BAPLIE-fed vessel call, an
import consignment from a CUSCAR and a customs release, and one container."""

from __future__ import annotations

from hub.dossier import keys
from hub.dossier.lifecycle import Direction, FormalityStatus
from hub.dossier.model import (
    Bayplan,
    BayplanScope,
    BayplanStage,
    ConsignmentDossier,
    DangerousGoods,
    Discrepancy,
    DiscrepancySeverity,
    DiscrepancyType,
    Equipment,
    EquipmentSplit,
    Event,
    Formality,
    FullEmpty,
    GoodsItem,
    Inspection,
    Leg,
    Location,
    Movement,
    Party,
    Procedure,
    Release,
    Route,
    Seal,
    StowageRecord,
    Temperature,
    Vessel,
    VesselCall,
    path,
)

D = keys.parse_edifact_datetime


def vessel_call() -> VesselCall:
    call = VesselCall(
        id="call-1", port="MAPTM", terminal="TC1", port_call_ref="ESC2024000123",
        vessel=Vessel(imo="9321483", imo_valid=True, call_sign="9HA2017", name="MSC EXAMPLE", flag="PA"),
        operator="MSC", voyage_in="FL412W", voyage_out="FL413E", voyage_aliases=["FL412W", "FL413E"],
        previous_port=Location("ESALG", "5", "ALGECIRAS"), next_port=Location("MACAS", "61"),
        eta=D("2403011200", "201"), ata=D("202403011415", "203"), berthing_requested_at=D("20240228", "102"),
        formalities=[Formality("import_manifest", "MAN-1", FormalityStatus.ACCEPTED, "msg-cuscar")],
        sources=["msg-baplie", "msg-berman", "msg-cuscar"],
    )
    bay = Bayplan(id="bp-1", source_message_id="msg-baplie", stage=BayplanStage.ARRIVAL,
                  scope=BayplanScope.FULL, function="9", issued_at=D("2402291800", "201"))
    bay.add(StowageRecord(cell="0010182", equipment_number="TGHU7378319", size_type="45G1", pol="ESALG",
                          pod="MAPTM", gross_weight=24300.0, vgm=24310.0, carrier="MSC", bl=None,
                          full_empty=FullEmpty.FULL, handling=["KC"]))
    bay.add(StowageRecord(cell="0030282", equipment_number="MAXU4515883", size_type="45R1", pol="ESALG",
                          pod="MAPTM", temperature=Temperature(-18.0, "CEL", -20.0, -16.0),
                          dg=[DangerousGoods("1263", "3", "II", "PAINT", Temperature(23.0))]))
    call.bayplans.append(bay)
    call.events += [
        Event("ev-1", "call-1", "eta", D("2403011200", "201"), "2024-02-27T10:00:00Z", "msg-berman"),
        Event("ev-2", "call-1", "ata", D("202403011415", "203"), "2024-03-01T14:20:00Z", "msg-ata"),
        Event("ev-3", "call-1", "bayplan_received", None, "2024-02-29T18:05:00Z", "msg-baplie"),
    ]
    call.discrepancies.append(Discrepancy(
        "dsc-1", DiscrepancyType.CONTAINER_NOT_MANIFESTED.value, DiscrepancySeverity.WARNING,
        detail="MAXU4515883 is on the arrival bayplan but in no manifest of the call.",
        keys={"container": "MAXU4515883", "call": "call-1"}, message_ids=["msg-baplie"]))
    call.record_source("vessel", "msg-berman")
    call.record_source("eta", "msg-berman")
    call.record_source("ata", "msg-ata")
    call.record_source(path(("bayplans", "bp-1")), "msg-baplie")
    call.refresh_status()
    return call


def consignment() -> ConsignmentDossier:
    c = ConsignmentDossier(
        id="cons-1", direction=Direction.IMPORT, master_bl="MEDU1234567", house_bls=["HB-9"],
        booking="BK77", carrier="MSCU", transport_document_type="B/L",
        parties=[Party("CN", "001234567000089", "ICE", "IMPORT SARL", ["12 RUE DU PORT"], "TANGER", "90000",
                       "MA"), Party("CZ", name="EXPORTER SA", country="ES")],
        route=Route(pol=Location("ESALG", "9"), pod=Location("MAPTM", "11", terminal="TC1"),
                    place_of_delivery=Location("MACAS", "7", "CASABLANCA")),
        legs=[Leg("20", "1", "MSCU", Vessel(imo="9321483"), "FL412W", "call-1")],
        goods_items=[GoodsItem(1, 1200, "CT", "CERAMIC TILES", "690721", 24000.5, 23000.0, 60.0,
                               ["TILES 1-1200"],
                               equipment_split=[EquipmentSplit("TGHU7378319", 1200, 24000.5)])],
        equipment=["TGHU7378319"],
        procedures=[Procedure("customs_declaration", "303-2024-0001234", "ADII", "released", "bon à enlever",
                              D("202403011600", "203"), D("202403021000", "203"), "msg-badr",
                              {"office": "303", "type": "import"})],
        inspections=[Inspection("scanner", "SC-1", "ADII", D("202403020800", "203"), None, "no anomaly",
                                ["TGHU7378319"], "msg-badr")],
        releases=[Release("customs", "303-2024-0001234", D("202403021000", "203"), ["TGHU7378319"],
                          "msg-badr")],
        call_id="call-1", sources=["msg-badr", "msg-cuscar"],
    )
    c.events += [Event("ev-10", "cons-1", "manifested", None, None, "msg-cuscar"),
                 Event("ev-11", "cons-1", "released", D("202403021000", "203"), None, "msg-badr")]
    c.record_source(path(("parties", "CN")), "msg-cuscar")
    c.record_source(path(("procedures", "customs_declaration:303-2024-0001234")), "msg-badr")
    c.refresh_status()
    return c


def equipment() -> Equipment:
    number = keys.normalise_container("TGHU 737831-9")
    e = Equipment(number.value, number.raw, number.valid, "45G1", "MSC", 3900.0, False)
    use = e.use(call_id="call-1", consignment_id="cons-1")
    use.full_empty = FullEmpty.FULL
    use.seals.append(Seal("ES123456", "CA"))
    use.vgm = 24310.0
    e.movements.append(Movement("discharge", D("202403011730", "203"), Location("MAPTM", terminal="TC1"),
                                "call-1", "0010182", "msg-coarri"))
    e.events.append(Event("ev-20", e.number, "discharged", D("202403011730", "203"), None, "msg-coarri",
                          {"call_id": "call-1"}))
    e.sources = ["msg-baplie", "msg-coarri"]
    e.record_source("size_type", "msg-baplie")
    e.refresh_status()
    return e
