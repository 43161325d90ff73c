"""Lifecycles: the states of vessel calls, consignments and equipment uses (port-community.md §3.4), as
functions of the set of events a dossier has seen.

The rule
--------
Each lifecycle is a `Machine`: its states in rank order (the first is the initial state) and a table
from event type to the state the event proves reached. The state of a dossier is the highest-ranked
state reached by any of its effective events. So:

- `advance(state, event)` never moves backwards: it returns the higher-ranked of `state` and the event's
  target (an event type the machine does not know leaves the state alone). Taking the higher of two
  ranks is commutative and associative, so applying a set of events in any order gives the same state:
  a release that arrives before the manifest still ends in RELEASED, and re-ingesting the same files in
  another order gives the same dossiers.
- 'cancelled' moves to CANCELLED, a side state ranked above every progress state: a late ATA does not
  revive a cancelled call. (DIVERTED likewise for a vessel call.)
- The only way back is an explicit 'corrected' event. Its `retracts` list names event ids or source
  message ids; every event with such an id, or from such a message, stops counting. `derive(events)`
  recomputes the state from the remaining events, which may give a lower state (a retracted
  cancellation reinstates the dossier). Corrections themselves cannot be retracted. Because `derive`
  looks at the whole set, the result does not depend on whether the correction came first or last.
  A message cancelled by its sender (BGM 1225 = 1) is withdrawn with a 'corrected' event retracting
  that message; 'cancelled' is for the dossier itself (a call that will not take place).
- A vessel call is ON_HOLD while a 'hold' event (detail 'reference') has no matching 'hold_lifted'
  (a 'hold_lifted' without a reference lifts every hold), unless the call has departed or gone further.
  `progress()` gives the state ignoring holds. `advance` cannot fold holds (they need the whole set):
  it refuses ON_HOLD as input.

No I/O here.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar


class EventType(enum.StrEnum):
    """The event types the lifecycles know. `Event.type` is open: other types are kept in the timeline
    and move no state."""

    ANNOUNCED = "announced"  # vessel call notified / container pre-announced
    ETA = "eta"
    ETD = "etd"
    BERTHING_REQUESTED = "berthing_requested"
    BERTH_ALLOCATED = "berth_allocated"
    ATA = "ata"
    BERTHED = "berthed"
    OPS_STARTED = "ops_started"
    OPS_COMPLETED = "ops_completed"
    ATD = "atd"
    CLOSED = "closed"
    ARCHIVED = "archived"
    DIVERTED = "diverted"
    CANCELLED = "cancelled"
    CORRECTED = "corrected"
    HOLD = "hold"
    HOLD_LIFTED = "hold_lifted"
    BAYPLAN_RECEIVED = "bayplan_received"
    MANIFESTED = "manifested"
    MANIFEST_CLOSED = "manifest_closed"
    BOOKED = "booked"
    SI_RECEIVED = "si_received"
    PRE_ANNOUNCED = "pre_announced"
    VGM_RECEIVED = "vgm_received"
    GATED_IN = "gated_in"
    GATED_OUT = "gated_out"
    DISCHARGED = "discharged"
    LOADED = "loaded"
    PRE_CLEARED = "pre_cleared"
    DECLARED = "declared"
    TS_DECLARED = "ts_declared"
    INSPECTION_ORDERED = "inspection_ordered"
    INSPECTION_COMPLETED = "inspection_completed"
    RELEASED = "released"
    DELIVERY_ORDER_ISSUED = "delivery_order_issued"


class Direction(enum.Enum):
    """Direction of a consignment through the port (CUSCAR GIS 7365: 23, 22, 28, 24)."""

    IMPORT = "import"
    EXPORT = "export"
    TRANSHIPMENT = "transhipment"
    TRANSIT = "transit"


class VesselCallState(enum.Enum):
    ANNOUNCED = "announced"
    BERTH_REQUESTED = "berth_requested"
    BERTH_ALLOCATED = "berth_allocated"
    ARRIVED = "arrived"
    BERTHED = "berthed"
    OPERATIONS = "operations"
    OPERATIONS_COMPLETE = "operations_complete"
    DEPARTED = "departed"
    CLOSED = "closed"
    DIVERTED = "diverted"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"
    ON_HOLD = "on_hold"


class ImportState(enum.Enum):
    BOOKED = "booked"
    SI_RECEIVED = "si_received"
    MANIFESTED = "manifested"
    ARRIVED = "arrived"
    DISCHARGED = "discharged"
    PRE_CLEARANCE_OK = "pre_clearance_ok"
    DECLARED = "declared"
    UNDER_CONTROL = "under_control"
    RELEASED = "released"
    DELIVERY_ORDER_ISSUED = "delivery_order_issued"
    GATED_OUT = "gated_out"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ExportState(enum.Enum):
    BOOKED = "booked"
    SI_RECEIVED = "si_received"
    PRE_ARRIVAL_NOTIFIED = "pre_arrival_notified"
    GATED_IN = "gated_in"
    DECLARED = "declared"
    RELEASED_FOR_LOADING = "released_for_loading"
    LOADED = "loaded"
    DEPARTED = "departed"
    MANIFEST_CLOSED = "manifest_closed"
    CANCELLED = "cancelled"


class TranshipmentState(enum.Enum):
    MANIFESTED = "manifested"
    DISCHARGED = "discharged"
    TS_DECLARED = "ts_declared"
    LOADED = "loaded"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TransitState(enum.Enum):
    """Not in §3.4: goods discharged here under a transit procedure to an inland office."""

    MANIFESTED = "manifested"
    ARRIVED = "arrived"
    DISCHARGED = "discharged"
    DECLARED = "declared"
    RELEASED = "released"
    GATED_OUT = "gated_out"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ConsignmentState = ImportState | ExportState | TranshipmentState | TransitState


class EquipmentUseState(enum.Enum):
    ANNOUNCED = "announced"
    ON_BOARD_INBOUND = "on_board_inbound"
    DISCHARGED = "discharged"
    IN_YARD = "in_yard"
    INSPECTION = "inspection"
    RELEASED = "released"
    LOADED = "loaded"
    ON_BOARD_OUTBOUND = "on_board_outbound"
    GATED_OUT = "gated_out"
    CANCELLED = "cancelled"


class FormalityStatus(enum.Enum):
    """Status of a formality of a call (manifest, bayplan, declaration...). Set from the latest message of
    the formality, not ranked: a rejected amendment goes back to REJECTED."""

    EXPECTED = "expected"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    AMENDED = "amended"
    FINAL = "final"


class EventLike(Protocol):
    """What the lifecycles read from an event (`hub.dossier.model.Event` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def source_message_id(self) -> str | None: ...

    @property
    def retracts(self) -> Sequence[str]: ...

    @property
    def detail(self) -> Mapping[str, str]: ...


S = TypeVar("S", bound=enum.Enum)


def _type_of(event: str | EventLike) -> str:
    return event if isinstance(event, str) else event.type


def effective_events(events: Iterable[EventLike]) -> list[EventLike]:
    """The events that count: corrections and the events they retract removed, order kept."""
    seen = list(events)
    retracted = {r for e in seen if e.type == EventType.CORRECTED for r in e.retracts}
    if not retracted:
        return [e for e in seen if e.type != EventType.CORRECTED]
    return [e for e in seen
            if e.type != EventType.CORRECTED and e.id not in retracted
            and (e.source_message_id is None or e.source_message_id not in retracted)]


def active_holds(events: Iterable[EventLike]) -> list[str]:
    """References of the holds not lifted (sorted), among effective events."""
    return _holds_not_lifted(effective_events(events))


def _holds_not_lifted(effective: list[EventLike]) -> list[str]:
    held: set[str] = set()
    lifted: set[str] = set()
    lift_all = False
    for e in effective:
        if e.type == EventType.HOLD:
            held.add(e.detail.get("reference") or e.id)
        elif e.type == EventType.HOLD_LIFTED:
            ref = e.detail.get("reference")
            if ref:
                lifted.add(ref)
            else:
                lift_all = True
    return [] if lift_all else sorted(held - lifted)


@dataclasses.dataclass(frozen=True)
class Machine(Generic[S]):
    """One lifecycle: states in rank order (first = initial) and the state each event type proves."""

    name: str
    order: tuple[S, ...]
    targets: Mapping[str, S]
    hold: S | None = None
    hold_exempt: frozenset[S] = frozenset()
    ranks: Mapping[S, int] = dataclasses.field(init=False, repr=False, compare=False)
    # event type -> rank of its target: `progress` takes the highest, with no state compared per event
    target_ranks: Mapping[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranks", {s: i for i, s in enumerate(self.order)})
        unknown = [s for s in self.targets.values() if s not in self.ranks]
        if unknown:
            raise ValueError(f"{self.name}: targets outside the ranked states: {unknown}")
        object.__setattr__(self, "target_ranks", {str(t): self.ranks[s] for t, s in self.targets.items()})

    @property
    def initial(self) -> S:
        return self.order[0]

    @property
    def states(self) -> type[S]:
        return type(self.order[0])

    def rank(self, state: S) -> int:
        found = self.ranks.get(state)
        if found is None:
            raise ValueError(f"{self.name}: {state!r} has no rank (holds are derived from the event set)")
        return found

    def target(self, event: str | EventLike) -> S | None:
        """The state an event proves reached, or None if the event type moves nothing here."""
        return self.targets.get(_type_of(event))

    def advance(self, state: S, event: str | EventLike) -> S:
        """The higher-ranked of `state` and the event's target: never backwards (see the module rule)."""
        target = self.targets.get(_type_of(event))
        if target is None or self.rank(target) <= self.rank(state):
            self.rank(state)  # refuse an unranked input state even when nothing moves
            return state
        return target

    def progress(self, events: Iterable[EventLike]) -> S:
        """The furthest state reached by the effective events, holds ignored: what folding `advance`
        over them from the initial state gives (the highest rank wins), a busy call's hundred events
        looked at once each."""
        return self._highest(effective_events(events))

    def _highest(self, effective: list[EventLike]) -> S:
        best = 0
        target_ranks = self.target_ranks
        for e in effective:
            rank = target_ranks.get(e.type, 0)
            if rank > best:
                best = rank
        return self.order[best]

    def derive(self, events: Iterable[EventLike]) -> S:
        """The state of a dossier with these events: `progress`, or the hold state while a hold is active."""
        effective = effective_events(events)
        state = self._highest(effective)
        if self.hold is not None and state not in self.hold_exempt and _holds_not_lifted(effective):
            return self.hold
        return state


E = EventType

VESSEL_CALL: Machine[VesselCallState] = Machine(
    "vessel_call",
    tuple(s for s in VesselCallState if s is not VesselCallState.ON_HOLD),
    {
        E.ANNOUNCED: VesselCallState.ANNOUNCED,
        E.ETA: VesselCallState.ANNOUNCED,
        E.BERTHING_REQUESTED: VesselCallState.BERTH_REQUESTED,
        E.BERTH_ALLOCATED: VesselCallState.BERTH_ALLOCATED,
        E.ATA: VesselCallState.ARRIVED,
        E.BERTHED: VesselCallState.BERTHED,
        E.OPS_STARTED: VesselCallState.OPERATIONS,
        E.DISCHARGED: VesselCallState.OPERATIONS,
        E.LOADED: VesselCallState.OPERATIONS,
        E.OPS_COMPLETED: VesselCallState.OPERATIONS_COMPLETE,
        E.ATD: VesselCallState.DEPARTED,
        E.CLOSED: VesselCallState.CLOSED,
        E.DIVERTED: VesselCallState.DIVERTED,
        E.CANCELLED: VesselCallState.CANCELLED,
        E.ARCHIVED: VesselCallState.ARCHIVED,
    },
    hold=VesselCallState.ON_HOLD,
    hold_exempt=frozenset({VesselCallState.DEPARTED, VesselCallState.CLOSED, VesselCallState.DIVERTED,
                           VesselCallState.CANCELLED, VesselCallState.ARCHIVED}),
)

IMPORT: Machine[ImportState] = Machine(
    "import",
    tuple(ImportState),
    {
        E.BOOKED: ImportState.BOOKED,
        E.SI_RECEIVED: ImportState.SI_RECEIVED,
        E.MANIFESTED: ImportState.MANIFESTED,
        E.ATA: ImportState.ARRIVED,
        E.DISCHARGED: ImportState.DISCHARGED,
        E.PRE_CLEARED: ImportState.PRE_CLEARANCE_OK,
        E.DECLARED: ImportState.DECLARED,
        E.INSPECTION_ORDERED: ImportState.UNDER_CONTROL,
        E.RELEASED: ImportState.RELEASED,
        E.DELIVERY_ORDER_ISSUED: ImportState.DELIVERY_ORDER_ISSUED,
        E.GATED_OUT: ImportState.GATED_OUT,
        E.CLOSED: ImportState.CLOSED,
        E.CANCELLED: ImportState.CANCELLED,
    },
)

EXPORT: Machine[ExportState] = Machine(
    "export",
    tuple(ExportState),
    {
        E.BOOKED: ExportState.BOOKED,
        E.SI_RECEIVED: ExportState.SI_RECEIVED,
        E.PRE_ANNOUNCED: ExportState.PRE_ARRIVAL_NOTIFIED,
        E.VGM_RECEIVED: ExportState.PRE_ARRIVAL_NOTIFIED,
        E.GATED_IN: ExportState.GATED_IN,
        E.DECLARED: ExportState.DECLARED,
        E.RELEASED: ExportState.RELEASED_FOR_LOADING,
        E.LOADED: ExportState.LOADED,
        E.ATD: ExportState.DEPARTED,
        E.MANIFEST_CLOSED: ExportState.MANIFEST_CLOSED,
        E.CLOSED: ExportState.MANIFEST_CLOSED,
        E.CANCELLED: ExportState.CANCELLED,
    },
)

TRANSHIPMENT: Machine[TranshipmentState] = Machine(
    "transhipment",
    tuple(TranshipmentState),
    {
        E.MANIFESTED: TranshipmentState.MANIFESTED,
        E.DISCHARGED: TranshipmentState.DISCHARGED,
        E.TS_DECLARED: TranshipmentState.TS_DECLARED,
        E.DECLARED: TranshipmentState.TS_DECLARED,
        E.LOADED: TranshipmentState.LOADED,
        E.CLOSED: TranshipmentState.CLOSED,
        E.CANCELLED: TranshipmentState.CANCELLED,
    },
)

TRANSIT: Machine[TransitState] = Machine(
    "transit",
    tuple(TransitState),
    {
        E.MANIFESTED: TransitState.MANIFESTED,
        E.ATA: TransitState.ARRIVED,
        E.DISCHARGED: TransitState.DISCHARGED,
        E.DECLARED: TransitState.DECLARED,
        E.RELEASED: TransitState.RELEASED,
        E.GATED_OUT: TransitState.GATED_OUT,
        E.CLOSED: TransitState.CLOSED,
        E.CANCELLED: TransitState.CANCELLED,
    },
)

EQUIPMENT_USE: Machine[EquipmentUseState] = Machine(
    "equipment_use",
    tuple(EquipmentUseState),
    {
        E.ANNOUNCED: EquipmentUseState.ANNOUNCED,
        E.PRE_ANNOUNCED: EquipmentUseState.ANNOUNCED,
        E.BAYPLAN_RECEIVED: EquipmentUseState.ON_BOARD_INBOUND,  # listed on an arrival bayplan
        E.DISCHARGED: EquipmentUseState.DISCHARGED,
        E.GATED_IN: EquipmentUseState.IN_YARD,
        E.INSPECTION_ORDERED: EquipmentUseState.INSPECTION,
        E.RELEASED: EquipmentUseState.RELEASED,
        E.LOADED: EquipmentUseState.LOADED,
        E.ATD: EquipmentUseState.ON_BOARD_OUTBOUND,  # the vessel left with it on board
        E.GATED_OUT: EquipmentUseState.GATED_OUT,
        E.CANCELLED: EquipmentUseState.CANCELLED,
    },
)

del E

CONSIGNMENT_MACHINES: Mapping[Direction, Machine[Any]] = {
    Direction.IMPORT: IMPORT,
    Direction.EXPORT: EXPORT,
    Direction.TRANSHIPMENT: TRANSHIPMENT,
    Direction.TRANSIT: TRANSIT,
}

MACHINES: Mapping[type[enum.Enum], Machine[Any]] = {
    m.states: m for m in (VESSEL_CALL, IMPORT, EXPORT, TRANSHIPMENT, TRANSIT, EQUIPMENT_USE)
}


def consignment_machine(direction: Direction) -> Machine[Any]:
    return CONSIGNMENT_MACHINES[direction]


def consignment_state(direction: Direction, value: str) -> ConsignmentState:
    """The consignment state named `value` in the lifecycle of `direction` (ValueError if it has none)."""
    state: ConsignmentState = consignment_machine(direction).states(value)
    return state


def machine_of(state: enum.Enum) -> Machine[Any]:
    """The lifecycle a state belongs to."""
    found = MACHINES.get(type(state))
    if found is None:
        raise ValueError(f"{state!r} belongs to no lifecycle")
    return found


def advance(state: S, event: str | EventLike) -> S:
    """The state after `event`, in the lifecycle `state` belongs to; never backwards (module rule)."""
    result: S = machine_of(state).advance(state, event)
    return result
