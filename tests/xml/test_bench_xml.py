"""The XML benchmark's input is what it claims: a valid WCO declaration with the asked number of items."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "bench"))

from bench_xml import scaled_declaration  # noqa: E402

from hub.xml import validate_document  # noqa: E402


def test_scaled_declaration_is_valid() -> None:
    data = scaled_declaration(25)
    result = validate_document(data)
    assert result.report.accepted, result.report.render()
    assert result.document is not None and result.document.kind == "wco-dec"
    assert data.count(b"<GovernmentAgencyGoodsItem>") == 25
    assert b"<GoodsItemQuantity>25</GoodsItemQuantity>" in data
    assert b"<SequenceNumeric>25</SequenceNumeric>" in data
