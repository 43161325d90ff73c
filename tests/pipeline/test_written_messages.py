"""Routing `as: iftsta` and `as: cusres`: messages the hub writes from the dossiers a message touched,
checked by reading them back with the hub's own validator and mappings (both store backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.catalog import Catalog
from hub.config import Settings
from hub.delivery import Deliverer
from hub.edifact.status import STATUS_CODES, build_iftsta, build_release_notice
from hub.ingest import map_bytes
from hub.partners import Partners, load_partners
from hub.pipeline import Pipeline
from hub.store import Store
from hub.store.work import Delivery

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)

PARTNERS = """\
partners:
  - id: AML
    name: Atlas Maghreb Lines
    role: line
    unb_ids: [AMLCAS:ZZZ]
    folder: {in_dir: in/AML, out_dir: out/AML}
    sends: [CUSCAR]
    acks: {contrl: never}
  - id: DOUANE
    name: Customs
    role: customs
    unb_ids: [DOUANEMA:ZZZ]
    folder: {in_dir: in/DOUANE, out_dir: out/DOUANE}
    sends: [CUSRES]
    acks: {contrl: never, aperak: false}
  - id: FWD
    name: Forwarder
    role: forwarder
    unb_ids: [FWDCAS:ZZZ]
    folder: {in_dir: in/FWD, out_dir: out/FWD}
    acks: {expect_contrl: true, deadline_minutes: 60}
    receives:
      - types: [CUSCAR]
        as: iftsta
        via: folder
      - types: [CUSCAR, CUSRES]
        as: cusres
        via: folder
"""

RELEASE = (b"UNB+UNOA:2+DOUANEMA:ZZZ+PORTNETHUB+251128:1000+REL0001'UNH+1+CUSRES:D:95B:UN'"
           b"BGM+962+DEC-REL0001+9'DTM+137:202511281000:203'DTM+204:202511281000:203'GIS+4'"
           b"EQD+CN+AMLU4571202'RFF+ABT:DUMREL0001'RFF+BM:AMLTNG0004512'UNT+9+1'UNZ+1+REL0001'")


@pytest.fixture
def partners(tmp_path: Path, settings: Settings) -> Partners:
    path = tmp_path / "partners.yaml"
    path.write_text(PARTNERS)
    return load_partners(path, settings)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def run(store: Store, catalog: Catalog, partners: Partners, settings: Settings, data: bytes, partner: str) -> str:
    entry = store.journal(data, channel="folder", partner=partner, filename="in.edi")
    assert Pipeline(store, catalog, lambda: partners, settings, worker="w1").run_once() == 1
    stored = store.message(entry.id, raw=False)
    assert stored is not None and stored.status == "routed", store.report(entry.id)
    return entry.id


def written(store: Store, message_id: str) -> dict[str, Delivery]:
    with store.transaction(write=False) as tx:
        out = {}
        for d in tx.deliveries(message_id=message_id):
            full = tx.delivery(d.id)
            assert full is not None
            out[d.purpose] = full
        return out


def read_back(payload: bytes, catalog: Catalog) -> dict[str, Any]:
    report, mappings = map_bytes(payload, catalog)
    assert report.accepted, [i.message for i in report.all_issues()]
    [mapping] = mappings
    assert mapping.document is not None, mapping.reason
    return mapping.document


def test_a_manifest_gives_the_forwarder_a_status_report_of_each_bl(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    message_id = run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes(), "AML")
    out = written(store, message_id)
    # No consignment of a manifest holds a customs release yet: the release notice rule gives nothing.
    assert set(out) == {"route:1:iftsta"}
    iftsta = out["route:1:iftsta"]
    assert (iftsta.partner, iftsta.kind, iftsta.channel) == ("FWD", "iftsta", "folder")
    assert iftsta.filename.startswith("IFTSTA_") and iftsta.content_type == "application/edifact"
    assert iftsta.payload is not None and iftsta.payload.startswith(b"UNA:+.? 'UNB+UNOC:3+PORTNETHUB+FWDCAS:ZZZ+")
    assert iftsta.control_ref is not None and f"+{iftsta.control_ref}'".encode() in iftsta.payload
    doc = read_back(iftsta.payload, catalog)
    assert doc["message"]["type"] == "IFTSTA" and doc["message"]["recipient"] == "FWDCAS"
    dossiers = {bl: store.dossiers_by(bl=bl, kind="consignment")[0]["dossier"]
                for bl in ("AMLTNG0004512", "CSLSHA0019876")}
    reported = {c["master_bl"]: c for c in doc["consignments"]}
    assert set(reported) == set(dossiers)
    for bl, dossier in dossiers.items():
        statuses = {e["status"] for e in reported[bl]["equipment"]}
        state = dossier["status"]
        assert statuses == {f"{STATUS_CODES[state]} {state.replace('_', ' ').upper()}"}
        assert sorted(e.get("number") for e in reported[bl]["equipment"]) == sorted(dossier["equipment"])
    # Delivered, the status report waits for the forwarder's CONTRL like any interchange the hub sends.
    assert Deliverer(store, lambda: partners, settings, worker="d").run_once() == 1
    with store.transaction(write=False) as tx:
        assert [(a["partner"], a["control_ref"]) for a in tx.expected_acks()] == [("FWD", iftsta.control_ref)]
    [file] = (settings.home / "out/FWD").iterdir()
    assert file.read_bytes() == iftsta.payload


def test_a_customs_release_gives_the_forwarder_a_release_notice(
        store: Store, catalog: Catalog, partners: Partners, settings: Settings) -> None:
    run(store, catalog, partners, settings, (SAMPLES / "cuscar-d95b.edi").read_bytes(), "AML")
    message_id = run(store, catalog, partners, settings, RELEASE, "DOUANE")
    out = written(store, message_id)
    assert set(out) == {"route:2:cusres"}
    notice = out["route:2:cusres"]
    assert notice.payload is not None and notice.kind == "cusres"
    doc = read_back(notice.payload, catalog)
    assert doc["message"]["status"] == "released"
    [procedure] = doc["procedures"]
    assert (procedure["bl"], procedure["reference"], procedure["status"]) == ("AMLTNG0004512", "DUMREL0001", "released")
    assert procedure["decided_at"]["utc"] == "2025-11-28T10:00:00Z"
    # The same dossier and time give the same bytes: routing re-run after a crash writes what it wrote.
    dossier = store.dossiers_by(bl="AMLTNG0004512", kind="consignment")[0]["dossier"]
    twice = [build_release_notice([dossier], our_id="PORTNETHUB", recipient="FWDCAS", recipient_qualifier="ZZZ",
                                  control_ref="H1", now=NOW) for _ in range(2)]
    assert twice[0] is not None and twice[0] == twice[1] and b"RFF+ABT:DUMREL0001'" in twice[0]


def consignment(**extra: Any) -> dict[str, Any]:
    return {"master_bl": "MAEU123456789", "status": "released", "equipment": ["MSCU1234565"], **extra}


def test_status_reports_are_split_at_999_consignments_and_99_containers(catalog: Catalog) -> None:
    many = [consignment(master_bl=f"BL{n:06d}", equipment=[]) for n in range(1000)]
    many[0]["equipment"] = [f"CONT{n:07d}" for n in range(120)]
    payload = build_iftsta(many, our_id="HUB", recipient="FWD", control_ref="H1", now=NOW)
    assert payload is not None and payload.count(b"UNH+") == 2 and payload.count(b"CNI+") == 1000
    report, mappings = map_bytes(payload, catalog)
    assert report.accepted, [i.message for i in report.all_issues()][:5]
    first = mappings[0].document
    assert first is not None and len(first["consignments"]) == 999
    assert len(first["consignments"][0]["equipment"]) == 99


def test_values_that_need_escaping_and_dossiers_without_a_name(catalog: Catalog) -> None:
    odd = consignment(master_bl="CMA+ÉTÉ'1?", status=None, booking="BK:7")
    payload = build_iftsta([odd, {"status": "booked"}], our_id="HUB", recipient="FWD", control_ref="H2", now=NOW)
    assert payload is not None
    doc = read_back(payload, catalog)
    [c] = doc["consignments"]  # the dossier with neither B/L nor booking is left out
    assert c["booking"] == "BK:7" and c["equipment"][0]["status"] == "102 UNKNOWN"
    assert build_iftsta([{"status": "booked"}], our_id="HUB", recipient="FWD", control_ref="H3", now=NOW) is None
    assert build_release_notice([consignment()], our_id="HUB", recipient="FWD", control_ref="H4", now=NOW) is None


def test_the_latest_customs_release_is_the_one_notified(catalog: Catalog) -> None:
    def stamp(utc: str) -> dict[str, str]:
        return {"utc": utc, "original": utc, "fmt": "203"}

    releases = [{"kind": "customs", "reference": "OLD", "released_at": stamp("2026-11-01T08:00:00Z")},
                {"kind": "carrier", "reference": "CARRIER", "released_at": stamp("2026-11-30T08:00:00Z")},
                {"kind": "customs", "reference": "NEW", "released_at": stamp("2026-11-20T08:00:00Z"),
                 "equipment": ["TGHU0000000"]}]
    payload = build_release_notice([consignment(releases=releases)], our_id="HUB", recipient="FWD",
                                   control_ref="H5", now=NOW)
    assert payload is not None
    [procedure] = read_back(payload, catalog)["procedures"]
    assert (procedure["reference"], procedure["container"]) == ("NEW", "TGHU0000000")
    assert procedure["decided_at"]["utc"] == "2026-11-20T08:00:00Z"


def test_an_unwritable_control_reference_or_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="control_ref"):
        build_iftsta([consignment()], our_id="HUB", recipient="FWD", control_ref="bad ref", now=NOW)
    with pytest.raises(ValueError, match="recipient"):
        build_iftsta([consignment()], our_id="HUB", recipient=" ", control_ref="H6", now=NOW)
