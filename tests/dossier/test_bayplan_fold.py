"""A bayplan built from its fragment (correlate._bayplan, one pass of plain steps per record) against the
straightforward construction it replaced, record by record and in cell order; and the encoding it makes
in the same pass against to_dict()."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.dossier import keys
from hub.dossier.correlate import Memo, _bayplan, _call_fragment, _dg, _fold_call, _num, source_of
from hub.dossier.model import Bayplan, BayplanScope, FullEmpty, StowageRecord, Temperature, stable_id


def reference_bayplan(src: Any, frag: dict[str, Any]) -> Bayplan:
    full = frag.get("bayplan", {}).get("full", True)
    bp = Bayplan(id=stable_id("bp", src.message_id), source_message_id=src.message_id,
                 scope=BayplanScope.FULL if full else BayplanScope.PARTIAL, function=src.function,
                 issued_at=src.issued_at)
    for r in frag["stowage"]:
        if not r.get("cell"):
            continue
        bl = r.get("bl")
        booking = r.get("booking")
        fe = r.get("full_empty")
        bp.add(StowageRecord(
            cell=r["cell"], equipment_number=r.get("equipment"), size_type=r.get("size_type"),
            pol=r.get("pol"), pod=r.get("pod"), final_pod=r.get("final_pod"),
            transhipment_port=r.get("transhipment_port"), gross_weight=_num(r.get("gross_weight")),
            vgm=_num(r.get("vgm")),
            temperature=Temperature(value=float(r["temperature"]), unit=r.get("temperature_unit") or "CEL")
            if r.get("temperature") is not None else None,
            dg=[_dg(d) for d in r.get("dg") or ()],
            carrier=r.get("carrier"),
            bl=None if not bl or keys.is_dummy_reference(bl) else keys.normalise_bl(bl),
            booking=None if not booking or keys.is_dummy_reference(booking) else keys.normalise_bl(booking),
            full_empty=FullEmpty(fe) if fe in ("full", "empty") else None,
            handling=[r["handling"]] if r.get("handling") else []))
    bp.records = {cell: bp.records[cell] for cell in sorted(bp.records)}  # as canonicalise orders them
    return bp


_text = st.none() | st.sampled_from(["", "1", " 1 ", "abc 12", "MAEU1234567", "x"])
_number = st.none() | st.integers(-5, 5) | st.floats(-10, 10, allow_nan=False) | st.just("12") | st.just(True)
_record = st.fixed_dictionaries({}, optional={
    "cell": st.sampled_from(["", "0010082", "0020002", "0010002", "0990190"]),
    "equipment": _text, "size_type": _text, "pol": _text, "pod": _text, "final_pod": _text,
    "transhipment_port": _text, "gross_weight": _number, "vgm": _number,
    "temperature": st.none() | st.floats(-30, 30, allow_nan=False), "temperature_unit": _text,
    "dg": st.none() | st.lists(st.fixed_dictionaries({"un_number": st.just("1203"), "imdg_class": st.just("3")},
                                                      optional={"flashpoint": st.just(-20)}), max_size=2),
    "carrier": _text, "bl": _text, "booking": _text,
    "full_empty": st.none() | st.sampled_from(["full", "empty", "unknown", ""]), "handling": _text})


@settings(max_examples=150)
@given(st.lists(_record, max_size=12), st.booleans())
def test_bayplan_equals_the_straightforward_construction(stowage: list[dict[str, Any]], full: bool) -> None:
    doc = {"message": {"kind": "bayplan", "number": "BP1", "function": "original"}, "stowage": stowage}
    src = source_of("M1", doc)
    frag = {"stowage": stowage, "bayplan": {"full": full}}
    (got, encoded), expected = _bayplan(src, frag), reference_bayplan(src, frag)
    assert got == expected
    assert list(got.records) == list(expected.records)
    assert got.to_dict() == expected.to_dict()
    # the encoding made in the same pass is to_dict()'s, keys in the same order, and shares no list with
    # the records (a later change to one must not show in the other)
    assert json.dumps(encoded) == json.dumps(got.to_dict())
    for cell, records in got.records.items():
        assert encoded["records"][cell] is not records
        for r, d in zip(records, encoded["records"][cell], strict=True):
            assert d["dg"] is not r.dg and d["handling"] is not r.handling


def test_the_stowage_record_fields_are_in_the_order_bayplan_passes_them() -> None:
    import dataclasses
    assert [f.name for f in dataclasses.fields(StowageRecord)] == [
        "cell", "equipment_number", "size_type", "pol", "pod", "final_pod", "transhipment_port", "gross_weight",
        "vgm", "temperature", "dg", "carrier", "bl", "booking", "full_empty", "handling"]


@settings(max_examples=60)
@given(st.lists(st.lists(_record, max_size=6), min_size=1, max_size=3))
def test_a_folded_call_encodes_its_bayplans_as_to_dict_does(plans: list[list[dict[str, Any]]]) -> None:
    # _add_bayplan puts each bayplan's encoding in the memo; encode_call then uses it for the call
    memo = Memo()
    items = []
    for n, stowage in enumerate(plans):
        doc = {"message": {"kind": "bayplan", "number": f"BP{n}", "function": "original"},
               "call": {"port": "ESALG", "voyage_in": "0712N"}, "stowage": stowage}
        items.append((source_of(f"M1.{n + 1}", doc), _call_fragment(doc)))
    vc = _fold_call("VC-1", items, memo)
    vc.canonicalise()
    assert all(id(b) in memo.encoded for b in vc.bayplans)
    assert json.dumps(memo.encode_call(vc)) == json.dumps(vc.to_dict())
