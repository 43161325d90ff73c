"""What a pipeline batch looks up at once before correlating (`prefetch_keys`)."""

from __future__ import annotations

from typing import Any

from hub.dossier.correlate import _FEW_STOWED, Memo, prefetch_keys


class Recording:
    """A repository that answers look-ups from a dict and records what it is asked to prefetch."""

    def __init__(self, found: dict[tuple[str, str, str], list[str]]) -> None:
        self.found = found
        self.memo = Memo()
        self.asked: list[tuple[str, list[tuple[str, str]]]] = []

    def prefetch(self, kind: str, wanted: list[tuple[str, str]]) -> None:
        self.asked.append((kind, list(wanted)))

    def find(self, kind: str, key_type: str, value: str) -> list[str]:
        return self.found.get((kind, key_type, value), [])


def stowed(numbers: set[str]) -> Any:
    return (frozenset(), [], [], [], {}, numbers)  # as _stowage_in_force keeps it; only the numbers matter


def test_the_containers_of_the_batch_calls_and_bayplans_are_looked_up_at_once() -> None:
    repo = Recording({("vessel_call", "port_voyage", "MACAS|V1"): ["VC-1"],
                      ("vessel_call", "port_voyage", "MACAS|V2"): ["VC-2"]})
    repo.memo.stowed["VC-1"] = stowed({"MSCU1234565", "TGHU0000001"})
    repo.memo.stowed["VC-2"] = stowed({f"BIGU{n:07d}" for n in range(_FEW_STOWED + 1)})  # too many: left
    bayplan = {"call": {"port": "MACAS", "voyage_in": "V1"},
               "stowage": [{"cell": "0010102", "equipment": "CSQU3054383"}, {"cell": None, "equipment": "NOCELL1"},
                           {"cell": "0010104"}]}
    manifest = {"call": {"port": "MACAS", "voyage_in": "V2"}, "consignments": [{"master_bl": "BL1"}]}
    prefetch_keys(repo, iter([bayplan, manifest]))  # any iterable
    assert ("vessel_call", [("port_voyage", "MACAS|V1"), ("port_voyage", "MACAS|V2")]) in repo.asked
    assert ("consignment", [("bl", "BL1")]) in repo.asked
    containers = [wanted for kind, wanted in repo.asked if any(t == "container" for t, _ in wanted)]
    assert len(containers) == 1 and repo.asked[-1][1] == containers[0]
    assert sorted(containers[0]) == [("container", "CSQU3054383"), ("container", "MSCU1234565"),
                                     ("container", "TGHU0000001")]


def test_without_a_memo_or_containers_nothing_more_is_asked() -> None:
    repo = Recording({})
    repo.memo = None  # type: ignore[assignment]
    prefetch_keys(repo, [{"call": {"port": "MACAS", "voyage_in": "V1"}}])
    assert repo.asked == [("vessel_call", [("port_voyage", "MACAS|V1")])]
