"""A call's index and stowage walk, as correlation memoises them, against the plain computation."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub.dossier import correlate
from hub.dossier.correlate import Key, Memo, _call_index, _grown, _stowed, _stowed_numbers, current_stowage
from hub.dossier.keys import Stamp
from hub.dossier.model import Bayplan, BayplanScope, StowageRecord, VesselCall
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
    # A call's bayplans come from distinct messages (correlation attaches a message once); two with the
    # same message and time have no order between them, so "any order gives the same" cannot hold.
    assume(len({(b.source_message_id, b.issued_at) for b in vc.bayplans}) == len(vc.bayplans))
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


# --- a call gaining its bayplans one at a time (the memo grows its stowage instead of redoing it) -----

CELLS = [f"0{n:02d}0{t}82" for n in range(1, 4) for t in range(2)]
NUMBERS = ["AMLU7296336", "SAHU3624935", "CSLU4241014", "LEVU5976875", None]
FILES = ["MA", "MB"]
ISSUED = [None, Stamp(utc="2025-11-26T10:30:00Z", original="2511261030", fmt="201"),
          Stamp(utc="2025-11-27T10:30:00Z", original="2511271030", fmt="201")]


@st.composite
def bayplan(draw: st.DrawFn, n: int) -> Bayplan:
    file, part = draw(st.sampled_from(FILES)), draw(st.integers(1, 3))
    cells = draw(st.lists(st.sampled_from(CELLS), unique=True, max_size=4))
    records = {cell: [StowageRecord(cell, draw(st.sampled_from(NUMBERS)))
                      for _ in range(draw(st.integers(1, 2)))] for cell in cells}
    return Bayplan(id=f"bp-{n}", source_message_id=f"{file}.{part}.{n}", scope=draw(st.sampled_from(BayplanScope)),
                   issued_at=draw(st.sampled_from(ISSUED)), records=records)


@st.composite
def bayplans(draw: st.DrawFn) -> list[Bayplan]:
    return [draw(bayplan(n)) for n in range(draw(st.integers(1, 5)))]


def _plain(vc: VesselCall) -> tuple[list[StowageRecord], list[Key]]:
    records = [r for rs in current_stowage(vc).values() for r in rs if r.equipment_number]
    return records, [("container", n, "") for n in sorted({r.equipment_number or "" for r in records})]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(bayplans())
def test_stowage_grown_one_bayplan_at_a_time_equals_the_plain_computation(plans: list[Bayplan]) -> None:
    vc = VesselCall(id="VC-1")
    memo = Memo()
    for b in plans:
        vc.bayplans = [*vc.bayplans, b]
        records, container_keys = _stowed(vc, memo)
        assert (records, container_keys) == _plain(vc)
        assert [r is p for r, p in zip(records, _plain(vc)[0], strict=True)] == [True] * len(records)
        assert _stowed(vc, memo) == (records, container_keys)  # kept
        assert _stowed_numbers(vc, memo) == {r.equipment_number for r in records} == _stowed_numbers(vc)


def test_a_bayplan_split_over_messages_grows_the_kept_stowage() -> None:
    # Three messages of one interchange, each adding its own cells: each later one is grown, not redone.
    vc = VesselCall(id="VC-1")
    memo = Memo()
    parts = [Bayplan(id=f"bp-{n}", source_message_id=f"MA.{n}", records={
        CELLS[2 * n]: [StowageRecord(CELLS[2 * n], NUMBERS[n])],
        CELLS[2 * n + 1]: [StowageRecord(CELLS[2 * n + 1], NUMBERS[3 - n])]}) for n in range(3)]
    for b in parts:
        kept = memo.stowed.get(vc.id)
        vc.bayplans = [*vc.bayplans, b]
        if kept is not None:
            assert _grown(kept, frozenset((id(p), id(p.records)) for p in vc.bayplans), vc) is not None
        assert _stowed(vc, memo) == _plain(vc)
    # a full plan from another file replaces them: not grown
    other = Bayplan(id="bp-x", source_message_id="MB.1", issued_at=ISSUED[2],
                    records={CELLS[0]: [StowageRecord(CELLS[0], NUMBERS[0])]})
    kept = memo.stowed[vc.id]
    vc.bayplans = [*vc.bayplans, other]
    assert _grown(kept, frozenset((id(p), id(p.records)) for p in vc.bayplans), vc) is None
    assert _stowed(vc, memo) == _plain(vc) == ([other.records[CELLS[0]][0]], [("container", NUMBERS[0], "")])
