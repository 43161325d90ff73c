"""A dossier's long lists as parts (hub.store.store.split_parts): the row keeps placeholders, the items
have rows of their own, and a whole document comes back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.store import Store
from hub.store.store import PART_LISTS, StoreError, assemble_parts, split_parts

values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=10)
items = st.builds(lambda item_id, body: {**body, "id": item_id} if item_id is not None else body,
                  st.none() | st.sampled_from(["a", "b", "c", "ev-1"]),
                  st.dictionaries(st.sampled_from(["type", "records", "detail"]), values, max_size=3))
documents = st.fixed_dictionaries({"dossier": st.fixed_dictionaries(
    {}, optional={name: st.lists(items, max_size=4) for name in PART_LISTS}
    | {"status": st.text(max_size=5), "other": st.lists(items, max_size=2)})},
    optional={"notes": values})


@given(documents)
def test_split_then_assembled_is_the_document(document: dict[str, Any]) -> None:
    row, parts = split_parts(document)
    assert assemble_parts(row, parts) == document
    for name in PART_LISTS:
        listed = document["dossier"].get(name)
        ids = [item.get("id") for item in listed or ()]
        if listed and None not in ids and len(set(ids)) == len(ids):
            assert row["dossier"][name] == [{"$part": f"{name}/{i}"} for i in ids]  # split
            assert all(parts[f"{name}/{i}"] is item for i, item in zip(ids, listed, strict=True))
        else:
            assert row["dossier"].get(name) == listed  # inline: empty, or items without ids of their own
    assert row["dossier"].get("other") == document["dossier"].get("other")


def test_a_missing_part_is_an_error_not_a_hole() -> None:
    row, parts = split_parts({"dossier": {"events": [{"id": "e1"}, {"id": "e2"}]}})
    del parts["events/e2"]
    with pytest.raises(StoreError, match="events/e2"):
        assemble_parts(row, parts)


def test_queries_and_loads_give_the_whole_document_and_a_delete_takes_the_parts(store: Store) -> None:
    document = {"dossier": {"id": "VC-1", "events": [{"id": "e1", "type": "eta"}],
                            "bayplans": [{"id": "bp1", "records": {"0010102": [{"cell": "0010102"}]}}]}}
    row, parts = split_parts(document)
    with store.transaction() as tx:
        tx.insert_dossier("VC-1", "vessel_call", "ANNOUNCED", row)
        tx.put_parts(("VC-1", name, item) for name, item in parts.items())
        tx.add_keys([{"key_type": "voyage", "value": "0712N", "dossier_id": "VC-1"}])
    with store.transaction() as tx:
        assert tx.load_dossier("VC-1") == (document, 1)
        whole = {**document, "id": "VC-1", "kind": "vessel_call", "status": "ANNOUNCED"}
        assert tx.dossier("VC-1") == whole
        assert tx.dossiers_by(voyage="0712N") == [whole]
        tx.put_parts([("VC-1", "events/e1", {"id": "e1", "type": "ata"})])  # replaced in place
        tx.delete_parts("VC-1", ["bayplans/bp1"])
        assert tx.parts("VC-1") == {"events/e1": {"id": "e1", "type": "ata"}}
        tx.delete_dossier("VC-1")
    assert store.counts()["dossier_parts"] == 0
