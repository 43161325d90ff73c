"""The tokenizer: delimiters, release characters, offsets, and agreement with pydifact on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydifact.parser import Parser

from hub.edifact.tokenizer import scan, segments
from tests.corpus import CORPUS, edifact_files


def tags(data: bytes) -> list[str]:
    return [s.tag for s in segments(data)]


def test_una_declares_other_delimiters() -> None:
    data = b"UNA|*.# !UNB*UNOA|3*A*B*200101|1200*7!UNH*1*X|D|96A|UN!FTX*A#*B#!C##D|E!UNT*3*1!UNZ*1*7!"
    segs = list(segments(data))
    assert [s.tag for s in segs] == ["UNB", "UNH", "FTX", "UNT", "UNZ"]
    assert segs[2].elements == [["A*B!C#D", "E"]]


def test_release_character_releases_every_delimiter_and_itself() -> None:
    data = b"UNB+UNOA:2+A+B+200101:1200+1'UNH+1+X:D:96A:UN'FTX+AAA+++IT?'S ?+ A ?:B ??'UNT+3+1'UNZ+1+1'"
    ftx = list(segments(data))[2]
    assert ftx.elements == ["AAA", "", "", "IT'S + A :B ?"]


def test_doubled_release_before_terminator_ends_the_segment() -> None:
    data = b"UNB+UNOA:2+A+B+200101:1200+1'FTX+A??'UNZ+0+1'"
    assert [s.elements for s in segments(data)][1] == ["A?"]


def test_offsets_are_byte_offsets_and_lines_count_from_one() -> None:
    data = b"UNA:+.? '\r\nUNB+UNOA:2+A+B+200101:1200+1'\r\nUNZ+0+1'\r\n"
    segs = list(segments(data))
    assert [(s.tag, s.offset, s.line) for s in segs] == [("UNB", 11, 2), ("UNZ", 42, 3)]
    assert data[segs[1].offset:segs[1].offset + 3] == b"UNZ"


def test_utf8_offsets_count_bytes_not_characters() -> None:
    data = "UNB+UNOY:4+A+B+20200101:1200+1'FTX+AAA+++ÉTÉ À L’EAU'UNZ+0+1'".encode()
    last = list(segments(data))[-1]
    assert data[last.offset:last.offset + 3] == b"UNZ"
    assert list(segments(data))[1].elements[-1] == "ÉTÉ À L’EAU"


def test_byte_order_mark_is_skipped_and_counted() -> None:
    data = b"\xef\xbb\xbfUNB+UNOA:2+A+B+200101:1200+1'UNZ+0+1'"
    segs = list(segments(data))
    assert segs[0].tag == "UNB" and segs[0].offset == 3


def test_version_4_repetition_separator() -> None:
    data = b"UNA:+.?*'UNB+UNOA:4+A+B+20200101:1200+1'DOC+A*B:C+D?*E'UNZ+0+1'"
    sc = scan(data)[0]
    assert sc.delimiters.repetition == "*"
    assert sc.elements(1) == [[["A"], ["B", "C"]], [["D?" + sc.neutral.repetition + "E"]]]
    assert sc.unescape(sc.elements(1)[1][0][0]) == "D*E"


def test_syntax_level_b_default_separators() -> None:
    data = b"UNB\x1dUNOB\x1f3\x1dA\x1dB\x1d200101\x1f1200\x1d1\x1cUNZ\x1d0\x1d1\x1c"
    segs = list(segments(data))
    assert [(s.tag, s.elements) for s in segs] == [
        ("UNB", [["UNOB", "3"], "A", "B", ["200101", "1200"], "1"]), ("UNZ", ["0", "1"])]


def test_second_una_mid_file_switches_delimiters() -> None:
    first = b"UNA:+.? 'UNB+UNOA:2+A+B+200101:1200+1'UNZ+0+1'\n"
    second = b"UNA|*.# !UNB*UNOA|2*A*B*200101|1200*2!UNZ*0*2!"
    segs = list(segments(first + second))
    assert [(s.tag, s.elements[-1]) for s in segs] == [("UNB", "1"), ("UNZ", "1"), ("UNB", "2"),
                                                        ("UNZ", "2")]
    assert segs[2].offset == len(first) + 9


def test_truncated_file_reports_unterminated_segment() -> None:
    sc = scan(b"UNB+UNOA:2+A+B+200101:1200+1'UNH+1+BAPL")[0]
    assert sc.segments[-1] == "UNH+1+BAPL"
    assert [i.code.ident for i in sc.issues] == ["unterminated-segment"]


def test_bad_una_is_reported_not_raised() -> None:
    sc = scan(b"UNA::::::UNB+UNOA:2+A+B+200101:1200+1'UNZ+0+1'")[0]
    assert [i.code.ident for i in sc.issues] == ["bad-una"]


# --- differential test against pydifact ------------------------------------------------------------

def _pydifact_segments(data: bytes) -> list[tuple[str, list[object]]] | None:
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8" if b"UNOY" in data[:200] or b"UNOW" in
                                                     data[:200] else "latin-1")
    try:
        segs = list(Parser().parse(text))
    except Exception:  # noqa: BLE001 - pydifact cannot read this file; nothing to compare
        return None
    return [(s.tag, list(s.elements)) for s in segs if s.tag != "UNA"]


CORPUS_EDI = edifact_files()


@pytest.mark.skipif(not CORPUS_EDI, reason="corpus not present")
def test_corpus_is_not_empty() -> None:
    assert len(CORPUS_EDI) > 40


@pytest.mark.parametrize("path", CORPUS_EDI, ids=lambda p: str(p.relative_to(CORPUS)))
def test_same_segments_as_pydifact(path: Path) -> None:
    data = path.read_bytes()
    expected = _pydifact_segments(data)
    if expected is None:
        pytest.skip("pydifact cannot read this file")
    ours = [(s.tag, s.elements) for s in segments(data)]
    assert _normal(ours) == _normal(expected)


def _normal(segs: list[tuple[str, list[object]]]) -> list[tuple[str, list[object]]]:
    """pydifact drops trailing empty components (`RFF+VM:'` reads as `RFF+VM'`); an omitted trailing
    component means the same as an empty one, so both sides are compared without them."""
    out = []
    for tag, els in segs:
        norm: list[object] = []
        for el in els:
            if isinstance(el, tuple):  # pydifact does not know syntax 4 repetitions: it keeps them raw
                el = "*".join(x if isinstance(x, str) else ":".join(x) for x in el)
            if isinstance(el, list):
                while len(el) > 1 and el[-1] == "":
                    el = el[:-1]
                norm.append(el[0] if len(el) == 1 else el)
            else:
                norm.append(el)
        out.append((tag, norm))
    return out


# --- properties --------------------------------------------------------------------------------------

_value = st.text(alphabet=st.sampled_from("ABC xyz019.-?'+:*/"), max_size=12)
_element = st.lists(_value, min_size=1, max_size=4)
_segment = st.tuples(st.sampled_from(["FTX", "LOC", "RFF", "NAD"]), st.lists(_element, max_size=5))


def _escape(v: str) -> str:
    return "".join("?" + c if c in "?'+:" else c for c in v)


@settings(max_examples=300, deadline=None)
@given(st.lists(_segment, min_size=1, max_size=8), st.sampled_from(["", "\n", "\r\n"]))
def test_written_segments_read_back_unchanged(segs: list[tuple[str, list[list[str]]]], eol: str) -> None:
    body = "".join(tag + "".join("+" + ":".join(_escape(c) for c in el) for el in els) + "'" + eol
                   for tag, els in segs)
    data = ("UNB+UNOA:3+A+B+200101:1200+1'" + eol + body + "UNZ+0+1'").encode("latin-1")
    sc = scan(data)[0]
    got = [(sc.tag(i), [[sc.unescape(c) for c in el[0]] for el in sc.elements(i)])
           for i in range(1, len(sc.segments) - 1)]
    assert got == [(tag, els) for tag, els in segs]
    for i, start in enumerate(sc.starts):
        assert sc.text[start:start + 3] == sc.tag(i)[:3]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_scan_without_exception(data: bytes) -> None:
    for sc in scan(data):
        assert len(sc.segments) == len(sc.starts)
