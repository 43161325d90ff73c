"""Dossiers, correlation keys, events and discrepancies, on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from hub.store import QUERY_KEYS, ConcurrentUpdate, DossierExists, NotFound, Store, open_store

CALL = {"call_id": "C1", "port": "MAPTM", "vessel": {"imo": "9321483", "name": "MAERSK ESSEX"}}
T0 = datetime(2025, 11, 27, 8, 0, tzinfo=UTC)


def message_id(store: Store, data: bytes = b"UNB+UNOA:2+MAEU+TMPORT'") -> str:
    return store.journal(data, channel="sftp").id


def make_dossier(store: Store, dossier_id: str = "C1", kind: str = "vessel_call",
                 status: str = "ANNOUNCED", doc: dict[str, Any] | None = None) -> None:
    with store.transaction() as tx:
        tx.insert_dossier(dossier_id, kind, status, doc if doc is not None else CALL)


# --- dossiers -----------------------------------------------------------------------------------------

def test_insert_load_update(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.insert_dossier("C1", "vessel_call", "ANNOUNCED", CALL) == 1
        assert tx.load_dossier("C1") == (CALL, 1)
    with store.transaction() as tx:
        loaded = tx.load_dossier("C1", lock=True)
        assert loaded is not None
        doc, version = loaded
        doc["berth"] = "TC1-03"
        assert tx.update_dossier("C1", "BERTHED", doc, version) == 2
    assert store.dossier("C1") == {**CALL, "berth": "TC1-03", "id": "C1", "kind": "vessel_call",
                                   "status": "BERTHED"}
    with store.transaction(write=False) as tx:
        assert tx.load_dossier("C1") == ({**CALL, "berth": "TC1-03"}, 2)
        assert tx.load_dossier("nope") is None
    assert store.dossier("nope") is None


def test_insert_refuses_unknown_kind_and_taken_id(store: Store) -> None:
    make_dossier(store)
    with store.transaction() as tx:
        with pytest.raises(ValueError, match="unknown dossier kind 'ship'"):
            tx.insert_dossier("C2", "ship", "ANNOUNCED", {})
        with pytest.raises(DossierExists, match="dossier C1 already exists"):
            tx.insert_dossier("C1", "vessel_call", "ANNOUNCED", {})
        # The transaction is still usable after DossierExists (no aborted transaction on PostgreSQL).
        tx.insert_dossier("C2", "consignment", "BOOKED", {"master_bl": "MAEU123"})
    assert store.dossier("C2") is not None


def test_stale_version_is_a_concurrent_update(store: Store) -> None:
    make_dossier(store)
    with store.transaction(write=False) as tx:
        loaded = tx.load_dossier("C1")
    assert loaded is not None
    doc, version = loaded
    with store.transaction() as tx:  # someone else wins
        tx.update_dossier("C1", "ARRIVED", {**doc, "ata": "2025-11-27T06:00Z"}, version)
    with pytest.raises(ConcurrentUpdate) as info, store.transaction() as tx:
        tx.update_dossier("C1", "BERTHED", {**doc, "berth": "3"}, version)
    assert (info.value.dossier_id, info.value.expected_version, info.value.actual_version) == ("C1", 1, 2)
    assert "expected version 1, but it is at version 2" in str(info.value)
    assert store.dossier("C1") == {**CALL, "ata": "2025-11-27T06:00Z", "id": "C1", "kind": "vessel_call",
                                   "status": "ARRIVED"}


def test_many_dossiers_updated_at_once_get_their_versions_or_a_concurrent_update(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(3):
            tx.insert_dossier(f"C{n}", "vessel_call", "PLANNED", {"n": n})
        tx.update_dossier("C1", "ARRIVED", {"n": 1}, 1)
        assert tx.update_dossiers([]) == []
        assert tx.update_dossiers([("C0", "BERTHED", {"n": 10}, 1), ("C1", "BERTHED", {"n": 11}, 2),
                                   ("C2", "BERTHED", {"n": 12}, 1)]) == [2, 3, 2]
    assert [store.dossier(f"C{n}")["n"] for n in range(3)] == [10, 11, 12]  # type: ignore[index]
    with pytest.raises(ConcurrentUpdate) as info, store.transaction() as tx:
        tx.update_dossiers([("C0", "DEPARTED", {"n": 20}, 2), ("C1", "DEPARTED", {"n": 21}, 2)])
    assert (info.value.dossier_id, info.value.expected_version, info.value.actual_version) == ("C1", 2, 3)
    assert store.dossier("C0")["n"] == 10  # type: ignore[index]


def test_updating_a_deleted_dossier_is_a_concurrent_update(store: Store) -> None:
    make_dossier(store)
    with store.transaction() as tx:
        assert tx.delete_dossier("C1")
    with pytest.raises(ConcurrentUpdate, match="no longer exists") as info, store.transaction() as tx:
        tx.update_dossier("C1", "BERTHED", CALL, 1)
    assert info.value.actual_version is None


def test_concurrent_read_modify_write_loses_no_update(store: Store) -> None:
    """Writers that read outside the write transaction (optimistic) and retry on ConcurrentUpdate."""
    make_dossier(store, doc={"counter": 0})
    workers, rounds = 4, 10
    barrier = threading.Barrier(workers)
    conflicts = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                while True:
                    with store.transaction(write=False) as tx:
                        loaded = tx.load_dossier("C1")
                    assert loaded is not None
                    doc, version = loaded
                    try:
                        with store.transaction() as tx:
                            tx.update_dossier("C1", "OPERATIONS", {"counter": doc["counter"] + 1}, version)
                        break
                    except ConcurrentUpdate:
                        conflicts.append(1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.transaction(write=False) as tx:
        assert tx.load_dossier("C1") == ({"counter": workers * rounds}, workers * rounds + 1)


def test_delete_dossier_takes_its_keys_events_and_discrepancies(store: Store) -> None:
    make_dossier(store, "C1")
    make_dossier(store, "C2")
    with store.transaction() as tx:
        for d in ("C1", "C2"):
            tx.add_keys([{"key_type": "imo", "value": "9321483", "dossier_id": d}])
            tx.add_events([{"dossier_id": d, "type": "eta", "event_time": T0}])
            tx.upsert_discrepancy(d, "container-not-in-manifest", "MSKU1234565", severity="warning")
    with store.transaction() as tx:
        assert tx.delete_dossier("C1") is True
        assert tx.delete_dossier("C1") is False
    counts = store.counts()
    assert (counts["dossiers"], counts["correlation_keys"], counts["events"], counts["discrepancies"]) == (
        1, 1, 1, 1)
    assert store.events_for("C2") and store.discrepancies_for("C2")


def test_unit_of_work_is_all_or_nothing(store: Store) -> None:
    mid = message_id(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_dossier("C1", "vessel_call", "ANNOUNCED", CALL)
        tx.add_keys([{"key_type": "imo", "value": "9321483", "dossier_id": "C1", "message_id": mid}])
        tx.add_events([{"dossier_id": "C1", "type": "baplie-received", "message_id": mid}])
        tx.upsert_discrepancy("C1", "unknown-bl", "X", severity="error", message_id=mid)
        raise RuntimeError("correlation crashed")
    counts = store.counts()
    assert (counts["dossiers"], counts["correlation_keys"], counts["events"], counts["discrepancies"]) == (
        0, 0, 0, 0)
    assert counts["messages"] == 1


# --- correlation keys ---------------------------------------------------------------------------------

def test_keys_find_dossiers_by_type_value_scope_and_kind(store: Store) -> None:
    mid = message_id(store)
    make_dossier(store, "C1")
    make_dossier(store, "B1", "consignment", "MANIFESTED", {"master_bl": "MAEU123456789"})
    make_dossier(store, "B2", "consignment", "MANIFESTED", {"master_bl": "MAEU123456789"})
    with store.transaction() as tx:
        tx.add_keys([
            {"key_type": "container", "value": "MSKU1234565", "raw": "MSKU 123456-5", "dossier_id": "C1",
             "message_id": mid},
            {"key_type": "container", "value": "MSKU1234565", "dossier_id": "B1",
             "dossier_kind": "consignment"},
            {"key_type": "bl", "value": "MAEU123456789", "scope": "MAEU", "dossier_id": "B1"},
            {"key_type": "bl", "value": "MAEU123456789", "scope": "CMDU", "dossier_id": "B2"},
        ])
        assert tx.find_dossier_ids("container", "MSKU1234565") == ["C1", "B1"]
        assert tx.find_dossier_ids("container", "MSKU1234565", kind="consignment") == ["B1"]
        assert tx.find_dossier_ids("container", "MSKU1234565", kind="vessel_call") == ["C1"]
        assert tx.find_dossier_ids("bl", "MAEU123456789") == ["B1", "B2"]
        assert tx.find_dossier_ids("bl", "MAEU123456789", scope="CMDU") == ["B2"]
        assert tx.find_dossier_ids("bl", "MAEU123456789", scope="") == []
        assert tx.find_dossier_ids("container", "MSKU1234565", scope="") == ["C1", "B1"]
        assert tx.find_dossier_ids("container", "MSKU0000000") == []
        assert tx.find_dossier_ids("bl", "MSKU1234565") == []


def test_adding_keys_again_changes_nothing(store: Store) -> None:
    make_dossier(store)
    key = {"key_type": "voyage", "value": "512W", "raw": "0512W", "dossier_id": "C1"}
    with store.transaction() as tx:
        tx.add_keys([key, key])
        tx.add_keys([key])
        tx.add_keys([])
        assert tx.find_dossier_ids("voyage", "512W") == ["C1"]
    assert store.counts()["correlation_keys"] == 1


def test_keys_need_an_existing_dossier(store: Store) -> None:
    with pytest.raises(NotFound, match="no dossier GHOST"), store.transaction() as tx:
        tx.add_keys([{"key_type": "bl", "value": "X", "dossier_id": "GHOST"}])
    # With the kind given there is no look-up, and the foreign key (on in SQLite too) refuses it.
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.add_keys([{"key_type": "bl", "value": "X", "dossier_id": "GHOST", "dossier_kind": "consignment"}])


def test_delete_keys_for_dossier(store: Store) -> None:
    make_dossier(store, "P1", "consignment", "BOOKED", {})
    make_dossier(store, "B1", "consignment", "MANIFESTED", {})
    with store.transaction() as tx:
        tx.add_keys([{"key_type": "bl", "value": "X1", "dossier_id": "P1"},
                     {"key_type": "container", "value": "MSKU1234565", "dossier_id": "P1"},
                     {"key_type": "bl", "value": "X1", "dossier_id": "B1"}])
    with store.transaction() as tx:  # P1 was provisional: merged into B1
        assert tx.delete_keys_for_dossier("P1") == 2
        assert tx.delete_keys_for_dossier("P1") == 0
        assert tx.find_dossier_ids("bl", "X1") == ["B1"]
        assert tx.find_dossier_ids("container", "MSKU1234565") == []


# --- queries by key -----------------------------------------------------------------------------------

VALUES = {"bl": "MAEU123456789", "container": "MSKU1234565", "imo": "9321483",
          "vessel_name": "MAERSK ESSEX", "voyage": "512W", "port_call_ref": "PTM2025-0042",
          "customs_ref": "25MA301000012345"}


@pytest.mark.parametrize("keyword", QUERY_KEYS)
def test_dossiers_by_each_key(store: Store, keyword: str) -> None:
    key_type = QUERY_KEYS[keyword]
    make_dossier(store, "C1", doc={"n": 1})
    make_dossier(store, "B1", "consignment", "MANIFESTED", {"n": 2})
    make_dossier(store, "X1", "consignment", "BOOKED", {"n": 3})
    with store.transaction() as tx:
        tx.add_keys([{"key_type": key_type, "value": VALUES[key_type], "dossier_id": d}
                     for d in ("C1", "B1")])
        tx.add_keys([{"key_type": key_type, "value": "OTHER", "dossier_id": "X1"}])
    found = store.dossiers_by(**{keyword: VALUES[key_type]})
    assert found == [{"n": 1, "id": "C1", "kind": "vessel_call", "status": "ANNOUNCED"},
                     {"n": 2, "id": "B1", "kind": "consignment", "status": "MANIFESTED"}]
    assert [d["id"] for d in store.dossiers_by(**{keyword: VALUES[key_type]}, kind="consignment")] == ["B1"]
    assert [d["id"] for d in store.dossiers_by(**{keyword: VALUES[key_type]}, limit=1)] == ["C1"]
    assert store.dossiers_by(**{keyword: "NOTHING"}) == []


def test_dossiers_by_several_keys_means_all_of_them(store: Store) -> None:
    make_dossier(store, "C1")
    make_dossier(store, "C2")
    with store.transaction() as tx:
        tx.add_keys([{"key_type": "imo", "value": "9321483", "dossier_id": "C1"},
                     {"key_type": "voyage", "value": "512W", "dossier_id": "C1"},
                     {"key_type": "imo", "value": "9321483", "dossier_id": "C2"},
                     {"key_type": "voyage", "value": "514W", "dossier_id": "C2"}])
    assert [d["id"] for d in store.dossiers_by(vessel_imo="9321483")] == ["C1", "C2"]
    assert [d["id"] for d in store.dossiers_by(vessel_imo="9321483", voyage="514W")] == ["C2"]
    assert store.dossiers_by(vessel_imo="9321483", voyage="999") == []
    with pytest.raises(ValueError, match="at least one of bl, container"):
        store.dossiers_by()


def test_dossiers_by_normalises_with_the_store_normaliser(store: Store) -> None:
    make_dossier(store, "C1")
    with store.transaction() as tx:
        tx.add_keys([{"key_type": "container", "value": "MSKU1234565", "dossier_id": "C1"}])
    assert store.dossiers_by(container="msku 123456-5") == []

    def normalise(key_type: str, value: str) -> str:
        assert key_type == "container"
        return "".join(c for c in value.upper() if c.isalnum())

    with open_store(store.url.render_as_string(hide_password=False), key_normalizer=normalise) as other:
        assert [d["id"] for d in other.dossiers_by(container="msku 123456-5")] == ["C1"]


# --- events -------------------------------------------------------------------------------------------

def test_events_in_time_order(store: Store) -> None:
    mid = message_id(store)
    make_dossier(store)
    with store.transaction() as tx:
        ids = tx.add_events([
            {"dossier_id": "C1", "type": "ata", "event_time": T0 + timedelta(hours=5), "message_id": mid,
             "detail": {"source": "BERMAN"}},
            {"dossier_id": "C1", "type": "eta", "event_time": T0, "recorded_at": T0 - timedelta(days=3)},
            # No event time: placed at its recorded_at, between the two.
            {"dossier_id": "C1", "type": "manifest-received", "recorded_at": T0 + timedelta(hours=1)},
            {"dossier_id": "C1", "type": "eta-update", "event_time": T0,
             "recorded_at": T0 - timedelta(days=1)},
        ])
    assert len(set(ids)) == 4
    timeline = store.events_for("C1")
    assert [e["type"] for e in timeline] == ["eta", "eta-update", "manifest-received", "ata"]
    ata = timeline[-1]
    assert ata == {"id": ids[0], "dossier_id": "C1", "type": "ata", "event_time": T0 + timedelta(hours=5),
                   "recorded_at": ata["recorded_at"], "message_id": mid, "detail": {"source": "BERMAN"}}
    assert ata["recorded_at"].tzinfo == UTC
    assert timeline[2]["event_time"] is None and timeline[2]["detail"] is None
    assert store.events_for("nope") == []


def test_events_with_given_ids_are_recorded_once(store: Store) -> None:
    make_dossier(store)
    event = {"id": "MSG1:0", "dossier_id": "C1", "type": "baplie-received", "event_time": T0}
    with store.transaction() as tx:
        assert tx.add_events([event]) == ["MSG1:0"]
    with store.transaction() as tx:  # the stage runs again
        assert tx.add_events([event, {**event, "type": "changed"}]) == ["MSG1:0", "MSG1:0"]
        assert tx.add_events([]) == []
    assert [e["type"] for e in store.events_for("C1")] == ["baplie-received"]


# --- discrepancies ------------------------------------------------------------------------------------

def test_discrepancy_recorded_once_and_updated(store: Store) -> None:
    m1, m2 = message_id(store, b"one"), message_id(store, b"two")
    make_dossier(store)
    with store.transaction() as tx:
        first = tx.upsert_discrepancy("C1", "container-not-in-manifest", "MSKU1234565", severity="warning",
                                      detail={"cell": "0120382"}, message_id=m1)
        other = tx.upsert_discrepancy("C1", "container-not-in-manifest", "TGHU0000018", severity="warning")
    assert first != other
    (d,) = [x for x in store.discrepancies_for("C1") if x["id"] == first]
    assert (d["type"], d["key"], d["severity"], d["status"], d["detail"], d["message_id"]) == (
        "container-not-in-manifest", "MSKU1234565", "warning", "open", {"cell": "0120382"}, m1)
    store_set_status(store, first, "accepted")
    with store.transaction() as tx:  # seen again in a later bayplan: same row, operator's status kept
        again = tx.upsert_discrepancy("C1", "container-not-in-manifest", "MSKU1234565", severity="error",
                                      detail={"cell": "0120384"}, message_id=m2)
    assert again == first
    (d,) = [x for x in store.discrepancies_for("C1") if x["id"] == first]
    assert (d["severity"], d["status"], d["detail"], d["message_id"]) == (
        "error", "accepted", {"cell": "0120384"}, m2)
    assert d["updated_at"] >= d["created_at"]
    with store.transaction() as tx:
        tx.upsert_discrepancy("C1", "container-not-in-manifest", "MSKU1234565", severity="error",
                              status="resolved")
    assert [x["key"] for x in store.discrepancies_for("C1", status="resolved")] == ["MSKU1234565"]
    assert [x["key"] for x in store.discrepancies_for("C1", status="open")] == ["TGHU0000018"]
    assert [x["key"] for x in store.discrepancies_for("C1")] == ["MSKU1234565", "TGHU0000018"]
    assert store.counts()["discrepancies"] == 2


def store_set_status(store: Store, discrepancy_id: str, status: str) -> None:
    with store.transaction() as tx:
        tx.set_discrepancy_status(discrepancy_id, status)


def test_discrepancy_status_is_checked(store: Store) -> None:
    make_dossier(store)
    with store.transaction() as tx, pytest.raises(ValueError, match="unknown discrepancy status 'closed'"):
        tx.upsert_discrepancy("C1", "t", "k", severity="warning", status="closed")
    with pytest.raises(NotFound):
        store_set_status(store, "01NOSUCHDISCREPANCY00000000", "resolved")
    with pytest.raises(ValueError):
        store_set_status(store, "01NOSUCHDISCREPANCY00000000", "closed")


def test_fragments_keep_the_order_they_were_attached_in_and_go_with_their_dossier(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_dossier("C1", "vessel_call", "ANNOUNCED", CALL)
        tx.put_fragments([("C1", "M9", {"n": 1}), ("C1", "M1", {"n": 2})])
        tx.put_fragments([("C1", "M5", {"n": 3}), ("C1", "M9", {"n": 4})])  # M9 replaced in its place
        assert list(tx.fragments("C1").items()) == [("M9", {"n": 4}), ("M1", {"n": 2}), ("M5", {"n": 3})]
        tx.delete_fragments("C1", ["M1"])
        assert list(tx.fragments("C1")) == ["M9", "M5"]
        assert tx.delete_dossier("C1")
        assert tx.fragments("C1") == {}


def test_insert_dossiers_many_at_once_and_names_the_one_already_there(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_dossiers([("CS-2", "consignment", "OPEN", {"a": 1}), ("CS-1", "consignment", "OPEN", {})])
        assert tx.load_dossier("CS-2") == ({"a": 1}, 1)
    with pytest.raises(DossierExists, match="CS-2"), store.transaction() as tx:
        tx.insert_dossiers([("CS-0", "consignment", "OPEN", {}), ("CS-2", "consignment", "OPEN", {"b": 2})])
    with store.transaction(write=False) as tx:
        assert tx.load_dossier("CS-2") == ({"a": 1}, 1) and tx.load_dossier("CS-0") is None
