"""One vessel call end to end: the ATLAS TANGIER, voyage 0712N/0713S, at Casablanca (MACAS).

The files in data/ are our own (fictitious companies and references): a berthing request (XML), two
export shipping instructions (IFTMIN), the import cargo manifest (CUSCAR), the arrival bayplan (BAPLIE
SMDG 2.2), a WCO import declaration and customs' acceptance, a phytosanitary certificate (UN/CEFACT
SPS), and two customs releases (CUSRES), one of them for a B/L no manifest knows.

Planted in the bayplan, one discrepancy of each kind: AMLU4571202 weighs 27,900 kg against the
manifest's 24,150 (weight_mismatch); CSLU9130477 is discharged at ESALG while its B/L goes to MACAS
(pod_mismatch); TNGU4102863 is full, for MACAS, in no manifest (container_not_manifested). The
second release names B/L XYZ0000999999 (unknown_bl_in_release).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bench.bayplan import make_bayplan
from hub.catalog import default_catalog
from hub.ingest import ingest_bytes
from hub.store import Store, open_store
from tests.scenario.normalise import normalised

DATA = Path(__file__).parent / "data"
FILES = sorted(DATA.iterdir())


def _ingest(store: Store, files: list[Path]) -> None:
    catalog = default_catalog()
    for f in files:
        result = ingest_bytes(f.read_bytes(), store, catalog, filename=f.name)
        assert result.report is not None and result.report.accepted, f.name
        assert all(m.document is not None for m in result.mappings), (f.name, result.summary())


def _dossiers(store: Store) -> list[dict[str, Any]]:
    calls = store.dossiers_by(port_call_ref=None, vessel_name="ATLAS TANGIER") if False else []
    found: dict[str, dict[str, Any]] = {}
    for key, value in (("vessel_name", "ATLAS TANGIER"), ("bl", "AMLTNG0004512"), ("bl", "CSLSHA0019876"),
                       ("bl", "XYZ0000999999")):
        for d in store.dossiers_by(**{key: value}):
            found[d["id"]] = d
    with store.transaction(write=False) as tx:
        for booking in ("AMLCAS0098123", "AMLCAS0098124"):
            for did in tx.find_dossier_ids("booking", booking):
                found[did] = store.dossier(did) or {}
    return list(calls) + list(found.values())


def _normalised(store: Store) -> list[Any]:
    return normalised(_dossiers(store), lambda call: "CALL")


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'hub.db'}")


def test_the_call_and_its_consignments(store: Store) -> None:
    _ingest(store, FILES)
    calls = store.dossiers_by(vessel_name="ATLAS TANGIER", kind="vessel_call")
    assert len(calls) == 1
    call = calls[0]["dossier"]
    assert call["port"] == "MACAS"
    assert call["vessel"]["imo"] == "9312341" and call["vessel"]["call_sign"] == "CNAT7"
    assert call["voyage_aliases"] == ["0712N", "0713S"]
    assert call["status"] == "berth_requested"  # no arrival reported yet
    assert {f["kind"] for f in call["formalities"]} == {"berthing_request", "import_manifest"}
    [bayplan] = call["bayplans"]
    assert sum(len(v) for v in bayplan["records"].values()) == 5

    consignments = [d for d in _dossiers(store) if d["kind"] == "consignment"]
    by_key = {d["dossier"].get("master_bl") or d["dossier"].get("booking"): d["dossier"] for d in consignments}
    assert set(by_key) == {"AMLTNG0004512", "CSLSHA0019876", "AMLCAS0098123", "AMLCAS0098124",
                           "XYZ0000999999"}
    for key in ("AMLTNG0004512", "CSLSHA0019876", "AMLCAS0098123", "AMLCAS0098124"):
        assert by_key[key]["call_id"] == calls[0]["id"], key
    # the manifested, declared, accepted and released import consignment
    released = by_key["AMLTNG0004512"]
    assert released["direction"] == "import" and released["status"] == "released"
    assert [p["kind"] for p in released["procedures"]] == ["customs_declaration", "customs_declaration"] or \
        {p["kind"] for p in released["procedures"]} == {"customs_declaration"}
    assert released["releases"] and released["equipment"] == ["AMLU4571202"]
    # the certificate went to its B/L's dossier
    assert by_key["CSLSHA0019876"]["status"] == "pre_clearance_ok"
    assert any(p["kind"] == "sps_certificate" for p in by_key["CSLSHA0019876"]["procedures"])
    # the export instructions for the outbound voyage
    assert by_key["AMLCAS0098123"]["direction"] == "export"
    assert by_key["AMLCAS0098123"]["status"] == "si_received"


def test_timeline_is_in_time_order(store: Store) -> None:
    _ingest(store, FILES)
    [call] = store.dossiers_by(vessel_name="ATLAS TANGIER", kind="vessel_call")
    events = store.events_for(call["id"])
    times = [e["event_time"] for e in events if e["event_time"] is not None]
    assert times == sorted(times) and len(times) >= 5
    assert {"berthing_requested", "bayplan_received", "manifested", "eta"} <= {e["type"] for e in events}


def test_one_discrepancy_of_each_kind(store: Store) -> None:
    _ingest(store, FILES)
    [call] = store.dossiers_by(vessel_name="ATLAS TANGIER", kind="vessel_call")
    found = {(d["type"], d["keys"].get("container")) for d in call["dossier"]["discrepancies"]}
    assert found == {("weight_mismatch", "AMLU4571202"), ("pod_mismatch", "CSLU9130477"),
                     ("container_not_manifested", "TNGU4102863")}
    [unknown] = store.dossiers_by(bl="XYZ0000999999")
    assert [d["type"] for d in unknown["dossier"]["discrepancies"]] == ["unknown_bl_in_release"]
    # and the store's discrepancy table holds them open
    assert {d["type"] for d in store.discrepancies_for(call["id"], status="open")} == {
        "weight_mismatch", "pod_mismatch", "container_not_manifested"}


@pytest.mark.parametrize("order", ["reversed", "shuffled-1", "shuffled-2"])
def test_any_order_gives_the_same_dossiers(tmp_path: Path, order: str) -> None:
    first = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    _ingest(first, FILES)
    files = FILES[::-1] if order == "reversed" else random.Random(order).sample(FILES, len(FILES))
    second = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    _ingest(second, files)
    assert _normalised(first) == _normalised(second)


def test_ingesting_again_changes_nothing(store: Store) -> None:
    _ingest(store, FILES)
    before = _normalised(store)
    catalog = default_catalog()
    for f in FILES:
        result = ingest_bytes(f.read_bytes(), store, catalog, filename=f.name)
        assert result.duplicate_of is not None
    assert _normalised(store) == before



def test_a_bayplan_split_over_several_messages_is_one_plan(store: Store) -> None:
    """SMDG splits a large ship's bayplan into several BAPLIE messages of one interchange: they are
    parts of one plan, not successive full plans replacing each other."""
    result = ingest_bytes(make_bayplan(300, 3, 1), store, default_catalog(), filename="bayplan.edi")
    assert result.report is not None and result.report.accepted
    [call_id] = result.summary()["calls"]
    call = store.dossier(call_id)
    assert call is not None and len(call["dossier"]["bayplans"]) == 3
    containers = sorted({r["equipment_number"] for b in call["dossier"]["bayplans"]
                         for rs in b["records"].values() for r in rs})
    assert len(containers) == 300
    with store.transaction(write=False) as tx:
        assert all(tx.find_dossier_ids("container", c) == [call_id] for c in containers)


def test_correlating_a_message_again_changes_nothing(store: Store) -> None:
    """correlate_mapped run a second time for the same journalled messages (a crash after the work but
    before the status, or a second hub process) leaves dossiers, keys, events and discrepancies as
    they were; the batched writes diff against what the store has."""
    from hub.ingest import correlate_mapped, map_bytes

    _ingest(store, FILES)
    before = (_normalised(store), store.counts())
    catalog = default_catalog()
    with store.transaction() as tx:
        for f in FILES:
            data = f.read_bytes()
            [entry] = [e for e in tx.messages_in_status("correlated", 100) if e.filename == f.name]
            _, mappings = map_bytes(data, catalog)
            from hub.store.store import JournalEntry

            je = JournalEntry(entry.id, entry.sha256, entry.size, entry.received_at, None)
            correlate_mapped(tx, je, mappings, channel="folder")
    assert (_normalised(store), store.counts()) == before


def _correlate_with(store: Store, files: list[Path], cache: Any, *, uncached_every: int = 0) -> None:
    """Journal and correlate `files` as the pipeline does, with a DossierCache; every `uncached_every`-th
    file is correlated without it (another writer: the cache's copies go stale)."""
    from hub.ingest import correlate_mapped, map_bytes

    catalog = default_catalog()
    for n, f in enumerate(files):
        data = f.read_bytes()
        with store.transaction(durable=True) as tx:
            entry = tx.journal(data, channel="folder", filename=f.name)
        _, mappings = map_bytes(data, catalog)
        other = uncached_every and n % uncached_every == uncached_every - 1
        with store.transaction() as tx:
            correlate_mapped(tx, entry, mappings, channel="folder", cache=None if other else cache)
        if cache is not None:
            cache.keep()


def test_dossiers_kept_between_transactions_give_the_same_dossiers(store: Store, tmp_path: Path) -> None:
    """The pipeline keeps the dossiers it wrote for the next message; a copy another writer has made
    stale (its version moved on) is read again. Either way the dossiers are those of a plain ingest."""
    from hub.ingest import DossierCache

    _ingest(store, FILES)
    cached = open_store(f"sqlite:///{tmp_path / 'cached.db'}")
    cache = DossierCache()
    _correlate_with(cached, FILES, cache, uncached_every=3)
    assert _normalised(cached) == _normalised(store)
    assert cache.hits > 0 and cache.misses > 0, (cache.hits, cache.misses)


def test_a_rolled_back_transaction_leaves_nothing_behind_in_the_cache(store: Store, tmp_path: Path) -> None:
    from hub.ingest import DossierCache, correlate_mapped, map_bytes

    bayplan = next(f for f in FILES if "baplie" in f.name.lower() or "bayplan" in f.name.lower())
    rest = [f for f in FILES if f != bayplan]
    _ingest(store, rest)
    cached = open_store(f"sqlite:///{tmp_path / 'cached.db'}")
    cache = DossierCache()
    _correlate_with(cached, rest[:3], cache)
    data = bayplan.read_bytes()
    with cached.transaction(durable=True) as tx:
        entry = tx.journal(data, channel="folder", filename=bayplan.name)
    _, mappings = map_bytes(data, default_catalog())
    with pytest.raises(RuntimeError), cached.transaction() as tx:
        correlate_mapped(tx, entry, mappings, channel="folder", cache=cache)
        raise RuntimeError("the transaction fails after correlation")
    cache.discard()
    # Another writer moves the call on to the version the rolled-back transaction had given it: a
    # copy of that transaction's call, had the cache kept it, would now pass for current.
    _correlate_with(cached, rest[3:4], None)
    _correlate_with(cached, rest[4:], cache)
    assert _normalised(cached) == _normalised(store)  # no trace of the bayplan


def test_ingest_bytes_on_two_stores_of_one_database(store: Store, tmp_path: Path) -> None:
    """ingest_bytes keeps dossiers per Store object. Two Store objects on one database (as two hub
    processes would be) make each other's copies stale, which are then read again: the dossiers are
    those of correlating every file afresh, without a cache."""
    import hub.ingest

    _correlate_with(store, FILES, None)
    url = f"sqlite:///{tmp_path / 'two.db'}"
    first, second = open_store(url), open_store(url)
    catalog = default_catalog()
    for n, f in enumerate(FILES):
        result = ingest_bytes(f.read_bytes(), first if n % 2 == 0 else second, catalog, filename=f.name)
        assert result.report is not None and result.report.accepted, f.name
    assert _normalised(first) == _normalised(store)
    dossier_counts = ("dossiers", "correlation_keys", "events", "discrepancies")
    assert [first.counts()[k] for k in dossier_counts] == [store.counts()[k] for k in dossier_counts]
    # The keys too (a dossier saved again with the keys it had is not diffed against the store's)
    assert _keys(tmp_path / "two.db") == _keys(tmp_path / "hub.db")
    caches = [hub.ingest._store_caches[s] for s in (first, second)]
    assert sum(c.hits for c in caches) > 0 and sum(c.misses for c in caches) > 0


def _keys(db: Path) -> list[tuple[str, str, str, str]]:
    import sqlite3

    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT key_type, value, scope, dossier_kind FROM correlation_keys")
        return sorted((t, "CALL" if t == "call_id" else v, scope, kind) for t, v, scope, kind in rows)
    finally:
        con.close()
