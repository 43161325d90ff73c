"""Two transactions filing messages about the same new call and B/Ls at the same moment (two hub
processes) open one dossier each, not two: the second waits for the first and attaches to it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hub.catalog import Catalog
from hub.edifact.validator import validate_located
from hub.ingest import correlate_mapped
from hub.mapping.run import map_edifact
from hub.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "cuscar-d95b.edi"


def test_two_processes_filing_one_new_bl_open_one_dossier(store: Store) -> None:
    catalog = Catalog()
    first = SAMPLE.read_bytes()
    second = first.replace(b"CUS2511270001", b"CUS2511270002").replace(b"MAN2025CAS0712N", b"MAN2025CAS0712X")
    entries, mappings = [], []
    for data in (first, second):
        entries.append(store.journal(data, channel="folder", partner="AML"))
        _, located = validate_located(data, catalog)
        mappings.append(map_edifact(located, catalog.mappings(), catalog.directory))
    first_filed = threading.Event()
    errors: list[BaseException] = []

    def file_first() -> None:
        try:
            with store.transaction() as tx:
                correlate_mapped(tx, entries[0], mappings[0], channel="folder")
                first_filed.set()
                time.sleep(1.0)  # still uncommitted while the other files the same keys
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_filed.set()

    thread = threading.Thread(target=file_first)
    thread.start()
    first_filed.wait(30)
    with store.transaction() as tx:
        correlate_mapped(tx, entries[1], mappings[1], channel="folder")
    thread.join(30)
    assert not errors
    kinds = store.counts()
    with store.transaction(write=False) as tx:
        calls = tx.find_dossier_ids("port_voyage", "MACAS|0712N", kind="vessel_call")
        consignments = tx.find_dossier_ids("bl", "AMLTNG0004512", kind="consignment")
    assert len(calls) == 1, kinds
    assert len(consignments) == 1, kinds
