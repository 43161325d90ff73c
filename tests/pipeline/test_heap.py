"""HeapFreezer: long-lived objects kept out of the collector's scans, cyclic garbage still reclaimed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import ingest
from hub.ingest import HeapFreezer


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the collector as the other tests expect it


def test_a_cycle_frozen_by_accident_is_reclaimed_by_the_next_full_collection() -> None:
    clock = _Clock()
    freezer = HeapFreezer(full_every=300, clock=clock)
    node = _Node()
    gone = weakref.ref(node)
    freezer.settle()  # the cycle is alive: frozen with everything else
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert gone() is not None, "a frozen cycle must be out of the collector's sight"
    clock.now += 299
    freezer.settle()
    assert gone() is not None, "no full collection before full_every has passed"
    clock.now += 1
    freezer.settle()
    assert gone() is None, "the periodic full collection reclaims it"
    assert gc.get_freeze_count() > 0, "and everything alive is frozen again"


def test_the_pipeline_settles_the_heap_after_each_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hub.catalog import Catalog
    from hub.config import Settings
    from hub.partners import Partners
    from hub.pipeline import Pipeline
    from hub.store import open_store

    settled: list[int] = []
    monkeypatch.setattr(ingest.heap_freezer, "settle", lambda: settled.append(1))
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        store.journal(b"not an interchange", channel="folder", partner=None, filename="x.edi")
        settings = Settings.defaults(tmp_path)
        pipeline = Pipeline(store, Catalog(), lambda: Partners(), settings, worker="w1")
        assert pipeline.run_once() == 1
        assert settled == [1]
        assert pipeline.run_once() == 0
        assert settled == [1], "an idle poll has nothing to settle"
    finally:
        store.close()


def test_ingest_bytes_settles_the_heap_before_the_collector_runs_again(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """What the store's cache keeps after an ingestion is settled (frozen) as a pipeline batch's is,
    while the collector is still paused: its first pass would otherwise scan all of it."""
    from hub.catalog import Catalog
    from hub.store import open_store

    seen: list[bool] = []
    monkeypatch.setattr(ingest.heap_freezer, "settle", lambda: seen.append(gc.isenabled()))
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        was_enabled = gc.isenabled()
        ingest.ingest_bytes(b"not an interchange", store, Catalog(), filename="x.edi")
        assert seen == [False], "settled once, with the collector paused"
        assert gc.isenabled() == was_enabled, "and the collector as it was afterwards"
        ingest.ingest_bytes(b"not an interchange", store, Catalog(), filename="x.edi")
        assert seen == [False], "a duplicate is not processed: nothing to settle"
    finally:
        store.close()
