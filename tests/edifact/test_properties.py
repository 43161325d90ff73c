"""Properties of the validator, checked with hypothesis.

(a) Any bytes give a report that serialises to JSON (random bytes, and random segments behind a valid
    UNB, behind a UNA, and inside a real BAPLIE/CUSCAR message so the directories and guides are hit).
(b) The fast path never hides what the precise walk finds: for segments built from the D.95B
    definitions, with and without the SMDG guides and under three delimiter sets, a match of
    `SegmentCheck.regex` means `SegmentCheck.issues` has no error; for tag sequences built from the
    D.95B segment tables (then broken), a match of `Directory.structure_regex` means `StructureWalk`
    has no issue. Inputs are both valid (codes from the code lists, formats within their lengths) and
    broken (wrong lengths and types, empty and extra elements and components, released separators).
(c) A short fuzz run (`-m fuzz`) of validate() on real samples with bit flips, deletions and
    insertions of service characters.

Known defects are excluded from the random runs (`known_crash`) and kept visible as xfail(strict=True)
tests with their minimal examples; fixed ones stay as plain regression tests. `HUB_PROPERTY_EXAMPLES` raises the
number of examples for a longer local run.
"""

from __future__ import annotations

import inspect
import json
import os
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, note, reject, settings
from hypothesis import strategies as st

from hub.catalog import default_catalog
from hub.edifact import validate
from hub.edifact.contrl import build_contrl
from hub.edifact.directory import (
    CompositeDef,
    Directory,
    ElementDef,
    GroupRef,
    SegmentCheck,
    SegmentRef,
    StructureWalk,
)
from hub.edifact.guides import Guide
from hub.edifact.tokenizer import Scan, scan
from hub.report import Report, Severity
from tests.edifact.edi_files import SAMPLES, bayplan

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")

EXAMPLES = int(os.environ.get("HUB_PROPERTY_EXAMPLES", "0")) or None


def examples(default: int) -> int:
    return EXAMPLES or default


CATALOG = default_catalog()
D95B: Directory = CATALOG.directory("D95B", "3")  # type: ignore[assignment]
GUIDES: dict[str | None, Guide | None] = {None: None, "SMDG22": CATALOG.guide("SMDG22", "BAPLIE", "D95B"),
                                          "SMDG20": CATALOG.guide("SMDG20", "BAPLIE", "D95B")}
assert D95B is not None and all(g is not None for k, g in GUIDES.items() if k)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


# --- reports never fail ---------------------------------------------------------------------------

def known_crash(e: BaseException) -> str | None:
    """The known crashes (each has an xfail test in test_robustness.py), by where they raise."""
    where = traceback.extract_tb(e.__traceback__)[-1].name
    if isinstance(e, ValueError) and where == "envelope" and "int" in str(e):
        return "count-not-ascii-number"  # test_count_that_is_no_ascii_number
    return None


def check_report(data: bytes) -> Report:
    try:
        report = validate(data)
    except ValueError as e:
        known = known_crash(e)
        if known is None:
            raise
        event(f"known crash: {known}")
        reject()
    assert isinstance(report, Report)
    json.dumps(report.to_dict())
    report.render()
    build_contrl(report, our_id="HUB", control_ref="1", now=NOW)
    for issue in report.all_issues():
        assert issue.offset is None or 0 <= issue.offset <= len(data)
    event("accepted" if report.accepted else "rejected")
    return report


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_a_report(data: bytes) -> None:
    check_report(data)


# Characters that make segments interesting: service characters, lower case, Latin-1, controls.
_CHARS = "ABCXYZ019 .,-/+:'?*!#|\r\n\t\0\x1c\x1d\x1faéÿ"
_TAGS = ["UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "UNS", "UNA", "BGM", "DTM", "RFF", "NAD", "TDT", "LOC",
         "FTX", "MEA", "EQD", "DGS", "CNT", "XYZ", "bgm", "LO", "LOCC", ""]
_value = st.text(alphabet=_CHARS, max_size=12)
_segment = st.builds(lambda tag, els: "+".join([tag, *els]),
                     st.one_of(st.sampled_from(_TAGS), st.text(alphabet=_CHARS, max_size=4)),
                     st.lists(_value, max_size=6))
_segments = st.lists(_segment, max_size=25).map(lambda segs: "".join(s + "'" for s in segs))


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(["UNOA:2", "UNOB:3", "UNOC:3", "UNOW:4", "UNOY:4", "XXXX:9"]), _segments,
       st.sampled_from(["", "'", "\n", "UNZ+1+1'"]))
def test_unb_then_random_segments(syntax: str, body: str, tail: str) -> None:
    head = f"UNB+{syntax}+SENDER:ZZZ+RECIPIENT:ZZZ+251127:0815+REF1'"
    check_report((head + body + tail).encode("latin-1"))


@settings(max_examples=examples(200), deadline=None)
@given(st.text(alphabet=_CHARS, max_size=7), _segments)
def test_una_then_random_segments(service: str, body: str) -> None:
    check_report(("UNA" + service + "UNB+UNOA:2+S+R+251127:0815+1'" + body).encode("latin-1"))


# A real message, its body replaced by random segments over its own tags: directory and guide checks.
_MESSAGES = {
    "BAPLIE": ("UNH+1+BAPLIE:D:95B:UN:SMDG22'", ["BGM", "DTM", "TDT", "LOC", "RFF", "FTX", "MEA", "EQD",
                                                  "NAD", "DGS", "TMP", "RNG", "DIM", "GID", "EQA"]),
    "CUSCAR": ("UNH+1+CUSCAR:D:95B:UN'", ["BGM", "DTM", "RFF", "NAD", "TDT", "LOC", "EQD", "SEL", "CNT",
                                         "CNI", "GID", "FTX", "MEA", "SGP", "DGS", "TMP"]),
}


@st.composite
def message_bodies(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(_MESSAGES)))
    unh, tags = _MESSAGES[name]
    segs = draw(st.lists(st.builds(lambda tag, els: "+".join([tag, *els]), st.sampled_from(tags),
                                   st.lists(st.text(alphabet="ABC019:+ -.?'a", max_size=10), max_size=8)),
                         max_size=30))
    count = draw(st.sampled_from([len(segs) + 2, len(segs) + 3, 0]))
    body = "".join(s + "'" for s in segs)
    return (f"UNB+UNOA:2+S+R+251127:0815+1'{unh}{body}UNT+{count}+1'UNZ+1+1'").encode("latin-1")


@settings(max_examples=examples(300), deadline=None)
@given(message_bodies())
def test_random_message_bodies(data: bytes) -> None:
    check_report(data)


# --- (b) the fast segment regex never hides an issue of the precise walk --------------------------

# (UNA or "", component, element, release or None, segment terminator)
DELIMITERS = {
    "level-a": ("", ":", "+", "?", "'"),
    "una-other": ("UNA*|.! #", "*", "|", "!", "#"),
    "no-release": ("UNA:+.  '", ":", "+", None, "'"),
}
# Stand-ins in generated values for released characters, replaced when the segment is written.
R_ELEM, R_COMP, R_TERM, R_REL = "\x01", "\x02", "\x03", "\x04"
_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-/()=" + "a" + "\xe9" + R_ELEM + R_COMP + R_TERM + R_REL
_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ ." + "a"
_BAD_NUMBER = st.from_regex(r"-?[.,]?[0-9]{0,4}[.,A -]{0,2}[0-9]{0,3}", fullmatch=True)


@st.composite
def _numbers(draw: st.DrawFn, lo: int, hi: int) -> str:
    n = draw(st.integers(lo, min(hi, 25)))
    digits = draw(st.text(alphabet="0123456789", min_size=n, max_size=n))
    if n > 1 and draw(st.booleans()):
        k = draw(st.integers(1, n - 1))
        digits = digits[:k] + draw(st.sampled_from(".,")) + digits[k:]
    return ("-" if draw(st.booleans()) else "") + digits


def _values(e: ElementDef, codes: tuple[str, ...] | frozenset[str] | None) -> st.SearchStrategy[str]:
    lo, hi = max(e.min, 1), e.max
    if e.type == "n":
        well_formed = _numbers(lo, hi)
        edges = st.sampled_from(["9" * hi, "9" * (hi + 1), "1" * max(lo - 1, 0), "1." + "0" * (hi - 1)])
    else:
        well_formed = st.text(alphabet=_ALPHA if e.type == "a" else _TEXT, min_size=lo, max_size=min(hi, 40))
        edges = st.sampled_from(["A" * hi, "A" * (hi + 1), "A" * max(lo - 1, 0), "A" * (hi - 1) + R_REL,
                                 "A" * hi + R_COMP])
    options = [well_formed, st.just(""), edges, st.text(alphabet=_TEXT, max_size=min(hi, 40) + 3)]
    if e.type == "n":
        options.append(_BAD_NUMBER)
    if codes:
        options = [st.sampled_from(sorted(codes))] * 3 + options
    return st.one_of(options)


@st.composite
def segment_cases(draw: st.DrawFn, tags: list[str] | None = None,
                  guides: list[str | None] | None = None) -> tuple[str, str | None, str, str]:
    """(tag, guide id, delimiter set, segment text without terminator)."""
    guide_id = draw(st.sampled_from(guides if guides is not None else list(GUIDES)))
    pool = tags or sorted(D95B.segments)
    tag = draw(st.sampled_from(pool))
    delims = draw(st.sampled_from(sorted(DELIMITERS)))
    _una, comp, elem, rel, _term = DELIMITERS[delims]
    guide = GUIDES[guide_id]
    sdef = D95B.segments[tag]
    rules = guide.element_rules(sdef) if guide is not None else {}

    def codes(e: ElementDef, pos: int, cpos: int | None) -> Any:
        rule = rules.get((pos, cpos))
        if rule is not None and rule.codes is not None:
            return rule.codes
        return e.codes

    generic = ElementDef("XXXX", "extra", "an", 1, 3, None)
    elements: list[list[str]] = []
    for pos in range(1, draw(st.integers(0, len(sdef.elements) + 1)) + 1):
        if pos > len(sdef.elements):
            elements.append([draw(_values(generic, None))])
            continue
        defn = sdef.elements[pos - 1][0]
        if isinstance(defn, ElementDef):
            comps = [draw(_values(defn, codes(defn, pos, None)))]
            if draw(st.integers(0, 9)) == 0:
                comps.append(draw(_values(generic, None)))  # a component in a simple element
        else:
            assert isinstance(defn, CompositeDef)
            comps = []
            for k in range(draw(st.integers(0, len(defn.components) + 1))):
                e = defn.components[k][0] if k < len(defn.components) else generic
                comps.append(draw(_values(e, codes(e, pos, k + 1))))
        elements.append(comps)
    text = elem.join([tag, *(comp.join(c) for c in elements)])
    if rel is None:
        for stand_in in (R_ELEM, R_COMP, R_TERM, R_REL):
            text = text.replace(stand_in, "R")
    else:
        term = DELIMITERS[delims][4]
        text = (text.replace(R_ELEM, rel + elem).replace(R_COMP, rel + comp).replace(R_TERM, rel + term)
                .replace(R_REL, rel + rel))
    return tag, guide_id, delims, text


_DECIMALS = "decimal_marks" in inspect.signature(Directory.segment_check).parameters


def compiled(tag: str, guide_id: str | None, delims: str, text: str) -> tuple[Scan, SegmentCheck]:
    una, comp, elem, _rel, term = DELIMITERS[delims]
    head = f"{una}UNB{elem}UNOC{comp}3{elem}A{elem}B{elem}251127{comp}0815{elem}1{term}"
    [sc] = scan((head + text + term).encode("latin-1"))
    assert len(sc.segments) == 2, sc.segments
    check = D95B.segment_check(tag, sc.delimiters, sc.neutral, GUIDES[guide_id])
    assert check is not None
    return sc, check


def walk_errors(sc: Scan, check: SegmentCheck) -> list[Any]:
    return [i for i in check.issues(sc.elements(1), sc.unescape) if i[0].value.severity is Severity.ERROR]


def fast_path_hides(case: tuple[str, str | None, str, str]) -> list[Any]:
    """The walk's errors on a segment the regex accepts (none when the regex refuses it)."""
    sc, check = compiled(*case)
    if not check.regex.fullmatch(sc.segments[1]):
        event("regex refuses")
        return []
    event("regex accepts")
    return walk_errors(sc, check)


@settings(max_examples=examples(800), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_cases())
def test_segment_regex_never_hides_a_walk_error(case: tuple[str, str | None, str, str]) -> None:
    note(repr(case))
    assert fast_path_hides(case) == []


def test_segment_generator_reaches_both_sides() -> None:
    """The property above is not vacuous: the generator makes segments the regex accepts with several
    elements, and segments it refuses that the walk finds wrong."""
    def accepted(case: Any) -> bool:
        sc, check = compiled(*case)
        return bool(check.regex.fullmatch(sc.segments[1])) and case[3].count(DELIMITERS[case[2]][2]) >= 2

    def refused_with_error(case: Any) -> bool:
        sc, check = compiled(*case)
        return not check.regex.fullmatch(sc.segments[1]) and bool(walk_errors(sc, check))

    fast = settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate])
    find(segment_cases(guides=["SMDG22"], tags=["LOC", "MEA", "FTX"]), accepted, settings=fast)
    find(segment_cases(tags=["DTM", "MEA", "TDT"]), refused_with_error, settings=fast)


@settings(max_examples=examples(300), deadline=None)
@given(segment_cases(tags=["EQD"], guides=["SMDG22", "SMDG20"]))
def test_segment_regex_eqd_under_smdg_guides(case: tuple[str, str | None, str, str]) -> None:
    """Fixed: SMDG2x give EQD C237/8260 the pattern '[^ ]+', which the segment regex embedded as-is;
    it matched separators, so anything after EQD+xx+ passed the fast path (shrunk: EQD+BB+:AAAA)."""
    note(repr(case))
    assert fast_path_hides(case) == []


def test_superscript_digits_are_not_edifact_digits() -> None:
    """Only 0-9 are digits to the format checks, in the regex and in the walk alike: 'AB\xb2' is
    alphabetic (an a..n value) for both, where str.isdigit() once made the walk disagree."""
    sc, check = compiled("NAT", None, "level-a", "NAT+2+:::AB\xb2")
    assert check.regex.fullmatch(sc.segments[1])
    assert not walk_errors(sc, check)


@pytest.mark.parametrize("case", [
    # fixed: the SMDG2x pattern '[^ ]+' of EQD C237/8260 crossed separators in the fast regex
    pytest.param(("EQD", "SMDG22", "level-a", "EQD+CN+AMLU4571202+45G1+++7"), id="eqd-8169-code-smdg22"),
    pytest.param(("EQD", "SMDG22", "level-a", "EQD+BB+:AAAA"), id="eqd-shrunk-by-hypothesis-smdg22"),
    pytest.param(("EQD", "SMDG22", "level-a", "EQD+CN+A+XX+9+9+9+9"), id="eqd-everything-smdg22"),
    pytest.param(("EQD", "SMDG20", "level-a", "EQD+CN+" + "A" * 18 + "+45G1+++5"), id="eqd-too-long-smdg20"),
    pytest.param(("EQD", None, "level-a", "EQD+CN+AMLU4571202+45G1+++7"), id="eqd-8169-code-no-guide"),
    pytest.param(("DTM", None, "level-a", "DTM+137:2511261030:201+X"), id="dtm-extra-element"),
])
def test_segment_regex_known_examples(case: tuple[str, str | None, str, str]) -> None:
    sc, check = compiled(*case)
    assert walk_errors(sc, check), "the walk must find the error the example carries"
    assert not check.regex.fullmatch(sc.segments[1])


# --- (b) the structure regex never hides an issue of the structure walk ---------------------------

def _gen_table(draw: st.DrawFn, group: GroupRef, out: list[str], depth: int) -> None:
    for item in group.items:
        lo = 1 if item.mandatory else 0
        hi = max(lo, min(item.max, 3 if depth < 2 else 1))
        for _ in range(draw(st.integers(lo, hi))):
            if len(out) > 150:
                return
            if isinstance(item, SegmentRef):
                out.append(item.tag)
            else:
                _gen_table(draw, item, out, depth + 1)


def _alphabet(group: GroupRef) -> set[str]:
    tags: set[str] = set()
    for item in group.items:
        tags |= {item.tag} if isinstance(item, SegmentRef) else _alphabet(item)
    return tags


@st.composite
def tag_sequences(draw: st.DrawFn) -> tuple[str, list[str]]:
    message = draw(st.sampled_from(["BAPLIE", "CUSCAR", "COARRI", "CODECO", "MOVINS", "COPRAR", "IFTMIN",
                                    "IFTSTA", "INVRPT", "DELFOR"] if draw(st.booleans())
                                   else sorted(D95B.messages)))
    table = D95B.messages[message]
    tags: list[str] = []
    _gen_table(draw, table, tags, 0)
    alphabet = sorted(_alphabet(table)) + ["XYZ", "UNS"]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "insert", "repeat", "swap"]))
        k = draw(st.integers(0, max(len(tags) - 1, 0)))
        if op == "insert" or not tags:
            tags.insert(k, draw(st.sampled_from(alphabet)))
        elif op == "delete":
            del tags[k]
        elif op == "repeat":
            tags.insert(k, tags[k])
        else:
            j = draw(st.integers(0, len(tags) - 1))
            tags[k], tags[j] = tags[j], tags[k]
    return message, tags


@settings(max_examples=examples(500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tag_sequences())
def test_structure_regex_never_hides_a_walk_issue(case: tuple[str, list[str]]) -> None:
    message, tags = case
    note(f"{message}: {' '.join(tags)}")
    if not D95B.structure_regex(message).fullmatch("".join(tags)):
        event("regex refuses")
        return
    event("regex accepts")
    issues = StructureWalk(D95B.messages[message], D95B.segments).walk(tags)
    assert [(i.index, i.tag, i.code.ident) for i in issues] == []


def test_structure_generator_reaches_both_sides() -> None:
    fast = settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate])

    def regex_accepts(case: tuple[str, list[str]]) -> bool:
        return len(case[1]) > 10 and bool(D95B.structure_regex(case[0]).fullmatch("".join(case[1])))

    def walk_objects(case: tuple[str, list[str]]) -> bool:
        return bool(StructureWalk(D95B.messages[case[0]], D95B.segments).walk(case[1]))

    find(tag_sequences(), regex_accepts, settings=fast)
    find(tag_sequences(), walk_objects, settings=fast)


# --- (c) fuzz: real samples, mutated --------------------------------------------------------------

_FUZZ_BASES = [(SAMPLES / f).read_bytes() for f in ("baplie-smdg22.edi", "cuscar-d95b.edi", "iftmin-d96a.edi",
                                                      "coarri-d95b.edi", "codeco-d95b.edi")]


def _fuzz_bases() -> list[bytes]:
    return [*_FUZZ_BASES, bayplan(12, 2, 5)]


_Edit = tuple[str, int, int]


def _apply(data: bytes, edits: list[_Edit]) -> bytes:
    buf = bytearray(data)
    for kind, where, arg in edits:
        if not buf:
            break
        at = where % len(buf)
        if kind == "flip":
            buf[at] ^= 1 << (arg % 8)
        elif kind == "delete":
            del buf[at:at + 1 + arg % 3]
        else:
            buf[at:at] = b"'+:?"[arg % 4:arg % 4 + 1]
    return bytes(buf)


_edits = st.lists(st.tuples(st.sampled_from(["flip", "delete", "insert"]), st.integers(0, 10**9),
                            st.integers(0, 255)), min_size=1, max_size=8)


@pytest.mark.fuzz
@settings(max_examples=examples(2000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 5), _edits)
def test_fuzz_mutated_samples(base: int, edits: list[_Edit]) -> None:
    data = _apply(_fuzz_bases()[base], edits)
    check_report(data)
