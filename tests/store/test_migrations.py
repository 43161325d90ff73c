"""Migrating, re-opening, and the operator's Alembic command, on both backends."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.store import StoreError, open_store
from hub.store.__main__ import main as alembic_main
from hub.store.engine import create_engine, migrate
from hub.store.schema import metadata

HEAD = "0007"  # the latest revision: bump with each new migration

TABLES = {"messages", "message_bodies", "reports", "dossiers", "dossier_fragments", "correlation_keys", "events",
          "discrepancies", "deliveries", "expected_acks"}


def revision(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return []
            return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_first_open_migrates_an_empty_database(empty_url: str) -> None:
    assert revision(empty_url) == []
    with open_store(empty_url) as store:
        assert TABLES <= set(sa.inspect(store.engine).get_table_names())
        assert store.counts()["messages"] == 0
    assert revision(empty_url) == [HEAD]


def test_migrations_match_the_schema_module(empty_url: str) -> None:
    with open_store(empty_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_reopening_keeps_data_and_does_not_migrate_again(empty_url: str) -> None:
    with open_store(empty_url) as store:
        entry = store.journal(b"UNB+UNOA:2'", channel="sftp")
    for _ in range(2):
        with open_store(empty_url) as store:
            assert migrate(store.engine) == [HEAD]  # already at head: nothing to do
            message = store.message(entry.id)
            assert message is not None and message.raw == b"UNB+UNOA:2'"
    assert revision(empty_url) == [HEAD]


def test_processes_starting_together_migrate_once(empty_url: str) -> None:
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            open_store(empty_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert revision(empty_url) == [HEAD]


def test_a_database_from_a_newer_hub_is_refused(empty_url: str) -> None:
    open_store(empty_url).close()
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'fe12ab34'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision fe12ab34, which this version of the hub does not know"):
        open_store(empty_url)


def test_operator_command(empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    alembic_main(["-q", "--url", empty_url, "upgrade", "head"])
    assert revision(empty_url) == [HEAD]
    capsys.readouterr()
    alembic_main(["--url", empty_url, "current"])
    assert f"{HEAD} (head)" in capsys.readouterr().out
    alembic_main(["-q", "--url", empty_url, "downgrade", "base"])
    assert revision(empty_url) == []
    engine = create_engine(empty_url)
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    engine.dispose()
    with open_store(empty_url) as store:  # and the hub migrates it again by itself
        assert store.counts()["dossiers"] == 0


def test_operator_command_prints_sql_offline(capsys: pytest.CaptureFixture[str]) -> None:
    alembic_main(["-q", "--url", "postgresql://hub@db.invalid/hub", "upgrade", "head", "--sql"])
    out = capsys.readouterr().out
    assert "CREATE TABLE messages" in out and "JSONB" in out and "INSERT INTO alembic_version" in out


def _insert_raw_dossier(url: str, dossier_id: str, document: dict[str, Any], version: int) -> None:
    """A dossier row written with plain SQL, as an older hub (at an older revision) wrote it."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dossiers (id, kind, status, document, version, created_at, updated_at) "
                             "VALUES (:id, 'vessel_call', 'ANNOUNCED', :doc, :version, :now, :now)"),
                     {"id": dossier_id, "doc": json.dumps(document), "version": version,
                      "now": "2026-11-27 00:00:00.000000"})
    engine.dispose()


def test_fragments_move_out_of_the_documents_and_back(empty_url: str) -> None:
    """0003 moves each dossier's fragments from its document to dossier_fragments, and the downgrade puts
    them back; correlation then reads the same stored dict as before. (Their order is not compared: a
    JSONB document on PostgreSQL never kept it, and correlation orders fragments itself.)"""
    from hub.ingest import StoreRepository

    alembic_main(["-q", "--url", empty_url, "upgrade", "0002"])
    fragments = {"M2": {"source": {"message_id": "M2"}, "kind": "bayplan"},
                 "M1": {"source": {"message_id": "M1"}, "kind": "manifest", "note": "مرحبا"}}
    document = {"fragments": fragments, "dossier": {"id": "VC-1", "port": "MACAS"}}
    _insert_raw_dossier(empty_url, "VC-1", document, version=3)
    alembic_main(["-q", "--url", empty_url, "upgrade", "head"])
    with open_store(empty_url) as store, store.transaction() as tx:
        assert tx.load_dossier("VC-1") == ({"dossier": {"id": "VC-1", "port": "MACAS"}}, 3)
        assert tx.fragments("VC-1") == fragments
        loaded = StoreRepository(tx).load("VC-1")
        assert loaded is not None and loaded["fragments"] == fragments
        assert loaded["dossier"] == document["dossier"]
    alembic_main(["-q", "--url", empty_url, "downgrade", "0002"])
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT document FROM dossiers WHERE id = 'VC-1'")).scalar_one()
    engine.dispose()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["fragments"] == fragments and stored["dossier"] == document["dossier"]


def test_dossier_parts_read_inline_documents_and_go_back_inline_on_downgrade(empty_url: str) -> None:
    """0004 only creates dossier_parts: a document written before keeps its lists inline and reads as it
    was; one written since keeps placeholders, and the downgrade puts the items back in their places."""
    from hub.store.store import split_parts

    alembic_main(["-q", "--url", empty_url, "upgrade", "0003"])
    old = {"dossier": {"id": "VC-1", "events": [{"id": "ev-1", "type": "eta"}], "bayplans": []}}
    new = {"dossier": {"id": "VC-2", "events": [{"id": "ev-2", "type": "eta"}, {"id": "ev-3", "type": "ata"}],
                       "bayplans": [{"id": "bp-1", "records": {"0010102": [{"equipment_number": "MSCU1234565"}]}}]}}
    _insert_raw_dossier(empty_url, "VC-1", old, version=1)
    alembic_main(["-q", "--url", empty_url, "upgrade", "head"])
    with open_store(empty_url) as store, store.transaction() as tx:
        assert tx.load_dossier("VC-1") == (old, 1)
        row, parts = split_parts(new)
        tx.insert_dossier("VC-2", "vessel_call", "ANNOUNCED", row)
        tx.put_parts(("VC-2", name, item) for name, item in parts.items())
    with open_store(empty_url) as store:
        assert store.dossier("VC-2") == {**new, "id": "VC-2", "kind": "vessel_call", "status": "ANNOUNCED"}
        assert store.counts()["dossier_parts"] == 3
    alembic_main(["-q", "--url", empty_url, "downgrade", "0003"])
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        documents = dict(conn.execute(sa.text("SELECT id, document FROM dossiers")).all())
    engine.dispose()
    assert {k: json.loads(v) if isinstance(v, str) else v for k, v in documents.items()} == {"VC-1": old, "VC-2": new}


def _identity_columns(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = [u["column_names"] for u in sa.inspect(conn).get_unique_constraints("correlation_keys")
                     if u["name"] == "uq_correlation_keys_identity"]
    finally:
        engine.dispose()
    assert len(found) == 1
    return list(found[0])


def test_the_keys_unique_index_leads_with_the_value_and_keeps_the_links(empty_url: str) -> None:
    """0006 reorders the columns of the keys' unique index (Alembic's comparison does not see column
    order, so this test does): the links stay, still one per type, value, scope and dossier."""
    alembic_main(["-q", "--url", empty_url, "upgrade", "0005"])
    assert _identity_columns(empty_url) == ["key_type", "value", "scope", "dossier_id"]
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dossiers (id, kind, status, document, version, created_at, updated_at) "
                             "VALUES ('VC-1', 'vessel_call', 'ANNOUNCED', '{}', 1, :t, :t)"),
                     {"t": "2026-11-27 08:00:00.000000"})
        conn.execute(sa.text("INSERT INTO correlation_keys (key_type, value, scope, dossier_id, dossier_kind, "
                             "created_at) VALUES ('container', 'MSCU1234565', '', 'VC-1', 'vessel_call', :t), "
                             "('bl', 'MSCU1234565', '', 'VC-1', 'vessel_call', :t)"),
                     {"t": "2026-11-27 08:00:00.000000"})
    engine.dispose()
    alembic_main(["-q", "--url", empty_url, "upgrade", "head"])
    assert _identity_columns(empty_url) == ["value", "key_type", "scope", "dossier_id"]
    with open_store(empty_url) as store, store.transaction() as tx:
        assert tx.find_dossier_ids("container", "MSCU1234565") == ["VC-1"]
        assert tx.find_dossier_ids("bl", "MSCU1234565") == ["VC-1"]
        tx.add_keys([{"key_type": "container", "value": "MSCU1234565", "dossier_id": "VC-1"}])  # linked: skipped
        assert len(tx.keys_of(["VC-1"])["VC-1"]) == 2
    alembic_main(["-q", "--url", empty_url, "downgrade", "0005"])
    assert _identity_columns(empty_url) == ["key_type", "value", "scope", "dossier_id"]
