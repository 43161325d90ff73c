"""The vocabulary mappings write into: the *mapped message*, one JSON-like document per message.

A mapping spec may only name fields listed here, so a typo in a spec is refused when it is loaded
rather than silently producing an empty field. The correlation stage (`hub.dossier.correlate`) turns a
mapped message into dossier updates; this file is the contract between the two.

A name ending in `[]` is a list of records (`stowage[]`) or of values (`house_bls[]`); `each` rules fill
record lists, one record per segment group instance or XML element.
"""

from __future__ import annotations

from typing import Any

TEXT, NUMBER, STAMP, FLAG = "text", "number", "stamp", "flag"

_PARTY: dict[str, Any] = {"role": TEXT, "id": TEXT, "scheme": TEXT, "name": TEXT, "street": TEXT,
                          "city": TEXT, "postcode": TEXT, "country": TEXT}
_DG: dict[str, Any] = {"un_number": TEXT, "imdg_class": TEXT, "packing_group": TEXT,
                       "proper_shipping_name": TEXT, "flashpoint": NUMBER}
_EQUIPMENT: dict[str, Any] = {
    "number": TEXT, "size_type": TEXT, "full_empty": TEXT, "status": TEXT, "supplier": TEXT,
    "seals[]": TEXT, "vgm": NUMBER, "gross_weight": NUMBER, "tare": NUMBER, "temperature": NUMBER,
    "temperature_unit": TEXT, "operator": TEXT, "booking": TEXT, "bl": TEXT, "pol": TEXT, "pod": TEXT,
    "movement": TEXT, "movement_time": STAMP, "location": TEXT, "cell": TEXT, "dg[]": _DG,
}
_GOODS: dict[str, Any] = {
    "item_no": TEXT, "packages": NUMBER, "package_type": TEXT, "description": TEXT, "hs_code": TEXT,
    "gross_weight": NUMBER, "net_weight": NUMBER, "volume": NUMBER, "marks": TEXT, "dg[]": _DG,
    "equipment[]": TEXT,
}
_PROCEDURE: dict[str, Any] = {"kind": TEXT, "reference": TEXT, "authority": TEXT, "status": TEXT,
                              "decision": TEXT, "lodged_at": STAMP, "decided_at": STAMP, "office": TEXT}
_RELEASE: dict[str, Any] = {"kind": TEXT, "reference": TEXT, "released_at": STAMP, "bl": TEXT,
                            "container": TEXT}
_CONSIGNMENT: dict[str, Any] = {
    "master_bl": TEXT, "house_bls[]": TEXT, "booking": TEXT, "ucr": TEXT, "carrier": TEXT,
    "direction": TEXT, "transport_document_type": TEXT, "customs_ref": TEXT,
    "place_of_receipt": TEXT, "pol": TEXT, "pod": TEXT, "place_of_delivery": TEXT,
    "transhipment_port": TEXT, "gross_weight": NUMBER, "packages": NUMBER,
    "parties[]": _PARTY, "goods[]": _GOODS, "equipment[]": _EQUIPMENT, "procedures[]": _PROCEDURE,
    "releases[]": _RELEASE,
}

TARGETS: dict[str, Any] = {
    "message": {"number": TEXT, "function": TEXT, "date": STAMP, "kind": TEXT, "status": TEXT,
                "reference": TEXT, "response_to": TEXT, "sender": TEXT, "recipient": TEXT},
    "call": {
        "vessel_imo": TEXT, "vessel_name": TEXT, "vessel_call_sign": TEXT, "vessel_id": TEXT,
        "vessel_id_scheme": TEXT, "vessel_flag": TEXT, "port": TEXT, "terminal": TEXT, "berth": TEXT,
        "port_call_ref": TEXT, "voyage_in": TEXT, "voyage_out": TEXT, "operator": TEXT, "agent": TEXT,
        "previous_port": TEXT, "next_port": TEXT, "eta": STAMP, "etd": STAMP, "ata": STAMP, "atd": STAMP,
        "ops_start": STAMP, "ops_end": STAMP, "draught": NUMBER, "length_overall": NUMBER, "service": TEXT,
    },
    "bayplan": {"stage": TEXT, "full": FLAG},
    "stowage[]": {
        "cell": TEXT, "equipment": TEXT, "size_type": TEXT, "pol": TEXT, "pod": TEXT, "final_pod": TEXT,
        "transhipment_port": TEXT, "gross_weight": NUMBER, "vgm": NUMBER, "temperature": NUMBER,
        "temperature_unit": TEXT, "carrier": TEXT, "bl": TEXT, "booking": TEXT, "full_empty": TEXT,
        "handling": TEXT, "dg[]": _DG,
    },
    "consignments[]": _CONSIGNMENT,
    "equipment[]": _EQUIPMENT,
    "procedures[]": {**_PROCEDURE, "bl": TEXT, "container": TEXT},
    "releases[]": _RELEASE,
    "formalities[]": {"kind": TEXT, "reference": TEXT, "status": TEXT},
    "events[]": {"type": TEXT, "time": STAMP, "detail": TEXT},
    "discrepancies[]": {"type": TEXT, "detail": TEXT},
}


def lookup(path: str, root: dict[str, Any] | None = None) -> Any:
    """The type of a dotted target path ('call.eta', 'stowage[].dg[].un_number'), or None if unknown."""
    node: Any = TARGETS if root is None else root
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
