"""The tokenizer's fast split of text written one segment a line, against the general split it stands in for."""

from __future__ import annotations

from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.edifact.tokenizer import _split_lines, scan


def general_split(body: str, at: int, terminator: str) -> tuple[list[str], list[int]]:
    pieces = body.split(terminator)
    starts = list(accumulate((len(p) + 1 for p in pieces[:-1]), initial=at))
    trimmed = [p.lstrip("\r\n") for p in pieces]
    return trimmed, [s + len(p) - len(q) for s, p, q in zip(starts, pieces, trimmed, strict=True)]


# Mostly text written one segment a line (the fast split's case), sometimes not.
_piece = st.text(alphabet="AB+:? ", max_size=6) | st.text(alphabet="AB+:? \n\r", max_size=6)
_joint = st.sampled_from(["'\n"] * 12 + ["'", "'\n\n", "'\r\n", "\n'"])


@settings(max_examples=400)
@given(st.lists(st.tuples(_piece, _joint), max_size=8), _piece, st.sampled_from(["", "\n", "\n\n"]),
       st.integers(0, 20))
def test_the_fast_split_gives_the_general_splits_pieces_and_offsets(
        parts: list[tuple[str, str]], tail: str, lead: str, at: int) -> None:
    body = lead + "".join(p + j for p, j in parts) + tail
    fast = _split_lines(body, at, "'")
    pieces, starts = general_split(body, at, "'")
    if fast is not None:
        assert fast == (pieces, starts)
        for piece, start in zip(pieces[:-1], starts, strict=False):  # each offset is where its piece is
            assert body[start - at:start - at + len(piece)] == piece


def test_a_file_one_segment_a_line_takes_the_fast_split() -> None:
    body = "UNB+UNOA:2+A+B+251126:1030+1'\nUNH+1+X'\nUNT+2+1'\nUNZ+1+1'"
    assert _split_lines(body, 0, "'") is not None
    assert _split_lines(body + "\n", 0, "'") is not None
    assert _split_lines(body.replace("\n", "\r\n"), 0, "'") is None
    sc = scan(("UNA:+.? '\n" + body + "\n").encode())[0]
    assert sc.segments[1] == "UNH+1+X"
    assert sc.text[sc.starts[1]:].startswith("UNH+1+X'")
