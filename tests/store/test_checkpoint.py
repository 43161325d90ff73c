"""A store on a SQLite file checkpoints its WAL on a thread of its own, not inside the commits."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hub.store import open_store
from hub.store.engine import SQLITE_AUTOCHECKPOINT_PAGES


def test_the_wal_reaches_the_database_file_without_a_commit_paying_for_it(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    store = open_store(f"sqlite:///{db}")
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None and checkpointer.alive
        before = db.stat().st_size
        payload = os.urandom(2 << 20)  # well under the autocheckpoint mark: SQLite itself would wait
        assert len(payload) < SQLITE_AUTOCHECKPOINT_PAGES * 4096
        store.journal(payload, channel="folder", filename="big.bin")
        deadline = time.monotonic() + 10
        while db.stat().st_size < before + len(payload) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.stat().st_size >= before + len(payload), "the WAL was not checkpointed into the file"
    finally:
        store.close()
    assert not checkpointer.alive


def test_no_checkpointer_where_there_is_no_wal_file() -> None:
    store = open_store("sqlite://")
    try:
        assert store._checkpointer is None
    finally:
        store.close()
