"""Dossiers made comparable across stores: hub-made ids replaced by what identifies the dossier, times
of recording (which depend on when a test runs) left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def normalised(docs: list[dict[str, Any]], call_name: Callable[[dict[str, Any]], str]) -> list[Any]:
    """`docs` as `Store.dossier` gives them, sorted; a call is named by `call_name(document)`, a
    consignment by its B/L or booking, and every mention of an id (in provenance, events, links) by
    that name."""
    names = {}
    for d in docs:
        doc = d["dossier"]
        names[d["id"]] = call_name(doc) if d["kind"] == "vessel_call" else \
            f"CS:{doc.get('master_bl') or doc.get('booking')}"

    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: clean(v) for k, v in sorted(x.items()) if k not in ("recorded_at", "received_at")}
        if isinstance(x, list):
            return [clean(v) for v in x]
        if isinstance(x, str):
            for old, new in names.items():
                x = x.replace(old, new)
            return x
        return x

    return sorted((clean(d["dossier"]) for d in docs), key=repr)
