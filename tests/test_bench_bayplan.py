"""The benchmark's bayplan generator makes what it promises: a valid, realistic SMDG 2.2 BAPLIE."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bayplan import ISO6346_LETTER_VALUES, iso6346_check_digit, make_bayplan  # noqa: E402

CONTAINERS = 1500
MESSAGES = 2


@pytest.fixture(scope="module")
def text() -> str:
    return make_bayplan(CONTAINERS, MESSAGES, seed=7).decode("ascii")


def segments(text: str) -> list[str]:
    return text.split("'\n")[:-1]


def test_container_count(text: str) -> None:
    assert text.count("\nLOC+147+") == CONTAINERS
    assert text.count("\nEQD+CN+") == CONTAINERS
    assert text.count("\nUNH+") == MESSAGES


def test_deterministic_per_seed() -> None:
    assert make_bayplan(300, 1, seed=3) == make_bayplan(300, 1, seed=3)
    assert make_bayplan(300, 1, seed=3) != make_bayplan(300, 1, seed=4)


def test_default_size_is_about_four_megabytes() -> None:
    assert 3.5e6 < len(make_bayplan()) < 5e6


def test_letter_values_skip_multiples_of_eleven() -> None:
    assert ISO6346_LETTER_VALUES["A"] == 10
    assert ISO6346_LETTER_VALUES["K"] == 21 and ISO6346_LETTER_VALUES["L"] == 23
    assert ISO6346_LETTER_VALUES["U"] == 32 and ISO6346_LETTER_VALUES["V"] == 34
    assert not any(v % 11 == 0 for v in ISO6346_LETTER_VALUES.values())


def test_check_digit_of_known_numbers() -> None:
    # The worked example of ISO 6346 (CSQU 305438 3), and a weighted sum of 10 that wraps to 0.
    assert iso6346_check_digit("CSQU305438") == 3

    def weighted_sum(first_ten: str) -> int:
        values = [ISO6346_LETTER_VALUES[c] if c.isalpha() else int(c) for c in first_ten]
        return sum(v * 2**i for i, v in enumerate(values))

    serial = next(s for s in (f"AAAU{n:06d}" for n in range(1000)) if weighted_sum(s) % 11 == 10)
    assert iso6346_check_digit(serial) == 0


def test_container_numbers_are_valid_iso6346(text: str) -> None:
    numbers = re.findall(r"^EQD\+CN\+([^+']*)\+", text, re.M)
    assert len(numbers) == CONTAINERS
    assert len(set(numbers)) == CONTAINERS
    for number in numbers:
        assert re.fullmatch(r"[A-Z]{3}U[0-9]{7}", number), number
        assert int(number[10]) == iso6346_check_digit(number[:10]), number


def test_release_characters_occur(text: str) -> None:
    for escaped in ("?'", "?+", "?:", "??"):
        assert escaped in text, escaped
    # An escaped apostrophe never ends a line, so the line count is the segment count.
    assert "?'\n" not in text


def test_pydifact_parses_every_segment(text: str) -> None:
    from pydifact.segmentcollection import Interchange

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interchange = Interchange.from_str(text)
        parsed = list(interchange.segments)
    # pydifact keeps UNB and UNZ out of `segments`.
    assert len(parsed) + 2 == text.count("'\n") == len(segments(text))
    ftx = [s for s in parsed if s.tag == "FTX"]
    texts = [e[-1] if isinstance(e, list) else e for s in ftx for e in s.elements[3:4]]
    assert any("'" in t for t in texts) and any("+" in t for t in texts)


def test_unt_counts_and_references(text: str) -> None:
    segs = segments(text)
    assert segs[0].startswith("UNB+UNOA:2+") and segs[-1].startswith("UNZ+")
    messages = 0
    start = None
    for index, seg in enumerate(segs):
        if seg.startswith("UNH+"):
            start = index
            ref = seg.split("+")[1]
            assert seg.endswith("+BAPLIE:D:95B:UN:SMDG22")
        elif seg.startswith("UNT+"):
            assert start is not None
            count, unt_ref = seg[4:].split("+")
            assert int(count) == index - start + 1
            assert unt_ref == ref
            messages += 1
            start = None
    unz_count, unz_ref = segs[-1][4:].split("+")
    assert int(unz_count) == messages == MESSAGES
    assert unz_ref == segs[0].split("+")[5]


def test_segment_group_2_stays_within_d95b_limit() -> None:
    text = make_bayplan(24000, 3).decode("ascii")
    for message in text.split("\nUNH+")[1:]:
        assert message.count("\nLOC+147+") <= 9999


def test_cells_are_distinct_and_iso_formatted(text: str) -> None:
    cells = re.findall(r"^LOC\+147\+([0-9]+)::5$", text.replace("'", ""), re.M)
    assert len(cells) == CONTAINERS == len(set(cells))
    assert all(len(c) == 7 for c in cells)


def test_vgm_reefers_and_dangerous_goods_are_present(text: str) -> None:
    assert "\nMEA+VGM++KGM:" in text
    assert re.search(r"^TMP\+2\+-?[0-9]{2}\.[0-9]:CEL'$", text, re.M)
    assert re.search(r"^DGS\+IMD\+[1-9](\.[1-6])?\+[0-9]{4}", text, re.M)
    assert "\nNAD+CA+" in text and "\nRFF+BM:1'" in text
