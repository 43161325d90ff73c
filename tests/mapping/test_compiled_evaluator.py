"""The compiled EDIFACT evaluator (`hub.mapping.compiled`, what `map_bytes` runs) gives exactly what the
reference evaluator (`evaluate` over `message_tree`) gives: the same document, keys in the same order,
the same notes, on every EDIFACT file of samples/ and the corpus, and on a generated bayplan and
manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bayplan import make_bayplan
from bench.bench_dossier import make_manifest
from hub.catalog import default_catalog
from hub.edifact.validator import validate_located
from hub.mapping.compiled import evaluate_edifact
from hub.mapping.evaluate import EdifactSource, evaluate, message_tree
from tests.corpus import ROOT, edifact_files

SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*.edi"))


def _compare(data: bytes) -> int:
    catalog = default_catalog()
    registry = catalog.mappings()
    _, located = validate_located(data, catalog)
    compared = 0
    for lm in located:
        r = lm.report
        if lm.directory is None or r.type is None:
            continue
        spec = registry.select("edifact", r.type, lm.directory, r.assoc)
        if spec is None:
            continue
        d = catalog.directory(lm.directory, lm.interchange.syntax_version)
        assert d is not None
        ref = evaluate(spec, EdifactSource(), message_tree(lm.scan, lm.start, lm.end, d, r.type))
        got = evaluate_edifact(spec, lm.scan, lm.start, lm.end, d.messages[r.type])
        assert json.dumps(got.document) == json.dumps(ref.document), r.ref
        assert got.notes == ref.notes, r.ref
        compared += 1
    return compared


@pytest.mark.parametrize("path", SAMPLES + edifact_files(), ids=lambda p: p.name)
def test_compiled_equals_reference(path: Path) -> None:
    _compare(path.read_bytes())


def test_compiled_equals_reference_on_a_generated_bayplan_and_manifest() -> None:
    bayplan = make_bayplan(600, 3, 1)
    assert _compare(bayplan) == 3
    assert _compare(make_manifest(bayplan, 150)) == 1
