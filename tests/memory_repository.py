"""A correlation `Repository` in memory, for tests of correlation without a database."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hub.dossier.correlate import Key


class MemoryRepository:
    """`hub.dossier.correlate.Repository` in a dict: what the store does, without the store."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.index: dict[str, tuple[str, list[Key]]] = {}
        self.counter = itertools.count(1)

    def find(self, kind: str, key_type: str, value: str) -> list[str]:
        return sorted(i for i, (k, keys) in self.index.items()
                      if k == kind and any(t == key_type and v == value for t, v, _ in keys))

    def load(self, dossier_id: str) -> dict[str, Any] | None:
        found = self.stored.get(dossier_id)
        return copy.deepcopy(found) if found is not None else None

    def save(self, dossier_id: str, kind: str, stored: dict[str, Any], index: list[Key]) -> None:
        self.stored[dossier_id] = copy.deepcopy(stored)
        self.index[dossier_id] = (kind, list(index))

    def delete(self, dossier_id: str) -> None:
        self.stored.pop(dossier_id, None)
        self.index.pop(dossier_id, None)

    def new_id(self, kind: str) -> str:
        return ("VC-" if kind == "vessel_call" else "CS-") + str(next(self.counter))

    def dossiers(self, kind: str) -> list[dict[str, Any]]:
        return [self.stored[i]["dossier"] for i, (k, _) in sorted(self.index.items()) if k == kind]

