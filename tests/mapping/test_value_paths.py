"""The compiled evaluator's value functions (`hub.mapping.compiled._value_fn`) for a weight and for a coded
value take shortcuts of their own; they must give what the reference's `_value` gives, notes included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.mapping.compiled import _get, _pos, _value_fn
from hub.mapping.evaluate import _value
from hub.mapping.spec import ValueSpec


class ElementsSource:
    """The reference's view of one segment, over its split elements."""

    def items(self, ctx: Any, path: str) -> list[Any]:
        return []

    groups = items

    def value(self, item: list[list[str]], pos: str) -> str | None:
        return _get(item, _pos(pos))


_piece = st.sampled_from(["", "12", "12,5", "1.5e3", "-3", "abc", "inf", "nan", "KGM", "TNE", "LBR", "GRM", "XXX",
                          "4", "5", "9", " 7"])
_elements = st.lists(st.lists(_piece, max_size=3), max_size=4)

WEIGHTS = [ValueSpec(source="3.2", convert="weight", unit_from="3.1"), ValueSpec(source="1", convert="weight"),
           ValueSpec(source="2.2", convert="weight", unit_from="1.1")]
CODED = [ValueSpec(source="2", codes={"4": "empty", "5": "full", "*": "unknown"}),
         ValueSpec(source="1.2", codes={"4": "empty", "5": ""}),
         ValueSpec(source="3", codes={"KGM": "kilograms"})]


@settings(max_examples=400)
@given(st.sampled_from(WEIGHTS + CODED), _elements)
def test_shortcut_values_equal_the_reference(vs: ValueSpec, els: list[list[str]]) -> None:
    fn = _value_fn(vs, "rules[1]")
    assert fn.__name__ == ("weight_at" if vs.convert == "weight" else "coded_at")
    notes: list[str] = []
    expected_notes: list[str] = []
    got = fn(els, notes)
    expected = _value(vs, ElementsSource(), els, expected_notes, "rules[1]")
    assert (repr(got), type(got), notes) == (repr(expected), type(expected), expected_notes)  # repr: nan
