"""Validation and mapping in helper processes (hub.preparation): the same results as in the pipeline
thread, a dead helper costs nothing, a mapping change reaches the helpers, a stop hands work back."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from hub.catalog import Catalog
from hub.config import Settings
from hub.mapping.registry import MappingRegistry
from hub.partners import Partners
from hub.pipeline import Pipeline
from hub.preparation import Failed, Preparation, ProcessPreparer, prepare
from hub.store import Store

from .test_pipeline import SAMPLES

INPUTS = [SAMPLES / "cuscar-d95b.edi", SAMPLES / "baplie-smdg22.edi", SAMPLES / "iftmin-d96a.edi",
          SAMPLES / "invalid" / "codeco-wrong-unt-count.edi", SAMPLES / "xml" / "wco-declaration-import.xml",
          SAMPLES / "xml" / "berthing-request.xml"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture(scope="module")
def preparer(catalog: Catalog) -> Any:
    helpers = ProcessPreparer(catalog, 1)
    yield helpers
    helpers.close()


def plain(prepared: Preparation | Failed) -> Any:
    assert isinstance(prepared, Preparation), prepared
    return (prepared.report.to_dict(), prepared.meta,
            [m.to_dict() for m in prepared.mappings])


def test_helpers_prepare_what_the_thread_would(catalog: Catalog, preparer: ProcessPreparer) -> None:
    items = [(path.read_bytes(), None) for path in INPUTS] + [(b"not edifact at all", None)]
    here = [prepare(raw, catalog) for raw, _ in items]
    there = preparer.submit(items).result()
    assert [plain(p) for p in there] == [plain(p) for p in here]
    assert [bool(p.mappings) for p in here] == [True, True, True, False, True, True, False]
    assert not here[3].report.accepted  # the invalid one: reported, not mapped


def test_a_dead_helper_costs_its_batch_nothing(catalog: Catalog) -> None:
    helpers = ProcessPreparer(catalog, 1)
    try:
        items = [(INPUTS[0].read_bytes(), None)]
        expected = [plain(p) for p in helpers.submit(items).result()]
        pool = helpers._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        assert [plain(p) for p in helpers.submit(items).result()] == expected  # prepared here instead
        assert [plain(p) for p in helpers.submit(items).result()] == expected  # by new helpers
        assert helpers._pool is not None and helpers._pool is not pool
        assert helpers.state() == {"processes": 1, "alive": 1, "batches": 2, "batches_here": 1, "restarts": 1}
    finally:
        helpers.close()


def test_helpers_map_with_the_specs_the_parent_serves(tmp_path: Path) -> None:
    catalog = Catalog()
    helpers = ProcessPreparer(catalog, 1)
    try:
        items = [(INPUTS[0].read_bytes(), None)]
        [before] = helpers.submit(items).result()
        assert isinstance(before, Preparation) and before.mappings[0].document
        served = catalog.mappings()
        catalog.use_mappings(MappingRegistry({n: s for n, s in served.specs.items() if s.message != "CUSCAR"}))
        [after] = helpers.submit(items).result()
        assert isinstance(after, Preparation)
        assert [m.document for m in after.mappings] == [m.document for m in prepare(items[0][0], catalog).mappings]
        assert not any(m.document for m in after.mappings)  # no spec for CUSCAR any more
    finally:
        helpers.close()


def outcome(store: Store) -> list[Any]:
    """Per message (by file name): status, reason, report; the deliveries; the dossiers' kinds. Message
    ids (random) are blanked where a duplicate's report names its original."""
    def blank(value: Any) -> Any:
        return re.sub(r"message [0-9A-Z]{26}", "message <id>", value) if isinstance(value, str) else value

    with store.engine.begin() as conn:
        messages = conn.exec_driver_sql(
            "SELECT m.filename, m.status, m.error, r.report FROM messages m "
            "LEFT JOIN reports r ON r.message_id = m.id ORDER BY m.filename").all()
        deliveries = conn.exec_driver_sql(
            "SELECT m.filename, d.purpose, d.partner, d.kind FROM deliveries d JOIN messages m ON m.id = d.message_id "
            "ORDER BY 1, 2, 3").all()
        kinds = conn.exec_driver_sql("SELECT kind, count(*) FROM dossiers GROUP BY kind ORDER BY kind").all()
    return [[tuple(blank(v) for v in r) for r in messages], [tuple(r) for r in deliveries],
            [tuple(r) for r in kinds]]


def test_a_pipeline_with_helpers_writes_what_one_without_writes(
        tmp_path: Path, catalog: Catalog, preparer: ProcessPreparer, partners: Partners, settings: Settings) -> None:
    from hub.store import open_store

    results = []
    for name, helpers in (("here", None), ("helpers", preparer)):
        store = open_store(f"sqlite:///{tmp_path / name}.db")
        try:
            for n, path in enumerate(INPUTS * 3):  # three batches of six, the second copies duplicates
                store.journal(path.read_bytes(), channel="folder", partner="AML", filename=f"{n:02d}-{path.name}")
            pipeline = Pipeline(store, catalog, lambda: partners, settings, worker="w", preparer=helpers)
            done = 0
            while n := pipeline.run_once(limit=6):
                done += n
            assert done == len(INPUTS) * 3
            results.append(outcome(store))
        finally:
            store.close()
    assert results[1] == results[0]
    statuses = {status for _, status, _, _ in results[0][0]}
    assert statuses == {"routed", "failed", "duplicate"}


def test_a_stopping_worker_hands_back_the_batch_it_leased_ahead(
        store: Store, catalog: Catalog, preparer: ProcessPreparer, partners: Partners, settings: Settings) -> None:
    for path in INPUTS[:4]:
        store.journal(path.read_bytes(), channel="folder", partner="AML")
    leaving = Pipeline(store, catalog, lambda: partners, settings, worker="leaving", preparer=preparer)
    assert leaving.run_once(limit=2) == 2  # and the next two were leased and handed to the helper
    assert Pipeline(store, catalog, lambda: partners, settings, worker="next").run_once() == 0
    stop = threading.Event()
    stop.set()
    leaving.run(stop)  # returns at once, handing back what it leased ahead
    assert Pipeline(store, catalog, lambda: partners, settings, worker="next").run_once() == 2



def test_helpers_end_with_a_hub_killed_outright(tmp_path: Path) -> None:
    """SIGKILL gives the hub no chance to stop its helpers: they notice and end on their own."""
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\n"
        "from hub.catalog import Catalog\n"
        "from hub.preparation import ProcessPreparer\n"
        "if __name__ == '__main__':  # spawn imports this file again in the helper\n"
        "    helpers = ProcessPreparer(Catalog(), 1)\n"
        "    helpers.submit([]).result()\n"
        "    print(*helpers._pool._processes, flush=True)\n"
        "    sys.stdin.read()\n")
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # the helper's pid, once it runs
        [helper] = [int(pid) for pid in line.split()]
        os.kill(helper, 0)  # alive
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(helper, signal.SIGKILL)
    pytest.fail("the helper outlived its hub by 10 seconds")
