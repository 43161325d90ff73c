"""StoreRepository's look-ups of what it saved (before anything is written), against the plain bookkeeping
it replaced: every key of a save unregistered, then every key registered again."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.dossier.correlate import Key
from hub.ingest import StoreRepository
from hub.store import Store

_KEYS = [("container", f"C{n}", "") for n in range(5)] + [("voyage", "V1", "MAPTM"), ("voyage", "V1", "")]


class PlainLookups:
    def __init__(self) -> None:
        self.index: dict[str, list[Key]] = {}
        self.by_key: dict[tuple[str, str, str], dict[str, None]] = {}

    def save(self, dossier_id: str, kind: str, index: list[Key]) -> None:
        for t, v, _ in self.index.get(dossier_id, ()):
            self.by_key.get((kind, t, v), {}).pop(dossier_id, None)
        self.index[dossier_id] = index
        for t, v, _ in index:
            self.by_key.setdefault((kind, t, v), {})[dossier_id] = None

    def find(self, kind: str, t: str, v: str) -> list[str]:
        return list(self.by_key.get((kind, t, v), {}))


_save = st.tuples(st.sampled_from(["VC-1", "VC-2", "CS-1", "CS-2", "CS-3"]),
                  st.lists(st.sampled_from(_KEYS), max_size=7).map(sorted))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_save, min_size=1, max_size=12))
def test_lookups_after_saves_with_changing_keys(store: Store, saves: list[tuple[str, list[Key]]]) -> None:
    plain = PlainLookups()
    with store.transaction() as tx:
        repo = StoreRepository(tx)
        try:
            with repo.deferred():  # held: nothing is written (the block raises before its end)
                for dossier_id, index in saves:
                    kind = "vessel_call" if dossier_id.startswith("VC") else "consignment"
                    stored: dict[str, Any] = {"dossier": {}}
                    repo.save(dossier_id, kind, stored, index)
                    plain.save(dossier_id, kind, index)
                    for kind_ in ("vessel_call", "consignment"):
                        for t, v, _ in _KEYS:
                            got, expected = repo.find(kind_, t, v), plain.find(kind_, t, v)
                            if kind_ == "vessel_call":  # correlation sorts the calls a key finds
                                got, expected = sorted(got), sorted(expected)
                            assert got == expected, (kind_, t, v)
                raise _Done
        except _Done:
            pass


class _Done(Exception):
    pass
