"""Busy vessel calls: a hundred messages each, as the pipeline files them (a DossierCache kept between
transactions, a call's new latest message folded into the state its earlier ones left) give the same
dossiers as filing every message afresh (each call folded from all its fragments every time)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bench import traffic
from hub.catalog import default_catalog
from hub.dossier import correlate as correlation
from hub.ingest import DossierCache, correlate_mapped, ingest_bytes, map_bytes
from hub.store import Store, open_store
from hub.store.store import Transaction
from tests.scenario.normalise import normalised


def _normalised(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        ids = conn.exec_driver_sql("SELECT id FROM dossiers").scalars().all()
    docs = [d for d in (store.dossier(dossier_id) for dossier_id in ids) if d is not None]
    return normalised(docs, lambda call: f"CALL:{call.get('port')}:{call.get('voyage_in')}:{call.get('voyage_out')}")


@pytest.fixture(scope="module")
def bodies() -> list[bytes]:
    """300 messages over 3 calls, dated in sending order, 20 of them delayed by up to 30 places: those
    arrive after later-dated ones, and their call is folded whole again."""
    msgs = [m.body for m in traffic.messages(300, 3)]
    rng = random.Random(6346)
    for _ in range(20):
        i = rng.randrange(len(msgs) - 31)
        msgs.insert(i + rng.randint(1, 30), msgs.pop(i))
    return msgs


def test_folding_a_busy_call_step_by_step_gives_what_folding_it_whole_gives(
        tmp_path: Path, bodies: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = default_catalog()
    afresh = open_store(f"sqlite:///{tmp_path / 'afresh.db'}")
    for body in bodies:
        result = ingest_bytes(body, afresh, catalog)
        assert result.report is not None and result.report.accepted

    steps = 0
    real_step = correlation._fold_step

    def counted(*args: Any) -> None:
        nonlocal steps
        steps += 1
        real_step(*args)

    monkeypatch.setattr(correlation, "_fold_step", counted)
    parts_written = 0
    real_put_parts = Transaction.put_parts

    def put_parts(tx: Transaction, rows: Any) -> None:
        nonlocal parts_written
        rows = list(rows)
        parts_written += len(rows)
        real_put_parts(tx, rows)

    monkeypatch.setattr(Transaction, "put_parts", put_parts)
    kept = open_store(f"sqlite:///{tmp_path / 'kept.db'}")
    cache = DossierCache()
    call_messages = 0
    for body in bodies:
        with kept.transaction(durable=True) as tx:
            entry = tx.journal(body, channel="amqp")
        _, mappings = map_bytes(body, catalog)
        with kept.transaction() as tx:
            outcomes = correlate_mapped(tx, entry, mappings, channel="amqp", cache=cache)
        cache.keep()
        call_messages += sum(len(o.calls) for o in outcomes)

    assert _normalised(kept) == _normalised(afresh)
    # Most calls were folded one fragment at a time: a hundred fragments a call by the end would have
    # cost thousands of steps folded whole every time.
    assert call_messages >= 200 and steps < 3 * call_messages, (steps, call_messages)
    # Each message wrote its own bayplan and events as parts, not its call's every item again (which a
    # call of a hundred messages would have made tens of thousands of rows).
    stored_parts = kept.counts()["dossier_parts"]
    assert stored_parts > 300 and parts_written < 2 * stored_parts, (parts_written, stored_parts)
