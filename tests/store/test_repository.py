"""StoreRepository's look-ups: find_among is find restricted to some dossiers, with the repository's
own unsaved changes applied on top of the store's answer (both backends)."""

from __future__ import annotations

from typing import Any

from hub.ingest import StoreRepository
from hub.store import Store

EVERYONE = ["CS-1", "CS-2", "CS-3", "CS-4", "CS-5", "CS-9"]


def _doc(did: str) -> dict[str, Any]:
    return {"fragments": {}, "dossier": {"id": did, "status": "manifested"}}


def _link(repo: StoreRepository, did: str, call: str, container: str) -> None:
    repo.save(did, "consignment", _doc(did), [("call_id", call, ""), ("container", container, "")])


def test_find_among_is_find_restricted_to_the_candidates(store: Store) -> None:
    with store.transaction() as tx:
        repo = StoreRepository(tx)
        with repo.deferred():
            # CS-3 linked first: the store's oldest-link order is not the order of the ids
            for did, container in (("CS-3", "MSCU0000001"), ("CS-1", "MSCU0000002"), ("CS-2", "MSCU0000003"),
                                   ("CS-4", "MSCU0000004")):
                _link(repo, did, "VC-1", container)
            _link(repo, "CS-9", "VC-2", "MSCU0000009")
    with store.transaction() as tx:
        assert tx.find_dossier_ids_among("call_id", "VC-1", ["CS-2", "CS-3", "CS-9", "CS-X"], "consignment") \
            == ["CS-3", "CS-2"]
        repo = StoreRepository(tx)
        assert repo.find_among("consignment", "call_id", "VC-1", EVERYONE) \
            == repo.find("consignment", "call_id", "VC-1") == ["CS-3", "CS-1", "CS-2", "CS-4"]
    with store.transaction() as tx:
        repo = StoreRepository(tx)
        with repo.deferred():  # changes held, not written yet: CS-1 leaves the call, CS-4 goes, CS-5 joins
            repo.load("CS-1")
            repo.save("CS-1", "consignment", _doc("CS-1"), [("call_id", "VC-2", "")])
            repo.delete("CS-4")
            _link(repo, "CS-5", "VC-1", "MSCU0000005")
            full = repo.find("consignment", "call_id", "VC-1")
            assert full == ["CS-3", "CS-2", "CS-5"]
            for among in (EVERYONE, ["CS-5", "CS-1"], ["CS-2"], ["CS-4", "CS-9"], []):
                assert repo.find_among("consignment", "call_id", "VC-1", among) == [d for d in full if d in among]
            repo.prefetch("consignment", [("call_id", "VC-1")])  # a prefetched answer, restricted the same way
            assert repo.find_among("consignment", "call_id", "VC-1", ["CS-5", "CS-3"]) == ["CS-3", "CS-5"]
