"""The pipeline's pure first step, validation and mapping, in this thread or in a helper process.

`prepare` turns a message's bytes into its validation report and mapped documents; it reads no store
and no partner file, so it can run anywhere. A `Pipeline` calls it in its own thread by default; with
a `ProcessPreparer` (what `hub serve` uses on a machine with more than one core) the pipeline thread
hands a batch to helper processes, then writes the batch before it while a helper validates and maps
the next one. Validation and mapping are some 40 % of a message's time in the pipeline thread and run
under the interpreter's lock, so in the same process they could never overlap the writing. A report
and its mappings cross the process boundary pickled (a tenth of the time they took to compute).

The helper processes are started with `spawn`, never `fork`: the hub's threads hold locks (logging,
SQLite, paramiko) that a forked child would inherit held. They get the parent's mapping registry as
it stands, so an administrator's spec that the parent refused is refused there too; when the parent's
registry changes (a reload), the pool is replaced. A helper that dies (killed, out of memory) costs its
batch nothing: the batch is prepared again in the calling thread and the pool is started afresh.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.catalog import Catalog
from hub.edifact.validator import Options
from hub.mapping.registry import MappingRegistry
from hub.mapping.run import MessageMapping, map_edifact, map_xml
from hub.report import Report

log = logging.getLogger("hub.preparation")


@dataclass
class Preparation:
    """What validation and mapping made of one message. `mappings` are those of a message the
    validation accepted; whether its sender may send it is decided afterwards, by the pipeline."""

    report: Report
    mappings: list[MessageMapping] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # syntax, sender, control_ref, message types...


@dataclass
class Failed:
    """`prepare` raised for this message: left to the pipeline's one-message path, which reports it."""

    error: str


def prepare(raw: bytes, catalog: Catalog, options: Options | None = None) -> Preparation:
    from hub.xml import looks_like_xml

    return _prepare_xml(raw, catalog) if looks_like_xml(raw) else _prepare_edifact(raw, catalog, options)


def _prepare_xml(raw: bytes, catalog: Catalog) -> Preparation:
    from hub.xml import parse_and_validate

    report, root = parse_and_validate(raw)
    prepared = Preparation(report, meta={"syntax": "xml"})
    if root is None:
        return prepared
    prepared.meta["message_types"] = [root.tag.split("}")[-1]]
    if report.accepted:
        prepared.mappings = [map_xml(root, catalog.mappings())]
        message = (prepared.mappings[0].document or {}).get("message") or {}
        if message.get("sender"):
            prepared.meta["sender"] = message["sender"]
        if message.get("reference"):
            prepared.meta["control_ref"] = str(message["reference"])
    return prepared


def _prepare_edifact(raw: bytes, catalog: Catalog, options: Options | None) -> Preparation:
    from hub.edifact.validator import validate_located

    report, located = validate_located(raw, catalog, options)
    prepared = Preparation(report, meta={"syntax": "edifact"})
    first = report.interchanges[0] if report.interchanges else None
    if first is not None:
        prepared.meta.update(sender=first.sender, recipient=first.recipient, control_ref=first.control_ref)
        types = [m.type for ic in report.interchanges for m in ic.messages if m.type]
        prepared.meta["message_types"] = list(dict.fromkeys(types))
        prepared.meta["message_refs"] = [m.ref for ic in report.interchanges for m in ic.messages if m.ref]
    if report.accepted:
        prepared.mappings = map_edifact(located, catalog.mappings(), catalog.directory)
    return prepared


Item = tuple[bytes, Options | None]  # a message's bytes and its sender's validation options
Outcome = Preparation | Failed


def prepare_many(items: Sequence[Item], catalog: Catalog) -> list[Outcome]:
    """`prepare` for each item, a failure kept to its own message."""
    out: list[Outcome] = []
    for raw, options in items:
        try:
            out.append(prepare(raw, catalog, options))
        except Exception as exc:  # noqa: BLE001 - reported by the one-message path, which prepares again
            out.append(Failed(f"{type(exc).__name__}: {exc}"))
    return out


# --- in helper processes ------------------------------------------------------------------------------

_child_catalog: Catalog | None = None


def _start_child(schemas_root: str, mappings_root: str, registry: bytes) -> None:
    global _child_catalog
    _child_catalog = Catalog(Path(schemas_root), Path(mappings_root))
    _child_catalog.use_mappings(pickle.loads(registry))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the hub stops its helpers itself
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """End this helper once the hub that started it is gone (killed with SIGKILL, say): the pool's queue
    never reports it, since the helper holds both ends of its pipe, and the helper would wait forever."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(0)


def _prepare_in_child(items: Sequence[Item]) -> list[Outcome]:
    assert _child_catalog is not None, "the helper process was not initialised"
    return prepare_many(items, _child_catalog)


class PendingBatch:
    """A batch handed to the helpers; `result` waits for it (or prepares it here, when they failed)."""

    def __init__(self, owner: ProcessPreparer, items: Sequence[Item], pool: ProcessPoolExecutor | None = None,
                 future: Future[list[Outcome]] | None = None) -> None:
        self.owner, self.items, self.pool, self.future = owner, items, pool, future

    def result(self) -> list[Outcome]:
        if self.future is not None:
            try:
                prepared = self.future.result()
                self.owner.batches += 1
                return prepared
            except BrokenProcessPool:
                self.owner.broken(self.pool)
            except Exception:  # noqa: BLE001 - pickling trouble, say: the batch is prepared here instead
                log.warning("the helper process could not prepare a batch; preparing it here", exc_info=True)
        self.owner.batches_here += 1
        return prepare_many(self.items, self.owner.catalog)


class ProcessPreparer:
    """Prepares batches in `processes` helper processes (see the module's docstring)."""

    def __init__(self, catalog: Catalog, processes: int = 1) -> None:
        self.catalog = catalog
        self.processes = max(1, processes)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._registry: MappingRegistry | None = None  # the one the pool's helpers were given
        self._closed = False
        self.batches = 0  # prepared by the helpers
        self.batches_here = 0  # prepared by the caller instead (a helper died, or the pool was closed)
        self.restarts = 0  # pools started again after a helper died

    def start(self) -> None:
        """Start the helpers now (they take a second or two to import the hub), not at the first batch."""
        self.submit([])

    def submit(self, items: Sequence[Item]) -> PendingBatch:
        registry = self.catalog.mappings()
        with self._lock:
            if self._closed:
                return PendingBatch(self, items)
            if self._pool is not None and self._registry is not registry:
                log.info("the mapping specs changed: restarting the preparation helpers")
                self._pool.shutdown(wait=False, cancel_futures=False)
                self._pool = None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_child,
                    initargs=(str(self.catalog.root), str(self.catalog.mappings_root), pickle.dumps(registry)))
                self._registry = registry
            pool = self._pool
        try:
            return PendingBatch(self, items, pool, pool.submit(_prepare_in_child, list(items)))
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by another thread meanwhile
            self.broken(pool)
            return PendingBatch(self, items)

    def broken(self, pool: ProcessPoolExecutor | None) -> None:
        """A helper of `pool` died: its batch is prepared by the caller, the next one starts a new pool."""
        with self._lock:
            if pool is None or self._pool is not pool:
                return  # already replaced
            log.warning("a preparation helper process died; starting a new one")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.restarts += 1

    def state(self) -> dict[str, int]:
        """For /health: helper processes asked for and alive, batches prepared where, restarts."""
        pool = self._pool
        alive = sum(p.is_alive() for p in (getattr(pool, "_processes", None) or {}).values()) if pool else 0
        return {"processes": self.processes, "alive": alive, "batches": self.batches,
                "batches_here": self.batches_here, "restarts": self.restarts}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


