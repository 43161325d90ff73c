"""A call's index and stowage walk, as correlation memoises them, against the plain computation."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from hub.dossier import correlate
from hub.dossier.correlate import Key, Memo, _call_index, _stowed, current_stowage
from hub.dossier.model import VesselCall
from tests.dossier.strategies import records


def reference_index(vc: VesselCall) -> list[Key]:
    """The call's index as one sort of every key (what _call_index gave before it was split)."""
    index: list[Key] = [(t, v, scope) for t, v, scope in _call_index(vc) if t != "container"]
    for cell_records in current_stowage(vc).values():
        for r in cell_records:
            if r.equipment_number:
                index.append(("container", r.equipment_number, ""))
    return sorted(set(index))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records(VesselCall))
def test_call_index_and_stowage_equal_the_plain_computation(vc: VesselCall) -> None:
    memo = Memo()
    plain = [r for rs in current_stowage(vc).values() for r in rs if r.equipment_number]
    for _ in range(2):  # computed, then from the memo
        assert _call_index(vc, memo) == reference_index(vc) == _call_index(vc)
        assert _stowed(vc, memo)[0] == plain
    vc.bayplans.reverse()  # the same bayplans in another order: the same records, from the memo
    assert _stowed(vc, memo)[0] == plain == [r for rs in current_stowage(vc).values() for r in rs
                                             if r.equipment_number]
    vc.bayplans = vc.bayplans[:-1]  # other bayplans: the memo's entry is not used
    assert _call_index(vc, memo) == reference_index(vc)
    assert correlate.call_discrepancies(vc, [], {}, memo) == correlate.call_discrepancies(vc, [], {})
