"""The published JSON Schema: committed copy up to date, and dossier documents valid against it."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from hub.dossier.model import ConsignmentDossier, Equipment, VesselCall
from hub.dossier.schema import dossier_schema, schema_json
from tests.dossier import examples, minischema
from tests.dossier.strategies import records

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "dossier.schema.json"
HAS_JSONSCHEMA = importlib.util.find_spec("jsonschema") is not None
EXAMPLES = [examples.vessel_call, examples.consignment, examples.equipment]


def problems(document: dict[str, Any]) -> list[str]:
    return minischema.errors(dossier_schema(), document)


def test_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_json(), (
        "schemas/dossier.schema.json is out of date: "
        "python -m hub.dossier.schema > schemas/dossier.schema.json")
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == dossier_schema()


def test_schema_shape() -> None:
    schema = dossier_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"VesselCall", "ConsignmentDossier", "Equipment", "StowageRecord", "Stamp"} <= set(schema["$defs"])
    call = schema["$defs"]["VesselCall"]
    assert call["required"] == ["kind", "id"] and call["additionalProperties"] is False
    assert call["properties"]["eta"] == {"description": "DTM+132.",
                                         "anyOf": [{"$ref": "#/$defs/Stamp"}, {"type": "null"}]}
    assert "on_hold" in call["properties"]["status"]["enum"]


@pytest.mark.parametrize("build", EXAMPLES)
def test_examples_validate(build: Any) -> None:
    assert problems(build().to_dict()) == []


@pytest.mark.parametrize("cls", [VesselCall, ConsignmentDossier, Equipment], ids=lambda c: c.__name__)
def test_random_dossiers_validate(cls: Any) -> None:
    @settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(records(cls))
    def run(dossier: Any) -> None:
        assert problems(dossier.to_dict()) == []

    run()


def _broken() -> list[tuple[str, dict[str, Any]]]:
    call = examples.vessel_call().to_dict()
    cons = examples.consignment().to_dict()
    out = []
    d = copy.deepcopy(call)
    d["colour"] = "red"
    out.append(("unknown field", d))
    d = copy.deepcopy(call)
    del d["kind"]
    out.append(("no kind", d))
    d = copy.deepcopy(call)
    d["eta"]["utc"] = 5
    out.append(("number for a string", d))
    d = copy.deepcopy(call)
    d["bayplans"][0]["records"]["0010182"][0]["full_empty"] = "half"
    out.append(("value outside an enum", d))
    d = copy.deepcopy(cons)
    d["status"] = "delivery_order_issued"
    d["direction"] = "export"
    out.append(("status of another direction", d))
    d = copy.deepcopy(cons)
    d["direction"] = None
    out.append(("status without a direction", d))
    d = copy.deepcopy(cons)
    d["goods_items"][0]["item_no"] = True
    out.append(("boolean for an integer", d))
    return out


@pytest.mark.parametrize(("what", "document"), _broken(), ids=[w for w, _ in _broken()])
def test_broken_documents_are_refused(what: str, document: dict[str, Any]) -> None:
    assert problems(document), what


@pytest.mark.skipif(not HAS_JSONSCHEMA, reason="jsonschema is not installed (add it to the dev extras)")
def test_with_jsonschema() -> None:  # pragma: no cover - runs where jsonschema is installed
    jsonschema = importlib.import_module("jsonschema")
    schema = dossier_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for build in EXAMPLES:
        validator.validate(build().to_dict())
    for what, document in _broken():
        assert list(validator.iter_errors(document)), what
