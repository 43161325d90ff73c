"""The `str` pre-checks of the validator's character-level scans never skip what the scans would find."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.edifact import validate
from hub.edifact.validator import line_breaks_may_be_misplaced, separators_may_trail
from hub.report import Code

texts = st.text(alphabet="AB1:+'?\r\n", max_size=60)


@settings(max_examples=500)
@given(texts, st.integers(0, 5))
def test_no_line_break_is_found_where_the_check_says_none_can_be(text: str, start: int) -> None:
    pattern = re.compile(r"(?<!['\r\n])[\r\n]+(?![\r\n]*\Z)")  # the scan of line_breaks, delimiters of level A
    if not line_breaks_may_be_misplaced(text, "'"):
        assert pattern.search(text, min(start, len(text))) is None


@settings(max_examples=500)
@given(texts, st.integers(0, 5))
def test_no_trailing_separator_is_found_where_the_check_says_none_can_be(text: str, start: int) -> None:
    pattern = re.compile(r":+(?=\+|')|\++(?=')")  # the scan of trailing_separators, level A
    if not separators_may_trail(text, "+", ":", "'"):
        assert pattern.search(text, min(start, len(text))) is None


def test_the_issues_are_still_reported() -> None:
    head = b"UNB+UNOA:2+A:ZZZ+B:ZZZ+251126:1030+R1'UNH+1+CUSCAR:D:95B:UN'BGM+85+X1+9'"
    for body, code in ((b"DTM+137:202511270815:203+'", "trailing-separator"),
                       (b"DTM+137:2025112\n70815:203'", "line-break-in-segment")):
        report = validate(head + body + b"UNT+4+1'UNZ+1+R1'")
        assert code in {i.code.ident for i in report.all_issues()}, (body, report.to_dict())


@settings(max_examples=300)
@given(st.binary(max_size=12)
       | st.lists(st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\x0b", b"\x0c", b"\xa0", b"\x1c"]),
                  max_size=8).map(b"".join))
def test_an_input_of_white_space_only_is_found_empty_as_strip_would_find_it(data: bytes) -> None:
    # validate_located asks `not data or data.isspace()` rather than copying the input to strip it
    empty = any(i.code is Code.EMPTY_INPUT for i in validate(data).all_issues())
    assert empty == (not data.strip())
