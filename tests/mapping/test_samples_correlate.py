"""The specs feed correlation: the five samples (one story, five senders) land in one vessel call and
its consignments, with no discrepancy, in whatever order they arrive."""

from __future__ import annotations

import copy

import pytest

from hub.catalog import default_catalog
from hub.dossier.correlate import correlate, source_of
from hub.ingest import map_bytes
from tests.corpus import ROOT
from tests.memory_repository import MemoryRepository

SAMPLES = ROOT / "samples"
CALL_FILES = ["baplie-smdg22.edi", "cuscar-d95b.edi", "coarri-d95b.edi", "codeco-d95b.edi"]


def _ingest(repo: MemoryRepository, names: list[str]) -> None:
    for name in names:
        _, mappings = map_bytes((SAMPLES / name).read_bytes(), default_catalog())
        for m in mappings:
            assert m.document is not None
            correlate(repo, source_of(name, m.document), m.document)


@pytest.mark.parametrize("order", [CALL_FILES, list(reversed(CALL_FILES))])
def test_samples_build_one_call(order: list[str]) -> None:
    repo = MemoryRepository()
    _ingest(repo, order)
    [call] = repo.dossiers("vessel_call")
    assert (call["port"], call["voyage_in"], call["voyage_out"]) == ("MACAS", "0712N", "0713S")
    assert call["vessel"]["call_sign"] == "CNAT7"
    assert call["discrepancies"] == []  # every full box for Casablanca in the bayplan is manifested
    consignments = {c["master_bl"]: c for c in repo.dossiers("consignment")}
    assert sorted(consignments) == ["AMLTNG0004512", "CSLSHA0019876"]
    assert consignments["AMLTNG0004512"]["equipment"] == ["AMLU4571202"]
    assert consignments["CSLSHA0019876"]["equipment"] == ["CSLU9130477"]
    assert {c["call_id"] for c in consignments.values()} == {call["id"]}
    types = {e["type"] for e in call["events"]}
    assert {"bayplan_received", "manifested", "ops_started", "eta", "ata"} <= types


def test_the_manifests_equipment_is_what_clears_the_bayplan() -> None:
    """Without the consignments' equipment records of the CUSCAR spec, the bayplan's full boxes for
    Casablanca would be flagged as in no manifest."""
    repo = MemoryRepository()
    _ingest(repo, ["baplie-smdg22.edi"])
    _, [cuscar] = map_bytes((SAMPLES / "cuscar-d95b.edi").read_bytes(), default_catalog())
    doc = copy.deepcopy(cuscar.document)
    assert doc is not None
    for c in doc["consignments"]:
        del c["equipment"]
    correlate(repo, source_of("cuscar-d95b.edi", doc), doc)
    [call] = repo.dossiers("vessel_call")
    flagged = sorted((d["type"], d["keys"]["container"]) for d in call["discrepancies"])
    assert flagged == [("container_not_manifested", "AMLU4571202"), ("container_not_manifested", "CSLU9130477")]


def test_shipping_instructions_open_the_next_call() -> None:
    repo = MemoryRepository()
    _ingest(repo, ["iftmin-d96a.edi"])
    [call] = repo.dossiers("vessel_call")
    assert (call["port"], call["voyage_out"]) == ("MACAS", "0714N")
    [cons] = repo.dossiers("consignment")
    assert cons["booking"] == "AMLCAS0098123" and cons["equipment"] == ["AMLU8803414"]
    assert [e["type"] for e in cons["events"]] == ["si_received"]
