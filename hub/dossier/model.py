"""The canonical dossier model (port-community.md §3): vessel calls, consignments, equipment, and what
ties them to the messages they came from.

Three document roots, each a `Record` with exact `to_dict()` / `from_dict()`:

- `VesselCall`: one ship's visit to one port, with its bayplans (stowage records keyed by cell) and
  formalities;
- `ConsignmentDossier`: one transport document (master B/L with its house B/Ls, or a booking before the
  B/L exists), with parties, route, legs, goods, procedures, inspections and releases;
- `Equipment`: one container, shared by calls and consignments through its uses and movements.

Provenance. Each root keeps `provenance`: field path -> id of the `SourceMessage` that set the value.
A path names attributes with dots and list items by their natural key in brackets:
`eta`, `vessel.imo`, `parties[CN].name`, `bayplans[<bayplan id>]`, `procedures[customs_declaration:123]`.
Recording a path covers everything beneath it (recording `bayplans[B1]` once answers for every stowage
record of that bayplan) and clears the more specific entries beneath it; `source_of(path)` returns the
entry of the longest recorded prefix. Items that carry their own `source` / `source_message_id` field
(formalities, bayplans, procedures, releases, movements, events) say it themselves as well.

Times from messages are `Stamp`s (UTC + original text + 2379 format). Times the hub makes itself
(`received_at`, `recorded_at`) are ISO 8601 UTC strings.

No I/O here.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any, ClassVar

from hub.dossier.keys import KeyType, Stamp
from hub.dossier.lifecycle import (
    EQUIPMENT_USE,
    VESSEL_CALL,
    ConsignmentState,
    Direction,
    EquipmentUseState,
    FormalityStatus,
    VesselCallState,
    consignment_machine,
    consignment_state,
)
from hub.dossier.record import DossierFormatError, Record

__all__ = [
    "Bayplan", "BayplanScope", "BayplanStage", "ConsignmentDossier", "CorrelationKey", "DangerousGoods",
    "Discrepancy", "DiscrepancySeverity", "DiscrepancyStatus", "DiscrepancyType", "DossierKind", "Equipment",
    "EquipmentSplit", "EquipmentUse", "Event", "Formality", "FullEmpty", "GoodsItem", "Inspection", "Leg",
    "Location", "Movement", "Party", "Procedure", "Provenanced", "Release", "Route", "Seal", "SourceMessage",
    "Stamp", "StowageRecord", "Temperature", "Vessel", "VesselCall", "discrepancy_id", "dossier_from_dict",
    "parent_path", "path", "quote_key", "stable_id",
]


# -- vocabularies ----------------------------------------------------------------------------------------


class DossierKind(enum.Enum):
    VESSEL_CALL = "vessel_call"
    CONSIGNMENT = "consignment"
    EQUIPMENT = "equipment"


class BayplanStage(enum.Enum):
    ARRIVAL = "arrival"
    DEPARTURE = "departure"


class BayplanScope(enum.Enum):
    FULL = "full"  # BAPLIE 2.x, BAPLIE 3 BGM 658: replaces the previous full bayplan of the call and stage
    PARTIAL = "partial"  # BAPLIE 3 BGM 659: merges by cell


class FullEmpty(enum.Enum):
    FULL = "full"  # EQD 8169 = 5
    EMPTY = "empty"  # EQD 8169 = 4


class DiscrepancyStatus(enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"


class DiscrepancySeverity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class DiscrepancyType(enum.StrEnum):
    """Known discrepancy types. `Discrepancy.type` is open: correlation may add others."""

    CONTAINER_NOT_MANIFESTED = "container_not_manifested"  # in a bayplan, in no manifest
    CONTAINER_NOT_IN_BAYPLAN = "container_not_in_bayplan"  # manifested, in no bayplan
    WEIGHT_MISMATCH = "weight_mismatch"
    VGM_MISMATCH = "vgm_mismatch"
    POD_MISMATCH = "pod_mismatch"
    POL_MISMATCH = "pol_mismatch"
    UNKNOWN_BL_IN_RELEASE = "unknown_bl_in_release"
    UNKNOWN_CONTAINER_IN_RELEASE = "unknown_container_in_release"
    DUPLICATE_CONTAINER = "duplicate_container"  # the same container in two cells of one bayplan
    INVALID_CONTAINER_NUMBER = "invalid_container_number"
    INVALID_IMO = "invalid_imo"
    INVALID_LOCODE = "invalid_locode"
    UNREADABLE_DATE = "unreadable_date"
    CONFLICTING_VALUE = "conflicting_value"  # two messages disagree on a field
    AMBIGUOUS_MATCH = "ambiguous_match"  # a message could belong to several dossiers


# -- provenance paths -------------------------------------------------------------------------------------


def quote_key(key: object) -> str:
    """A natural key as it appears between brackets in a path ('[' ']' '%' percent-encoded)."""
    return str(key).replace("%", "%25").replace("[", "%5B").replace("]", "%5D")


def path(*parts: str | tuple[str, object]) -> str:
    """A provenance path from attribute names and (name, key) pairs:
    path(('parties', 'CN'), 'name') -> 'parties[CN].name'; path('vessel', 'imo') -> 'vessel.imo'."""
    out = []
    for part in parts:
        if isinstance(part, tuple):
            name, key = part
            out.append(f"{name}[{quote_key(key)}]")
        else:
            out.append(part)
    return ".".join(out)


def parent_path(p: str) -> str | None:
    """The path one level up ('parties[CN].name' -> 'parties[CN]' -> 'parties'), None at the top."""
    if p.endswith("]"):
        i = p.rfind("[")
        return p[:i] if i > 0 else None
    i = p.rfind(".")
    return p[:i] if i > 0 else None


class Provenanced:
    """Mixin for the dossier roots: which message set which field (see the module docstring)."""

    __slots__ = ()
    provenance: dict[str, str]

    def record_source(self, field_path: str, message_id: str) -> None:
        """Note that `message_id` set the value at `field_path` (and everything beneath it)."""
        below = (field_path + ".", field_path + "[")
        for p in [p for p in self.provenance if p.startswith(below)]:
            del self.provenance[p]
        self.provenance[field_path] = message_id

    def source_of(self, field_path: str) -> str | None:
        """The message that set the value at `field_path`: the entry of its longest recorded prefix."""
        p: str | None = field_path
        while p is not None:
            found = self.provenance.get(p)
            if found is not None:
                return found
            p = parent_path(p)
        return None


# -- stable ids -------------------------------------------------------------------------------------------


def stable_id(prefix: str, *parts: str | None) -> str:
    """An id computed from what identifies a thing, never from when it was seen: the same message gives
    the same event, bayplan or discrepancy ids whatever the ingestion order ('ev-' + 20 hex digits)."""
    text = "\x1f".join("\x00" if p is None else p for p in parts)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def discrepancy_id(type_: str, keys: Mapping[str, str]) -> str:
    """The id of a discrepancy of this type about these keys (key order does not matter)."""
    return stable_id("dsc", type_, *(f"{k}={keys[k]}" for k in sorted(keys)))


# -- value objects -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Location(Record):
    """A place: a UN/LOCODE with its role, and a terminal or other sub-location.

    Fields:
    locode: UN/LOCODE, normalised (upper case, no spaces); kept even when its shape is wrong.
    qualifier: the role, as the LOC 3227 code received ('9' port of loading, '11' discharge, ...).
    name: the place name as received.
    terminal: terminal, berth, yard or customs-office code below the LOCODE (LOC C519).
    """

    locode: str | None = None
    qualifier: str | None = None
    name: str | None = None
    terminal: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Temperature(Record):
    """A temperature setting (reefer) or flashpoint.

    Fields:
    value: the setting; null when only a range is given.
    unit: 'CEL' or 'FAH' as received.
    min: lower bound of the allowed range (RNG).
    max: upper bound of the allowed range (RNG).
    """

    value: float | None
    unit: str = "CEL"
    min: float | None = None
    max: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DangerousGoods(Record):
    """One dangerous-goods entry (DGS).

    Fields:
    un_number: 4-digit UN number.
    imdg_class: IMDG class, e.g. '3' or '2.1'.
    packing_group: I, II or III (or the code received).
    proper_shipping_name: FTX+AAD.
    flashpoint: DGS flashpoint.
    """

    un_number: str | None = None
    imdg_class: str | None = None
    packing_group: str | None = None
    proper_shipping_name: str | None = None
    flashpoint: Temperature | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Seal(Record):
    """A seal number and who applied it (SEL 9303: CA carrier, SH shipper, CU customs)."""

    number: str
    issuer: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Vessel(Record):
    """A ship, as identified by the messages.

    Fields:
    imo: IMO number, 7 digits (kept even with a wrong check digit: see imo_valid).
    imo_valid: whether the IMO check digit holds; null when there is no IMO number.
    mmsi: 9-digit MMSI.
    call_sign: radio call sign, upper case.
    name: vessel name, upper case.
    flag: ISO 3166 alpha-2 nationality.
    """

    imo: str | None = None
    imo_valid: bool | None = None
    mmsi: str | None = None
    call_sign: str | None = None
    name: str | None = None
    flag: str | None = None


@dataclasses.dataclass(slots=True)
class Party(Record):
    """A party in a role (NAD 3035 code: CZ consignor, CN consignee, N1 notify, FW forwarder, CA carrier,
    DT declarant, IM importer, EX exporter, CB customs broker, ...).

    Fields:
    role: NAD 3035 code.
    id: identifier in `scheme`.
    scheme: who issued `id` (SCAC, SMDG, BIC, ICE, EORI, a 3055 agency code...).
    address: street lines, in order.
    country: ISO 3166 alpha-2.
    """

    role: str
    id: str | None = None
    scheme: str | None = None
    name: str | None = None
    address: list[str] = field(default_factory=list)
    city: str | None = None
    postcode: str | None = None
    country: str | None = None

    def key(self) -> str:
        return self.role


# -- sources, keys, events, discrepancies -----------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class SourceMessage(Record):
    """One received message: what provenance entries point to.

    Fields:
    message_id: the hub's id for the message; the target of every provenance entry.
    channel: sftp, amqp, http, folder or portal.
    interchange_ref: UNB 0020 (EDIFACT) or the envelope id (XML).
    message_ref: UNH 0062.
    message_type: CUSCAR, BAPLIE, ... or the XML document type.
    directory: UN/EDIFACT directory, e.g. D95B.
    guide: implementation guide / association code, e.g. SMDG22.
    document_number: BGM 1004 (or the XML document number).
    function: BGM 1225 code (9 original, 5 replace, 4 change, 1 cancellation, 3 deletion, 22 final).
    issued_at: the document's own date (DTM+137, else UNB date): orders versions independently of
        arrival.
    received_at: when the hub stored it (ISO 8601 UTC).
    sha256: hex digest of the raw bytes.
    """

    message_id: str
    channel: str | None = None
    sender: str | None = None
    recipient: str | None = None
    interchange_ref: str | None = None
    message_ref: str | None = None
    message_type: str | None = None
    directory: str | None = None
    guide: str | None = None
    document_number: str | None = None
    function: str | None = None
    issued_at: Stamp | None = None
    received_at: str | None = None
    file_name: str | None = None
    sha256: str | None = None

    def precedence(self) -> tuple[str, str, str]:
        """Sort key deciding which of two messages supersedes the other: the later document date, then
        the content digest. Never the arrival time, so ingestion order changes nothing."""
        issued = self.issued_at.utc if self.issued_at is not None and self.issued_at.utc else ""
        return issued, self.sha256 or "", self.message_id


@dataclasses.dataclass(slots=True)
class CorrelationKey(Record):
    """One entry of the correlation index: a key seen in a message, attached to a dossier.

    Fields:
    value: normalised (hub.dossier.keys.normalise_key).
    raw: as received.
    scope: what the key is unique within, e.g. the carrier for a B/L, the port for a call ref.
    message_id: the message the key was seen in.
    """

    key_type: KeyType
    value: str
    raw: str
    dossier_kind: DossierKind
    dossier_id: str
    message_id: str
    scope: str | None = None


@dataclasses.dataclass(slots=True)
class Event(Record):
    """One entry of a dossier's timeline.

    Fields:
    id: stable id of the event (the same message always gives the same id).
    type: an EventType value, or another type kept for the timeline only.
    time: when it happened, per the message.
    recorded_at: when the hub recorded it (ISO 8601 UTC).
    source_message_id: the message that reported it.
    detail: free key/value detail (e.g. 'reference' of a hold, 'call_id' of an equipment event).
    retracts: for a 'corrected' event, the event ids and message ids it withdraws.
    """

    id: str
    dossier_id: str
    type: str
    time: Stamp | None = None
    recorded_at: str | None = None
    source_message_id: str | None = None
    detail: dict[str, str] = field(default_factory=dict)
    retracts: list[str] = field(default_factory=list)

    def key(self) -> str:
        return self.id

    def sort_key(self) -> tuple[str, str, str]:
        return _stamp_key(self.time), self.type, self.id


@dataclasses.dataclass(slots=True)
class Discrepancy(Record):
    """Something the messages disagree on, for a person to look at.

    Fields:
    id: stable id (type + keys), so finding the same problem twice gives one discrepancy.
    type: a DiscrepancyType value or another type.
    detail: a sentence an operator can act on.
    keys: the keys concerned, key type -> normalised value (e.g. container, bl, call).
    message_ids: the messages that disagree.
    """

    id: str
    type: str
    severity: DiscrepancySeverity = DiscrepancySeverity.WARNING
    status: DiscrepancyStatus = DiscrepancyStatus.OPEN
    detail: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)

    def key(self) -> str:
        return self.id


# -- vessel call --------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Formality(Record):
    """A formality of a call: berthing request, FAL declarations, cargo manifests, DG manifest, waste,
    security, health (kind is open: berthing_request, general_declaration, import_manifest,
    export_manifest, transhipment_manifest, dg_manifest, waste_notification, security, crew_list,
    passenger_list, health_declaration, free_pratique, ...).

    Fields:
    source: the message that last set it.
    """

    kind: str
    reference: str | None = None
    status: FormalityStatus = FormalityStatus.RECEIVED
    source: str | None = None

    def key(self) -> str:
        return f"{self.kind}:{self.reference or ''}"


@dataclasses.dataclass(slots=True)
class StowageRecord(Record):
    """One occupied cell of a bayplan (one BAPLIE stowage record).

    Fields:
    cell: stowage location BBBRRTT (ISO), as received.
    equipment_number: normalised equipment number (kept when invalid).
    size_type: ISO 6346 size-type code (22G1, 45R1...).
    pol: port of loading (LOCODE).
    pod: port of discharge (LOCODE).
    final_pod: final port of discharge / place of delivery (LOC 65 / 83).
    transhipment_port: LOC 13.
    gross_weight: kg.
    vgm: verified gross mass, kg.
    carrier: container operator / carrier code (NAD CA / CF).
    bl: B/L number, normalised; null when the sender put the dummy '1'.
    booking: booking number, normalised; null for the dummy '1'.
    handling: handling instruction codes (HAN / FTX+HAN).
    """

    cell: str
    equipment_number: str | None = None
    size_type: str | None = None
    pol: str | None = None
    pod: str | None = None
    final_pod: str | None = None
    transhipment_port: str | None = None
    gross_weight: float | None = None
    vgm: float | None = None
    temperature: Temperature | None = None
    dg: list[DangerousGoods] = field(default_factory=list)
    carrier: str | None = None
    bl: str | None = None
    booking: str | None = None
    full_empty: FullEmpty | None = None
    handling: list[str] = field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Bayplan(Record):
    """One BAPLIE version for a call.

    Fields:
    id: stable id of this version.
    source_message_id: the BAPLIE it comes from; the provenance of all its records.
    scope: full (replaces the previous full bayplan of the same call and stage) or partial (merges by cell).
    function: BGM 1225 code.
    issued_at: document date (DTM+137).
    records: stowage records by cell; a list per cell, since SMDG allows two half-height units or
        unbundled flats in one cell.
    """

    id: str
    source_message_id: str
    stage: BayplanStage = BayplanStage.ARRIVAL
    scope: BayplanScope = BayplanScope.FULL
    function: str | None = None
    issued_at: Stamp | None = None
    records: dict[str, list[StowageRecord]] = field(default_factory=dict)

    def key(self) -> str:
        return self.id

    def add(self, record: StowageRecord) -> None:
        self.records.setdefault(record.cell, []).append(record)

    def equipment_numbers(self) -> list[str]:
        """The equipment numbers on the bayplan, sorted, each once."""
        return sorted({r.equipment_number for rs in self.records.values() for r in rs
                       if r.equipment_number})


@dataclasses.dataclass(slots=True)
class VesselCall(Record, Provenanced):
    """Dossier root #1: one ship's visit to one port.

    Fields:
    id: hub id of the call.
    status: lifecycle state (derived from events: refresh_status).
    port: UN/LOCODE of the port called at.
    terminal: SMDG terminal code.
    port_call_ref: port authority's reference for the stay (RFF+ATZ, PortNet escale number).
    operator: carrier / vessel operator code.
    agent: the ship's agent.
    service: liner service code.
    voyage_in: discharge voyage (TDT 8028).
    voyage_out: loading voyage (RFF+VON).
    voyage_aliases: every normalised voyage the call is known by, sorted.
    eta: DTM+132.
    etd: DTM+133.
    ata: DTM+178.
    atd: DTM+186 / 136.
    ops_start: first lift.
    ops_end: last lift.
    sources: ids of the messages that contributed, sorted.
    provenance: field path -> message id (see the model's documentation).
    """

    document_kind: ClassVar[str | None] = DossierKind.VESSEL_CALL.value

    id: str
    status: VesselCallState = VesselCallState.ANNOUNCED
    port: str | None = None
    terminal: str | None = None
    berth: str | None = None
    port_call_ref: str | None = None
    vessel: Vessel = field(default_factory=Vessel)
    operator: str | None = None
    agent: Party | None = None
    service: str | None = None
    voyage_in: str | None = None
    voyage_out: str | None = None
    voyage_aliases: list[str] = field(default_factory=list)
    previous_port: Location | None = None
    next_port: Location | None = None
    eta: Stamp | None = None
    etd: Stamp | None = None
    ata: Stamp | None = None
    atd: Stamp | None = None
    berthing_requested_at: Stamp | None = None
    ops_start: Stamp | None = None
    ops_end: Stamp | None = None
    formalities: list[Formality] = field(default_factory=list)
    bayplans: list[Bayplan] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)

    def refresh_status(self) -> VesselCallState:
        """Set `status` from the events (hub.dossier.lifecycle) and return it."""
        self.status = VESSEL_CALL.derive(self.events)
        return self.status

    def canonicalise(self) -> None:
        """Sort every collection by its natural key, so equal content gives equal documents whatever the
        order the messages were applied in."""
        self.voyage_aliases = sorted(set(self.voyage_aliases))
        self.formalities.sort(key=Formality.key)
        self.bayplans.sort(key=lambda b: (b.stage.value, _stamp_key(b.issued_at), b.id))
        for b in self.bayplans:
            cells = list(b.records)
            ordered = sorted(cells)
            if cells != ordered:  # already in order: keep the dict (an encoded copy may be reused)
                b.records = {cell: b.records[cell] for cell in ordered}
        _canonicalise_common(self)


# -- consignment --------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Route(Record):
    """Where the goods go.

    Fields:
    place_of_receipt: LOC 88.
    pol: port of loading, LOC 9.
    pod: port of discharge, LOC 11.
    place_of_delivery: LOC 7 / 83.
    original_pol: LOC 76.
    transhipment_ports: LOC 13, in route order.
    """

    place_of_receipt: Location | None = None
    pol: Location | None = None
    pod: Location | None = None
    place_of_delivery: Location | None = None
    original_pol: Location | None = None
    transhipment_ports: list[Location] = field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Leg(Record):
    """One carriage of the consignment (TDT).

    Fields:
    stage: TDT 8051: 10 pre-carriage, 20 main carriage, 30 on-carriage.
    mode: TDT 8067: 1 maritime, 2 rail, 3 road, 8 inland water.
    call_id: the VesselCall this leg is carried on, once correlated.
    """

    stage: str = "20"
    mode: str | None = None
    carrier: str | None = None
    vessel: Vessel | None = None
    voyage: str | None = None
    call_id: str | None = None

    def key(self) -> str:
        return f"{self.stage}:{self.voyage or ''}:{self.call_id or ''}"


@dataclasses.dataclass(slots=True)
class EquipmentSplit(Record):
    """The part of a goods item in one container (SGP)."""

    equipment_number: str
    packages: int | None = None
    gross_weight: float | None = None


@dataclasses.dataclass(slots=True)
class GoodsItem(Record):
    """One goods item (GID).

    Fields:
    packages: number of packages.
    package_type: UN/ECE Rec. 21 code.
    description: FTX+AAA.
    hs_code: HS / tariff code (PIA, CST).
    gross_weight: kg.
    net_weight: kg.
    volume: cubic metres.
    marks: marks and numbers (PCI), one per line.
    """

    item_no: int
    packages: int | None = None
    package_type: str | None = None
    description: str | None = None
    hs_code: str | None = None
    gross_weight: float | None = None
    net_weight: float | None = None
    volume: float | None = None
    marks: list[str] = field(default_factory=list)
    dg: list[DangerousGoods] = field(default_factory=list)
    equipment_split: list[EquipmentSplit] = field(default_factory=list)

    def key(self) -> str:
        return str(self.item_no)


@dataclasses.dataclass(slots=True)
class Procedure(Record):
    """A regulatory procedure: customs_declaration, import_licence, import_pre_clearance,
    conformity_certificate, sps_certificate, health_control, other_agency_permit, ... (kind is open).

    Fields:
    reference: the authority's reference (declaration number, certificate number...).
    authority: who handles it (customs, ONSSA, ...).
    status: as the authority states it (lodged, accepted, rejected, under_control, released, ...).
    decision: the decision text or code.
    source: the message that last set it.
    detail: other facts (office, declaration type, validity...).
    """

    kind: str
    reference: str | None = None
    authority: str | None = None
    status: str | None = None
    decision: str | None = None
    lodged_at: Stamp | None = None
    decided_at: Stamp | None = None
    source: str | None = None
    detail: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        return f"{self.kind}:{self.reference or ''}"


@dataclasses.dataclass(slots=True)
class Inspection(Record):
    """A control: documentary, scanner, physical, joint, health (kind is open).

    Fields:
    authority: who ordered it.
    equipment: containers concerned.
    result: outcome as stated.
    """

    kind: str
    reference: str | None = None
    authority: str | None = None
    scheduled_at: Stamp | None = None
    completed_at: Stamp | None = None
    result: str | None = None
    equipment: list[str] = field(default_factory=list)
    source: str | None = None

    def key(self) -> str:
        return f"{self.kind}:{self.reference or ''}"


@dataclasses.dataclass(slots=True)
class Release(Record):
    """A release: customs, carrier (commercial), terminal, delivery_order (e-BAD), agency (kind is open).

    Fields:
    equipment: containers released, when the release names them.
    """

    kind: str
    reference: str | None = None
    released_at: Stamp | None = None
    equipment: list[str] = field(default_factory=list)
    source: str | None = None

    def key(self) -> str:
        return f"{self.kind}:{self.reference or ''}"


@dataclasses.dataclass(slots=True)
class ConsignmentDossier(Record, Provenanced):
    """Dossier root #2: one transport document (master B/L and its house B/Ls, or a booking).

    Fields:
    status: lifecycle state of the dossier's direction; null while the direction is unknown.
    direction: import, export, transhipment or transit.
    master_bl: normalised master B/L.
    house_bls: normalised house B/Ls, sorted.
    transport_document_type: B/L, sea waybill, ...
    equipment: numbers of the containers carrying the goods, sorted.
    call_id: the VesselCall of the main carriage at this port.
    provenance: field path -> message id (see the model's documentation).
    """

    document_kind: ClassVar[str | None] = DossierKind.CONSIGNMENT.value

    id: str
    status: ConsignmentState | None = None
    direction: Direction | None = None
    master_bl: str | None = None
    house_bls: list[str] = field(default_factory=list)
    booking: str | None = None
    ucr: str | None = None
    carrier: str | None = None
    transport_document_type: str | None = None
    parties: list[Party] = field(default_factory=list)
    route: Route = field(default_factory=Route)
    legs: list[Leg] = field(default_factory=list)
    goods_items: list[GoodsItem] = field(default_factory=list)
    equipment: list[str] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    inspections: list[Inspection] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    call_id: str | None = None
    events: list[Event] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)

    @classmethod
    def _post_decode(cls, values: dict[str, Any], path: str) -> None:
        status, direction = values.get("status"), values.get("direction")
        if status is None:
            return
        if direction is None:
            raise DossierFormatError(f"{path}.status: a status needs a direction")
        try:
            values["status"] = consignment_state(direction, status.value)
        except ValueError:
            raise DossierFormatError(f"{path}.status: {status.value!r} is not a state of a "
                                     f"{direction.value} consignment") from None

    def party(self, role: str) -> Party | None:
        return next((p for p in self.parties if p.role == role), None)

    def refresh_status(self) -> ConsignmentState | None:
        """Set `status` from the direction and the events (hub.dossier.lifecycle) and return it."""
        if self.direction is None:
            self.status = None
        else:
            self.status = consignment_machine(self.direction).derive(self.events)
        return self.status

    def canonicalise(self) -> None:
        """Sort every collection by its natural key (see VesselCall.canonicalise)."""
        self.house_bls = sorted(set(self.house_bls))
        self.equipment = sorted(set(self.equipment))
        self.parties.sort(key=lambda p: (p.role, p.id or "", p.name or ""))
        self.legs.sort(key=Leg.key)
        self.goods_items.sort(key=lambda g: g.item_no)
        self.procedures.sort(key=lambda p: (p.key(), _stamp_key(p.lodged_at)))
        self.inspections.sort(key=lambda i: (i.key(), _stamp_key(i.scheduled_at)))
        self.releases.sort(key=lambda r: (r.key(), _stamp_key(r.released_at)))
        _canonicalise_common(self)


# -- equipment ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class EquipmentUse(Record):
    """A container's part in one consignment and/or one call.

    Fields:
    status: lifecycle state of the use, derived from the equipment's events (Equipment.refresh_status).
    vgm: verified gross mass, kg.
    """

    consignment_id: str | None = None
    call_id: str | None = None
    full_empty: FullEmpty | None = None
    seals: list[Seal] = field(default_factory=list)
    vgm: float | None = None
    temperature: Temperature | None = None
    status: EquipmentUseState = EquipmentUseState.ANNOUNCED

    def key(self) -> str:
        return f"{self.call_id or ''}/{self.consignment_id or ''}"

    def concerns(self, event: Event) -> bool:
        """True when the event's detail names no other call or consignment than this use's."""
        call, consignment = event.detail.get("call_id"), event.detail.get("consignment_id")
        return ((call is None or call == self.call_id)
                and (consignment is None or consignment == self.consignment_id))


@dataclasses.dataclass(slots=True)
class Movement(Record):
    """A physical move: discharge, load, gate_in, gate_out, restow, shift, inspection_move (kind is open).

    Fields:
    location: where (port LOCODE + terminal / yard).
    call_id: the call, for discharge and load.
    cell: stowage cell, for discharge and load.
    source: the message that reported it (COARRI, CODECO...).
    """

    kind: str
    time: Stamp | None = None
    location: Location | None = None
    call_id: str | None = None
    cell: str | None = None
    source: str | None = None

    def key(self) -> str:
        return f"{_stamp_key(self.time)}:{self.kind}:{self.source or ''}"


@dataclasses.dataclass(slots=True)
class Equipment(Record, Provenanced):
    """A container (or other equipment), shared by calls and consignments.

    Fields:
    number: normalised equipment number (kept when invalid).
    raw: the number as first received.
    check_digit_valid: whether it is a valid ISO 6346 number.
    size_type: ISO 6346 size-type code.
    operator: container operator code.
    tare: kg.
    reefer: true for a refrigerated unit.
    provenance: field path -> message id (see the model's documentation).
    """

    document_kind: ClassVar[str | None] = DossierKind.EQUIPMENT.value

    number: str
    raw: str | None = None
    check_digit_valid: bool = False
    size_type: str | None = None
    operator: str | None = None
    tare: float | None = None
    reefer: bool | None = None
    uses: list[EquipmentUse] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)

    def use(self, call_id: str | None = None, consignment_id: str | None = None) -> EquipmentUse:
        """The use for this call and consignment, created if there is none yet."""
        for u in self.uses:
            if u.call_id == call_id and u.consignment_id == consignment_id:
                return u
        u = EquipmentUse(consignment_id=consignment_id, call_id=call_id)
        self.uses.append(u)
        return u

    def refresh_status(self) -> None:
        """Set each use's status from the events that concern it (EquipmentUse.concerns)."""
        for u in self.uses:
            u.status = EQUIPMENT_USE.derive(e for e in self.events if u.concerns(e))

    def canonicalise(self) -> None:
        """Sort every collection by its natural key (see VesselCall.canonicalise)."""
        self.uses.sort(key=EquipmentUse.key)
        for u in self.uses:
            u.seals.sort(key=lambda s: (s.number, s.issuer or ""))
        self.movements.sort(key=Movement.key)
        _canonicalise_common(self)


# -- helpers ------------------------------------------------------------------------------------------------


def _stamp_key(stamp: Stamp | None) -> str:
    return (stamp.utc or stamp.original) if stamp is not None else ""


def _canonicalise_common(dossier: VesselCall | ConsignmentDossier | Equipment) -> None:
    dossier.events.sort(key=Event.sort_key)
    dossier.discrepancies.sort(key=Discrepancy.key)
    dossier.sources = sorted(set(dossier.sources))
    dossier.provenance = {p: dossier.provenance[p] for p in sorted(dossier.provenance)}


DOSSIER_CLASSES: dict[str, type[VesselCall] | type[ConsignmentDossier] | type[Equipment]] = {
    DossierKind.VESSEL_CALL.value: VesselCall,
    DossierKind.CONSIGNMENT.value: ConsignmentDossier,
    DossierKind.EQUIPMENT.value: Equipment,
}


def dossier_from_dict(data: dict[str, Any]) -> VesselCall | ConsignmentDossier | Equipment:
    """Read any dossier document, choosing the class by its "kind"."""
    cls = DOSSIER_CLASSES.get(str(data.get("kind")))
    if cls is None:
        raise DossierFormatError(f"kind {data.get('kind')!r} is not one of {', '.join(DOSSIER_CLASSES)}")
    return cls.from_dict(data)


def all_record_classes() -> Iterable[type[Record]]:
    """Every record class of the model, roots first (for the schema and the tests)."""
    return (VesselCall, ConsignmentDossier, Equipment, Vessel, Location, Party, Formality, Bayplan,
            StowageRecord, Temperature, DangerousGoods, Route, Leg, GoodsItem, EquipmentSplit, Procedure,
            Inspection, Release, EquipmentUse, Seal, Movement, SourceMessage, CorrelationKey, Event,
            Discrepancy, Stamp)
