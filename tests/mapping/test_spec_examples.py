"""Specs for which neither the corpus nor samples/ has a message, tried on small fictitious ones.

The messages continue the samples' story (samples/README.md: ATLAS TANGIER, voyage 0712N from Tanger Med
to Casablanca, then 0714N to Rotterdam); every name, number and reference in them is invented, except
the ports and the code values. Each must pass validation first, so that what is mapped is a message a
partner could really send.
"""

from __future__ import annotations

from typing import Any

from hub.catalog import default_catalog
from hub.ingest import map_bytes


def _map(text: str) -> list[dict[str, Any]]:
    segments = [s.strip() for s in text.strip().splitlines() if s.strip()]
    data = "\n".join(segments).encode("ascii")
    report, mappings = map_bytes(data, default_catalog())
    assert report.accepted, report.render()
    out = []
    for m in mappings:
        assert m.document is not None, m.reason
        assert m.notes == []
        out.append(m.document)
    return out


def _unt(body: str, ref: str) -> str:
    """Close a message: UNT with the segment count (UNH to UNT)."""
    n = len([s for s in body.strip().splitlines() if s.strip()]) + 1
    return f"{body.strip()}\nUNT+{n}+{ref}'"


# --- BAPLIE SMDG 3.1 (D13B) ---------------------------------------------------------------------------

BAPLIE_SMDG31 = "UNB+UNOA:2+AMLTNG:ZZZ+MAPTMTOC:ZZZ+251126:1030+AML2511260002'\n" + _unt("""
UNH+AMLBP000102+BAPLIE:D:13B:UN:SMDG31'
BGM+659+ATLTNG0712N-P1+9'
DTM+137:202511261030:203'
TDT+20+0712N+++AML:LINES:306+++9123453::11:ATLAS TANGIER'
RFF+VON:0713S'
LOC+5+MAPTM:139:6'
DTM+136:202511270600:203'
LOC+61+MACAS:139:6'
DTM+132:202511271800:203'
UNS+D'
LOC+147+0020282::5'
EQD+CN+AMLU4571202:6346:5+45G1:6346:5+++5'
NAD+CF+AML:LINES:306'
MEA+AAE+VGM+KGM:24150'
RFF+BM:AMLTNG0004512'
LOC+9+MAPTM:139:6'
LOC+11+MACAS:139:6'
CNT+8:1'
LOC+147+0060484::5'
EQD+CN+ATMU7710930:6346:5+45R1:6346:5+++5'
MEA+AAE+VGM+KGM:27430'
HAN+KC:HANDLING:306'
LOC+9+MAPTM:139:6'
LOC+11+NLRTM:139:6'
TMP+2+-18.0:CEL'
CNT+8:1'
""", "AMLBP000102") + "\nUNZ+1+AML2511260002'"


def test_baplie_smdg31() -> None:
    [doc] = _map(BAPLIE_SMDG31)
    assert doc["message"]["kind"] == "bayplan" and doc["message"]["function"] == "original"
    assert doc["bayplan"] == {"full": False}  # 659: a partial bayplan, merged cell by cell
    call = doc["call"]
    assert call["vessel_id"] == "9123453" and call["vessel_id_scheme"] == "imo"
    assert call["vessel_name"] == "ATLAS TANGIER" and call["operator"] == "AML"
    assert (call["voyage_in"], call["voyage_out"]) == ("0712N", "0713S")
    assert (call["port"], call["previous_port"]) == ("MACAS", "MAPTM")
    assert call["eta"]["utc"] == "2025-11-27T18:00:00Z"
    assert "ata" not in call and "etd" not in call  # Tanger Med's times are not Casablanca's
    assert [(e["type"], e["detail"]) for e in doc["events"]] == [
        ("port_departure", "MAPTM"), ("port_arrival_estimated", "MACAS")]
    first, second = doc["stowage"]
    assert first == {"cell": "0020282", "equipment": "AMLU4571202", "size_type": "45G1", "full_empty": "full",
                     "carrier": "AML", "vgm": 24150, "bl": "AMLTNG0004512", "pol": "MAPTM", "pod": "MACAS"}
    assert second["handling"] == "KC" and second["temperature"] == -18 and second["pod"] == "NLRTM"


# --- COARRI D00B (SMDG COARRI 2.x): a loading report -----------------------------------------------

COARRI_D00B = "UNB+UNOA:2+CT1CAS:ZZZ+AMLCAS:ZZZ+251203:2300+CT10000470'\n" + _unt("""
UNH+CT1CO0470+COARRI:D:00B:UN:SMDG20'
BGM+122+CT1-LOA-0714N+9'
DTM+137:202512032300:203'
TDT+20+0714N+1++AML:172:20+++CNAT7:103:ZZZ:ATLAS TANGIER'
RFF+VON:0714N'
LOC+9+MACAS:139:6+CT1:TER:ZZZ'
DTM+178:202512031400:203'
NAD+CF+AML:160:ZZZ'
EQD+CN+AMLU8803414+45G1:102:5+2+2+5'
RFF+BN:AMLCAS0098123'
DTM+203:202512031912:203'
LOC+147+0140482::5'
LOC+11+NLRTM:139:6'
MEA+AAE+AET+KGM:24100'
SEL+KF0871A+SH'
CNT+16:1'
""", "CT1CO0470") + "\nUNZ+1+CT10000470'"


def test_coarri_d00b_loading_report() -> None:
    [doc] = _map(COARRI_D00B)
    assert doc["message"]["kind"] == "load_report" and doc["message"]["status"] == "load"
    call = doc["call"]
    assert (call["port"], call["terminal"], call["voyage_in"], call["voyage_out"]) == ("MACAS", "CT1", "0714N",
                                                                                       "0714N")
    assert call["ata"]["utc"] == "2025-12-03T14:00:00Z"
    [box] = doc["equipment"]
    assert box["number"] == "AMLU8803414" and box["movement"] == "load"
    assert box["movement_time"]["utc"] == "2025-12-03T19:12:00Z"
    assert (box["cell"], box["pod"], box["gross_weight"]) == ("0140482", "NLRTM", 24100)
    assert box["booking"] == "AMLCAS0098123"
    assert box["seals"] == ["KF0871A"] and box["supplier"] == "carrier"


# --- CUSRES D95B / D96A -------------------------------------------------------------------------------

def _cusres(directory: str, gis: str, ref: str) -> str:
    return f"UNB+UNOA:2+DOUANEMA:ZZZ+AMLCAS:ZZZ+251128:1000+{ref}'\n" + _unt(f"""
UNH+1+CUSRES:D:{directory}:UN'
BGM+962+DEC-{ref}+9'
LOC+22+MACAS:139:6'
DTM+137:202511281000:203'
DTM+204:202511280955:203'
GIS+{gis}'
EQD+CN+AMLU4571202'
RFF+ABT:DUM2025-778812'
RFF+BM:AMLTNG0004512'
""", "1") + f"\nUNZ+1+{ref}'"


def test_cusres_release() -> None:
    for directory in ("95B", "96A"):
        [doc] = _map(_cusres(directory, "4", "DOU0001"))
        assert doc["message"]["kind"] == "customs_response" and doc["message"]["status"] == "released"
        assert doc["message"]["response_to"] == "DUM2025-778812"
        assert doc["procedures"] == [{
            "reference": "DUM2025-778812", "kind": "customs_declaration", "authority": "customs",
            "bl": "AMLTNG0004512", "container": "AMLU4571202", "status": "released",
            "decision": "goods released", "office": "MACAS",
            "decided_at": {"utc": "2025-11-28T09:55:00Z", "original": "202511280955", "fmt": "203"}}]


def test_cusres_examination() -> None:
    [doc] = _map(_cusres("95B", "5", "DOU0002"))
    [proc] = doc["procedures"]
    assert proc["status"] == "inspection"  # correlation puts 'inspection_ordered' on the timeline
    assert proc["decision"] == "goods required for examination"


# --- IFTSTA D95B --------------------------------------------------------------------------------------

IFTSTA_D95B = "UNB+UNOA:2+AMLCAS:ZZZ+PORTNET:ZZZ+251128:1700+AML2511280017'\n" + _unt("""
UNH+ST0017+IFTSTA:D:95B:UN'
BGM+23+AML-ST-0017+9'
DTM+137:202511281700:203'
CNI+1+AMLTNG0004512'
STS+1+14::ZZZ:DELIVERED'
RFF+BM:AMLTNG0004512'
DTM+334:202511281512:203'
LOC+14+MACAS:139:6'
TDT+20+0712N+1++AML:172:20+++CNAT7:103:ZZZ:ATLAS TANGIER'
EQD+CN+AMLU4571202+45G1:102:5+++5'
""", "ST0017") + "\nUNZ+1+AML2511280017'"


def test_iftsta_d95b() -> None:
    [doc] = _map(IFTSTA_D95B)
    assert doc["message"]["kind"] == "status_report"
    assert doc["call"] == {"voyage_in": "0712N", "operator": "AML", "vessel_id": "CNAT7",
                           "vessel_name": "ATLAS TANGIER", "vessel_id_scheme": "call_sign"}
    [cons] = doc["consignments"]
    assert cons["master_bl"] == "AMLTNG0004512"
    [status] = cons["equipment"]
    assert status["number"] == "AMLU4571202" and status["status"] == "14 DELIVERED"
    assert status["location"] == "MACAS" and status["movement_time"]["utc"] == "2025-11-28T15:12:00Z"
