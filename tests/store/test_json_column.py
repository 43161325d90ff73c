"""The store's JSON columns are written with orjson (hub.store.engine.encode_json, for speed): the text
must be what the standard library would write, and read back to the same value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.store.engine import encode_json

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(), inner, max_size=5), max_leaves=40)
with_floats = st.recursive(scalars | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                           max_leaves=40)


@given(documents)
def test_the_text_is_that_of_the_standard_library(value: Any) -> None:
    assert encode_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(with_floats)
def test_values_read_back_unchanged(value: Any) -> None:
    assert json.loads(encode_json(value)) == value


def test_arabic_and_french_names_stay_readable_and_integer_keys_become_strings() -> None:
    assert encode_json({"name": "الدار البيضاء", "ville": "Salé", 3: [1.5]}) == \
        '{"name":"الدار البيضاء","ville":"Salé","3":[1.5]}'
