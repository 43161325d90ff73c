"""The published JSON Schema (draft 2020-12) of dossier documents, generated from the model's dataclasses.

`dossier_schema()` walks the field annotations the codec uses (`hub.dossier.record`), so the schema
cannot drift from `to_dict()`: a document is one of VesselCall, ConsignmentDossier or Equipment, told
apart by "kind". Descriptions come from the class docstrings (the text before "Fields:", and the
"name: text" lines after it).

The committed copy is `schemas/dossier.schema.json`; regenerate it with
`python -m hub.dossier.schema > schemas/dossier.schema.json` (a test checks they are equal).
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

from hub.dossier.lifecycle import CONSIGNMENT_MACHINES
from hub.dossier.model import ConsignmentDossier, Equipment, VesselCall
from hub.dossier.record import Record, record_fields, union_args

SCHEMA_ID = "urn:portnet-hub:schema:dossier:1"
ROOTS: tuple[type[Record], ...] = (VesselCall, ConsignmentDossier, Equipment)

_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                                type(None): "null"}


def _docs(cls: type) -> tuple[str, dict[str, str]]:
    """(class description, field descriptions) from a docstring with an optional "Fields:" section."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    head, _, tail = doc.partition("\nFields:\n")
    fields: dict[str, str] = {}
    current: str | None = None
    for line in tail.splitlines():
        m = re.match(r"(\w+): (.*)", line)
        if m:
            current = m.group(1)
            fields[current] = m.group(2).strip()
        elif current is not None and line.strip():
            fields[current] += " " + line.strip()
    return " ".join(head.split()), fields


def _enum_schema(enums: tuple[type[enum.Enum], ...], optional: bool) -> dict[str, Any]:
    values: list[Any] = []
    for e in enums:
        for member in e:
            if member.value not in values:
                values.append(member.value)
    return {"enum": values + [None] if optional else values}


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema((tp,), False)
    if isinstance(tp, type) and issubclass(tp, Record):
        _record_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    members = union_args(tp)
    if members is not None:
        optional = type(None) in members
        rest = tuple(m for m in members if m is not type(None))
        if all(isinstance(m, type) and issubclass(m, enum.Enum) for m in rest):
            return _enum_schema(rest, optional)
        if len(rest) == 1 and rest[0] in _PRIMITIVES and optional:
            return {"type": [_PRIMITIVES[rest[0]], "null"]}
        arms = [_type_schema(m, defs) for m in rest] + ([{"type": "null"}] if optional else [])
        return {"anyOf": arms}
    args: tuple[Any, ...] = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    raise TypeError(f"no schema for {tp!r}")


def _record_schema(cls: type[Record], defs: dict[str, Any]) -> None:
    name = cls.__name__
    if name in defs:
        return
    defs[name] = {}  # placeholder against recursion
    description, field_docs = _docs(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    if cls.document_kind is not None:
        properties["kind"] = {"const": cls.document_kind}
        required.append("kind")
    for f in record_fields(cls):
        prop = _type_schema(f.type, defs)
        if f.name in field_docs:
            prop = {"description": field_docs[f.name], **prop}
        properties[f.name] = prop
        if f.required:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "title": name}
    if description:
        schema["description"] = description
    schema.update({"properties": properties, "required": required, "additionalProperties": False})
    extra = _EXTRA.get(cls)
    if extra is not None:
        schema.update(extra())
    defs[name] = schema


def _consignment_status_rules() -> dict[str, Any]:
    """A consignment's status must be a state of its direction's lifecycle, and null without one."""
    rules: list[dict[str, Any]] = [{
        "if": {"properties": {"direction": {"const": None}}},
        "then": {"properties": {"status": {"const": None}}},
    }]
    for direction, machine in CONSIGNMENT_MACHINES.items():
        rules.append({
            "if": {"properties": {"direction": {"const": direction.value}}, "required": ["direction"]},
            "then": {"properties": {"status": {"enum": [s.value for s in machine.order] + [None]}}},
        })
    return {"allOf": rules}


_EXTRA: dict[type[Record], Callable[[], dict[str, Any]]] = {ConsignmentDossier: _consignment_status_rules}


def dossier_schema() -> dict[str, Any]:
    """The JSON Schema of a dossier document (VesselCall, ConsignmentDossier or Equipment)."""
    defs: dict[str, Any] = {}
    for root in ROOTS:
        _record_schema(root, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Dossier",
        "description": ("A dossier document of the PortNet hub: a vessel call, a consignment or a piece of "
                        "equipment, as produced by hub.dossier's to_dict(). Generated from "
                        "hub/dossier/model.py; do not edit by hand."),
        "oneOf": [{"$ref": f"#/$defs/{root.__name__}"} for root in ROOTS],
        "$defs": {name: defs[name] for name in sorted(defs)},
    }


def schema_json() -> str:
    """The schema as committed in schemas/dossier.schema.json."""
    return json.dumps(dossier_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
