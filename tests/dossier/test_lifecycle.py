"""Lifecycles: ranks, the never-backwards rule, corrections, holds, and order independence."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.dossier import lifecycle
from hub.dossier.lifecycle import (
    EQUIPMENT_USE,
    EXPORT,
    IMPORT,
    MACHINES,
    VESSEL_CALL,
    Direction,
    EquipmentUseState,
    EventType,
    ExportState,
    ImportState,
    Machine,
    TranshipmentState,
    VesselCallState,
    active_holds,
    advance,
    consignment_machine,
    consignment_state,
    effective_events,
)
from hub.dossier.model import Event

ALL = list(MACHINES.values())


def ev(type_: str, id_: str | None = None, msg: str | None = None, retracts: list[str] | None = None,
       **detail: str) -> Event:
    return Event(id=id_ or f"{type_}@{msg}", dossier_id="D", type=type_, source_message_id=msg,
                 detail=dict(detail), retracts=retracts or [])


def test_import_happy_path() -> None:
    state = IMPORT.initial
    for t in ["booked", "si_received", "manifested", "ata", "discharged", "pre_cleared", "declared",
              "inspection_ordered", "released", "delivery_order_issued", "gated_out", "closed"]:
        new = IMPORT.advance(state, t)
        assert IMPORT.rank(new) > IMPORT.rank(state) or new == state == ImportState.BOOKED
        state = new
    assert state is ImportState.CLOSED


def test_release_before_manifest_gives_the_same_state() -> None:
    a = IMPORT.derive([ev("released", msg="cusres"), ev("manifested", msg="cuscar")])
    b = IMPORT.derive([ev("manifested", msg="cuscar"), ev("released", msg="cusres")])
    assert a == b == ImportState.RELEASED


def test_pre_clearance_can_come_before_arrival() -> None:
    assert IMPORT.derive([ev("pre_cleared", msg="licence"), ev("ata", msg="berman")]) is \
        ImportState.PRE_CLEARANCE_OK


def test_advance_dispatches_on_the_state_type() -> None:
    assert advance(VesselCallState.ANNOUNCED, "ata") is VesselCallState.ARRIVED
    assert advance(ExportState.GATED_IN, "released") is ExportState.RELEASED_FOR_LOADING
    assert advance(ImportState.DECLARED, "released") is ImportState.RELEASED
    assert advance(TranshipmentState.DISCHARGED, "declared") is TranshipmentState.TS_DECLARED
    assert advance(EquipmentUseState.DISCHARGED, ev("gated_out")) is EquipmentUseState.GATED_OUT


def test_unknown_and_timeline_only_events_move_nothing() -> None:
    assert advance(VesselCallState.BERTHED, "bayplan_received") is VesselCallState.BERTHED
    assert advance(VesselCallState.BERTHED, "something_new") is VesselCallState.BERTHED
    assert advance(ExportState.LOADED, "manifested") is ExportState.LOADED


def test_never_backwards() -> None:
    assert advance(VesselCallState.DEPARTED, "eta") is VesselCallState.DEPARTED
    assert advance(ImportState.GATED_OUT, "declared") is ImportState.GATED_OUT


def test_cancellation_outranks_progress_and_late_events() -> None:
    events = [ev("eta", msg="m1"), ev("cancelled", msg="m2"), ev("ata", msg="m3")]
    assert VESSEL_CALL.derive(events) is VesselCallState.CANCELLED
    assert VESSEL_CALL.derive(reversed(events)) is VesselCallState.CANCELLED


def test_a_correction_retracting_the_cancellation_reinstates() -> None:
    events = [ev("eta", msg="m1"), ev("cancelled", id_="c", msg="m2"), ev("ata", msg="m3"),
              ev("corrected", msg="m4", retracts=["c"])]
    assert VESSEL_CALL.derive(events) is VesselCallState.ARRIVED


def test_a_correction_retracting_a_message_moves_back() -> None:
    events = [ev("manifested", msg="cuscar"), ev("released", msg="bad-release"),
              ev("corrected", msg="cusres-cancel", retracts=["bad-release"])]
    assert IMPORT.derive(events) is ImportState.MANIFESTED
    assert [e.type for e in effective_events(events)] == ["manifested"]


def test_corrections_cannot_be_retracted() -> None:
    events = [ev("released", id_="r", msg="m1"), ev("corrected", id_="k", msg="m2", retracts=["r"]),
              ev("corrected", msg="m3", retracts=["k"])]
    assert IMPORT.derive(events) is ImportState.BOOKED


def test_holds() -> None:
    events = [ev("ata", msg="m1"), ev("hold", msg="m2", reference="H1")]
    assert VESSEL_CALL.derive(events) is VesselCallState.ON_HOLD
    assert VESSEL_CALL.progress(events) is VesselCallState.ARRIVED
    assert active_holds(events) == ["H1"]
    events.append(ev("hold_lifted", msg="m3", reference="H1"))
    assert VESSEL_CALL.derive(events) is VesselCallState.ARRIVED
    events.append(ev("hold", msg="m4", reference="H2"))
    assert VESSEL_CALL.derive(events) is VesselCallState.ON_HOLD
    events.append(ev("hold_lifted", msg="m5"))  # no reference: lifts every hold
    assert VESSEL_CALL.derive(events) is VesselCallState.ARRIVED


def test_a_departed_call_is_not_on_hold() -> None:
    assert VESSEL_CALL.derive([ev("atd", msg="m1"), ev("hold", msg="m2")]) is VesselCallState.DEPARTED


def test_advance_refuses_the_hold_state() -> None:
    with pytest.raises(ValueError, match="no rank"):
        advance(VesselCallState.ON_HOLD, "ata")


def test_consignment_machines() -> None:
    assert consignment_machine(Direction.IMPORT) is IMPORT
    assert consignment_machine(Direction.EXPORT) is EXPORT
    assert consignment_state(Direction.TRANSHIPMENT, "ts_declared") is TranshipmentState.TS_DECLARED
    with pytest.raises(ValueError):
        consignment_state(Direction.EXPORT, "delivery_order_issued")


def test_every_machine_is_well_formed() -> None:
    for m in ALL:
        assert len(set(m.order)) == len(m.order)
        assert all(t in m.order for t in m.targets.values())
        assert all(isinstance(k, str) and k in set(EventType) for k in m.targets)
    assert set(EQUIPMENT_USE.order) == set(EquipmentUseState)
    assert set(VESSEL_CALL.order) == set(VesselCallState) - {VesselCallState.ON_HOLD}


def test_a_bad_machine_is_refused() -> None:
    class Two(enum.Enum):
        A = "a"
        B = "b"

    with pytest.raises(ValueError):
        Machine("bad", (Two.A,), {"x": Two.B})


# -- properties ----------------------------------------------------------------------------------------------

EVENT_TYPES = [t.value for t in EventType if t not in (EventType.CORRECTED,)] + ["unknown_type"]


@st.composite
def event_sets(draw: st.DrawFn) -> list[Event]:
    """Events with distinct ids, some from the same message, some corrections retracting earlier ids or
    messages, some holds and lifts."""
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        type_ = draw(st.sampled_from(EVENT_TYPES))
        detail = {"reference": draw(st.sampled_from(["H1", "H2"]))} if type_.startswith("hold") and \
            draw(st.booleans()) else {}
        e = ev(type_, id_=f"e{i}", msg=f"m{draw(st.integers(0, 4))}")
        e.detail.update(detail)
        out.append(e)
    for j in range(draw(st.integers(0, 2))):
        targets = draw(st.lists(st.sampled_from([f"e{i}" for i in range(n)] + [f"m{k}" for k in range(5)]),
                                max_size=2))
        out.append(ev("corrected", id_=f"k{j}", msg=f"c{j}", retracts=targets))
    return out


@given(event_sets(), st.randoms(use_true_random=False), st.sampled_from(ALL))
def test_the_state_does_not_depend_on_the_order_of_events(
        events: list[Event], rnd: Any, machine: Machine[Any]) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert machine.derive(shuffled) == machine.derive(events)
    assert machine.progress(shuffled) == machine.progress(events)


@given(st.permutations([ev(t, msg=f"m{i}") for i, t in enumerate(
    ["eta", "berthing_requested", "ata", "bayplan_received", "discharged", "manifested", "atd"])]))
def test_permutations_of_a_real_call(events: list[Event]) -> None:
    assert VESSEL_CALL.derive(events) is VesselCallState.DEPARTED


@given(st.lists(st.sampled_from(EVENT_TYPES), max_size=15), st.randoms(use_true_random=False),
       st.sampled_from(ALL))
def test_folding_advance_is_order_independent(types: list[str], rnd: Any, machine: Machine[Any]) -> None:
    def fold(ts: list[str]) -> Any:
        state = machine.initial
        for t in ts:
            state = machine.advance(state, t)
        return state

    shuffled = list(types)
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(types)


@given(st.sampled_from(ALL), st.data())
def test_advance_never_lowers_the_rank(machine: Machine[Any], data: st.DataObject) -> None:
    state = data.draw(st.sampled_from(machine.order))
    event = data.draw(st.sampled_from(EVENT_TYPES))
    assert machine.rank(machine.advance(state, event)) >= machine.rank(state)


@given(event_sets(), st.sampled_from(ALL))
def test_progress_is_advance_folded_over_the_effective_events(events: list[Event], machine: Machine[Any]) -> None:
    state = machine.initial
    for e in lifecycle.effective_events(events):
        state = machine.advance(state, e)
    assert machine.progress(events) is state


@given(event_sets(), st.sampled_from(ALL))
def test_adding_an_event_that_is_not_a_correction_never_lowers_progress(
        events: list[Event], machine: Machine[Any]) -> None:
    before = machine.progress(events)
    after = machine.progress(events + [ev("released", id_="new", msg="new")])
    assert machine.rank(after) >= machine.rank(before)


def test_module_advance_rejects_foreign_enums() -> None:
    class Other(enum.Enum):
        X = "x"

    with pytest.raises(ValueError):
        lifecycle.advance(Other.X, "ata")


def test_the_operator_documentation_shows_the_real_transition_table() -> None:
    from pathlib import Path

    machines: list[Machine[Any]] = [VESSEL_CALL, IMPORT, EXPORT, lifecycle.TRANSHIPMENT, lifecycle.TRANSIT,
                                    EQUIPMENT_USE]
    rows = ["| Event | Vessel call | Import | Export | Transhipment | Transit | Equipment use |",
            "|---|---|---|---|---|---|---|"]
    for t in EventType:
        cells = [m.targets[t].value if t in m.targets else "" for m in machines]
        if any(cells):
            rows.append(f"| {t.value} | " + " | ".join(cells) + " |")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dossier.md").read_text(encoding="utf-8")
    assert "\n".join(rows) + "\n" in doc
