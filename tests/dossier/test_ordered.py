"""_ordered with a memo (the last order kept, a new fragment put in its place) against the plain sort,
through the changes correlation makes to a dossier's fragments."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.dossier.correlate import Memo, _ordered


def _fragment(n: int, day: int) -> dict[str, Any]:
    return {"source": {"message_id": f"M{n}", "sha256": f"{n:064x}",
                       "issued_at": {"original": f"202611{day:02d}", "fmt": "102",
                                     "utc": f"2026-11-{day:02d}T00:00:00Z"}},
            "kind": "manifest"}


# what correlation does to a stored dossier's fragments: attach a message (a new key, last), attach
# one again (same key, a new dict), replace a fragment (repointed to another call), drop one (merge)
changes = st.lists(st.tuples(st.sampled_from(["add", "again", "replace", "drop"]), st.integers(0, 40),
                             st.integers(1, 28)), max_size=30)


@given(changes)
def test_the_memo_gives_the_order_of_a_full_sort(steps: list[tuple[str, int, int]]) -> None:
    memo = Memo()
    stored: dict[str, Any] = {"fragments": {}}
    frags = stored["fragments"]
    for what, n, day in steps:
        if what == "add":
            frags[f"M{n}"] = _fragment(n, day)
        elif frags and what == "again":
            key = list(frags)[n % len(frags)]
            frags[key] = _fragment(int(key[1:]), day)
        elif frags and what == "replace":
            key = list(frags)[n % len(frags)]
            frags[key] = {**frags[key], "call_id": "VC-2"}
        elif frags:
            del frags[list(frags)[n % len(frags)]]
        got = _ordered(stored, memo)
        assert [f for _, f in got] == [f for _, f in _ordered(stored)]
        assert [s.message_id for s, _ in got] == [s.message_id for s, _ in _ordered(stored)]
