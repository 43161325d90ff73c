"""Valid interchanges broken in one place each: the validator must name that place and nothing else.

Each base file (two of our samples, a generated bayplan with two messages, one accepted corpus bayplan)
gets each applicable mutation. The mutated file must be rejected with exactly one error: the expected
issue code (and so the expected UN/EDIFACT 0085 code), in the expected message, at the expected segment
position (UNH = 1), tag, element and component, with a byte offset that points at that segment. Where
a mutation adds or removes segments the UNT counts are put right, so only the intended error remains.

The CONTRL built from each report must reject the same thing at the same place (UCI for interchange
errors, UCM for UNH/UNT errors, UCS + UCD for the others; UCD 0098 = element + 1, see contrl.py), and
the `hub` command must print the documented JSON and exit with the documented status.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydifact.parser import Parser

from hub.cli import main as hub_main
from hub.edifact import validate
from hub.edifact.contrl import build_contrl
from hub.report import Code, Report, Severity
from tests.edifact.edi_files import BASES, SAMPLES, Base, Edi

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Known defects: each case that hits one is xfail(strict=True), so it turns red once fixed.


@dataclass(frozen=True)
class Expect:
    code: Code
    index: int  # index of the segment in the mutated file (for the offset check)
    segment: int | None  # UNH = 1; None for an interchange-level issue
    tag: str
    element: int | None = None
    component: int | None = None

    @property
    def level(self) -> str:
        return "interchange" if self.segment is None else "message"

    def row(self) -> tuple[Any, ...]:
        return (self.code.ident, self.code.edifact_code, self.segment, self.tag, self.element,
                self.component)


Span = tuple[int, int]
Mutate = Callable[[Edi, Span], Expect]


def _pos(m: Span, i: int) -> int:
    return i - m[0] + 1


def _cell(e: Edi, m: Span) -> int:
    """The first LOC+147 (stowage cell, trigger of BAPLIE segment group 2)."""
    return next(i for i in range(m[0], m[1]) if e.segments[i].startswith("LOC+147+"))


# --- the mutations --------------------------------------------------------------------------------


def unt_count(e: Edi, m: Span) -> Expect:
    e.set(m[1], 1, None, str(int(e.get(m[1], 1)) + 1))
    return Expect(Code.COUNT_MISMATCH, m[1], _pos(m, m[1]), "UNT", 1)


def unt_reference(e: Edi, m: Span) -> Expect:
    ref = e.get(m[1], 2)
    e.set(m[1], 2, None, ref[:-1] + ("X" if ref[-1] != "X" else "Y"))
    return Expect(Code.REFERENCE_MISMATCH, m[1], _pos(m, m[1]), "UNT", 2)


def unz_count(e: Edi, m: Span) -> Expect:
    unz = len(e.segments) - 1
    assert e.tag(unz) == "UNZ"
    e.set(unz, 1, None, str(int(e.get(unz, 1)) + 1))
    return Expect(Code.COUNT_MISMATCH, unz, None, "UNZ", 1)


def drop_bgm(e: Edi, m: Span) -> Expect:
    i = e.find("BGM", m)
    del e.segments[i]
    e.fix_counts()
    return Expect(Code.MISSING_SEGMENT, i, _pos(m, i), "BGM")


def drop_group_rff(e: Edi, m: Span) -> Expect:
    """BAPLIE segment group 2 requires one RFF (the B/L, `RFF+BM`) per container."""
    i = e.find("RFF", m, after=_cell(e, m))
    del e.segments[i]
    e.fix_counts()
    return Expect(Code.MISSING_SEGMENT, i, _pos(m, i), "RFF")


def unknown_tag_after_bgm(e: Edi, m: Span) -> Expect:
    i = e.find("BGM", m) + 1
    e.segments.insert(i, "XYZ+1")
    e.fix_counts()
    return Expect(Code.UNKNOWN_SEGMENT, i, _pos(m, i), "XYZ")


def unknown_tag_in_group(e: Edi, m: Span) -> Expect:
    i = e.find("EQD", m) + 1
    e.segments.insert(i, "XYZ+1")
    e.fix_counts()
    return Expect(Code.UNKNOWN_SEGMENT, i, _pos(m, i), "XYZ")


def duplicate_message_reference(e: Edi, m: Span) -> Expect:
    """The last message takes the reference of the first one (UNH and UNT alike)."""
    first = e.messages()[0]
    assert first != m, "needs two messages"
    ref = e.get(first[0], 1)
    e.set(m[0], 1, None, ref)
    e.set(m[1], 2, None, ref)
    return Expect(Code.DUPLICATE_REFERENCE, m[0], 1, "UNH", 1)


def too_long_element(e: Edi, m: Span) -> Expect:
    i = e.find("BGM", m)  # 1004 document number, an..35
    e.set(i, 2, None, (e.get(i, 2) + "X" * 36)[:36])
    return Expect(Code.TOO_LONG, i, _pos(m, i), "BGM", 2)


def too_long_component(e: Edi, m: Span) -> Expect:
    i = e.find("LOC", m)  # C517/3225 place identification, an..25
    e.set(i, 2, 1, (e.get(i, 2, 1) + "X" * 26)[:26])
    return Expect(Code.TOO_LONG, i, _pos(m, i), "LOC", 2, 1)


def letter_in_numeric(e: Edi, m: Span) -> Expect:
    i = e.find("MEA", m)  # C174/6314 measurement value, n..18
    value = e.get(i, 3, 2)
    assert value.isdigit() and len(value) > 1
    e.set(i, 3, 2, value[0] + "A" + value[2:])
    return Expect(Code.INVALID_CHARACTER_TYPE, i, _pos(m, i), "MEA", 3, 2)


def invalid_code(e: Edi, m: Span) -> Expect:
    i = e.find("FTX", m)  # 4453 text subject usage, codes 1-4, no guide rule
    e.set(i, 2, None, "9")
    return Expect(Code.INVALID_CODE, i, _pos(m, i), "FTX", 2)


def invalid_guide_code(e: Edi, m: Span) -> Expect:
    i = e.find("FTX", m)  # 4451: AAB is a UN code, not one the SMDG guides allow
    e.set(i, 1, None, "AAB")
    return Expect(Code.GUIDE_INVALID_VALUE, i, _pos(m, i), "FTX", 1)


def invalid_equipment_status(e: Edi, m: Span) -> Expect:
    i = e.find("EQD", m)  # 8249 equipment status, codes 1-6, no guide rule
    e.set(i, 5, None, "9")
    return Expect(Code.INVALID_CODE, i, _pos(m, i), "EQD", 5)


def too_long_container_number(e: Edi, m: Span) -> Expect:
    i = e.find("EQD", m)  # C237/8260 equipment identification number, an..17
    e.set(i, 2, 1, (e.get(i, 2, 1) + "X" * 18)[:18])
    return Expect(Code.TOO_LONG, i, _pos(m, i), "EQD", 2, 1)


def lower_case_in_component(e: Edi, m: Span) -> Expect:
    i = e.find("FTX", m)  # C108/4440 free text
    e.set(i, 4, 1, "remark in lower case")
    return Expect(Code.INVALID_CHARACTER, i, _pos(m, i), "FTX", 4, 1)


def lower_case_in_simple_element(e: Edi, m: Span) -> Expect:
    i = e.find("BGM", m)
    value = e.get(i, 2)
    k = next(k for k, ch in enumerate(value) if ch.isalpha())
    e.set(i, 2, None, value[:k] + value[k].lower() + value[k + 1:])
    return Expect(Code.INVALID_CHARACTER, i, _pos(m, i), "BGM", 2)


def too_many_elements(e: Edi, m: Span) -> Expect:
    i = e.find("DTM", m)  # one element, C507
    e.segments[i] += "+X"
    return Expect(Code.TOO_MANY_ELEMENTS, i, _pos(m, i), "DTM", 2)


def missing_element(e: Edi, m: Span) -> Expect:
    i = e.find("LOC", m)  # 3227 mandatory
    e.set(i, 1, None, "")
    return Expect(Code.MISSING_ELEMENT, i, _pos(m, i), "LOC", 1)


def missing_component(e: Edi, m: Span) -> Expect:
    i = e.find("RFF", m)  # C506/1153 mandatory in its mandatory composite
    e.set(i, 1, 1, "")
    return Expect(Code.MISSING_COMPONENT, i, _pos(m, i), "RFF", 1, 1)


def repeated_bgm(e: Edi, m: Span) -> Expect:
    i = e.find("BGM", m)
    e.segments.insert(i + 1, e.segments[i])
    e.fix_counts()
    return Expect(Code.TOO_MANY_SEGMENT_REPETITIONS, i + 1, _pos(m, i + 1), "BGM")


def repeated_group_rff(e: Edi, m: Span) -> Expect:
    i = e.find("RFF", m, after=_cell(e, m))  # M1 in BAPLIE segment group 2
    e.segments.insert(i + 1, e.segments[i])
    e.fix_counts()
    return Expect(Code.TOO_MANY_SEGMENT_REPETITIONS, i + 1, _pos(m, i + 1), "RFF")


@dataclass(frozen=True)
class Mutation:
    id: str
    apply: Mutate
    only: str | None = None  # message type it applies to
    bases: tuple[str, ...] | None = None  # the bases it applies to (default: all)
    guided: bool | None = None  # only for guided (True) / unguided (False) bases
    xfail_guided: str | None = None  # reason, for bases with a guide
    xfail: str | None = None  # reason, for every base


MUTATIONS = [
    Mutation("unt-count", unt_count),
    Mutation("unt-reference", unt_reference),
    Mutation("unz-count", unz_count),
    Mutation("duplicate-message-reference", duplicate_message_reference, bases=("bayplan-50",)),
    Mutation("missing-bgm", drop_bgm),
    Mutation("missing-group-rff", drop_group_rff, only="BAPLIE"),
    Mutation("unknown-tag-after-bgm", unknown_tag_after_bgm),
    Mutation("unknown-tag-in-group", unknown_tag_in_group),
    Mutation("too-long-element", too_long_element),
    Mutation("too-long-component", too_long_component),
    Mutation("letter-in-numeric", letter_in_numeric),
    Mutation("invalid-code", invalid_code),
    Mutation("invalid-guide-code", invalid_guide_code, guided=True),
    Mutation("invalid-equipment-status", invalid_equipment_status),
    Mutation("too-long-container-number", too_long_container_number),
    Mutation("lower-case-in-component", lower_case_in_component),
    Mutation("lower-case-in-simple-element", lower_case_in_simple_element),
    Mutation("too-many-elements", too_many_elements),
    Mutation("missing-element", missing_element),
    Mutation("missing-component", missing_component),
    Mutation("repeated-bgm", repeated_bgm),
    Mutation("repeated-group-rff", repeated_group_rff, only="BAPLIE"),
]


def _cases() -> list[Any]:
    cases = []
    for base in BASES:
        for mut in MUTATIONS:
            if mut.only not in (None, base.message) or mut.guided not in (None, base.guided):
                continue
            if mut.bases is not None and base.id not in mut.bases:
                continue
            marks: list[Any] = []
            if not base.available:
                marks.append(pytest.mark.skip(reason="corpus not present"))
            reason = mut.xfail or (mut.xfail_guided if base.guided else None)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cases.append(pytest.param(base, mut, id=f"{base.id}-{mut.id}", marks=marks))
    return cases


CASES = _cases()


@dataclass
class Case:
    data: bytes
    expect: Expect
    ref: str  # the mutated message's reference, as written after the mutation
    report: Report


@functools.cache
def mutated(base: Base, mutation: Mutation) -> Case:
    edi = Edi.parse(base.data())
    m = edi.messages()[-1]  # the last message: in the bayplan, one that does not start the file
    expect = mutation.apply(edi, m)
    ref = edi.get(m[0], 1) if m[0] < len(edi.segments) and edi.tag(m[0]) == "UNH" else ""
    data = edi.to_bytes()
    assert data != base.data()
    return Case(data, expect, ref, validate(data))


def test_bases_are_accepted() -> None:
    for base in BASES:
        if base.available:
            report = validate(base.data())
            assert report.accepted, (base.id, report.render())
            assert Edi.parse(base.data()).to_bytes() == base.data(), base.id


@pytest.mark.parametrize(("base", "mutation"), CASES)
def test_mutation_is_caught_in_its_place(base: Base, mutation: Mutation) -> None:
    case = mutated(base, mutation)
    report, expect = case.report, case.expect
    assert not report.accepted
    errors = [i for i in report.all_issues() if i.severity is Severity.ERROR]
    got = [(i.code.ident, i.code.edifact_code, i.segment, i.tag, i.element, i.component) for i in errors]
    assert got == [expect.row()]
    [issue] = errors
    assert not report.issues, "file-level issues"
    [ic] = report.interchanges
    message = ic.messages[-1]  # the mutations break the last message
    assert message.ref == case.ref
    if expect.level == "interchange":
        assert issue in ic.issues
        assert all(m.accepted for m in ic.messages)
    else:
        assert issue in message.issues and not message.accepted
        assert all(m.accepted for m in ic.messages if m is not message)
    # The byte offset lies in the segment the issue names (for a missing segment: the next one);
    # whether it is that segment's first byte is test_character_issue_offset_is_the_segment_start.
    edi = Edi.parse(case.data)
    start = edi.offsets()[expect.index]
    assert issue.offset is not None
    assert start <= issue.offset < start + len(edi.segments[expect.index])
    if expect.code is not Code.INVALID_CHARACTER:
        assert issue.offset == start


def test_character_issue_offset_is_the_offending_character() -> None:
    base = next(b for b in BASES if b.id == "cuscar-d95b")
    case = mutated(base, next(m for m in MUTATIONS if m.id == "lower-case-in-component"))
    [issue] = case.report.all_issues()
    # Documented in report.Issue: character-level issues point at the character itself.
    assert issue.offset is not None
    start = Edi.parse(case.data).offsets()[case.expect.index]
    assert issue.offset > start
    assert case.data[issue.offset:issue.offset + 1].islower()


def test_empty_composite_with_too_many_components() -> None:
    edi = Edi.parse(next(b for b in BASES if b.id == "cuscar-d95b").data())
    m = edi.messages()[0]
    i = edi.find("FTX", m)
    edi.segments[i] = "FTX+AAA+++:::::::"
    report = validate(edi.to_bytes())
    got = [(x.code, x.segment, x.element, x.component) for x in report.all_issues()
           if x.severity is Severity.ERROR]
    assert got == [(Code.TOO_MANY_COMPONENTS, i - m[0] + 1, 4, 6)]


# --- the CONTRL answer ----------------------------------------------------------------------------


def parse_edifact(data: bytes) -> list[tuple[str, list[Any]]]:
    return [(s.tag, s.elements) for s in Parser().parse(data.decode("latin-1"))]


def s011(element: int | None, component: int | None) -> Any:
    """How pydifact gives back the UCD/UCM/UCI position: '3' alone, or ['3', '1']."""
    assert element is not None
    return str(element + 1) if component is None else [str(element + 1), str(component)]


@pytest.mark.parametrize(("base", "mutation"), CASES)
def test_contrl_rejects_at_the_same_place(base: Base, mutation: Mutation) -> None:
    case = mutated(base, mutation)
    expect = case.expect
    out = build_contrl(case.report, our_id="HUB", control_ref="1", now=NOW)
    assert out is not None
    segments = parse_edifact(out)
    tags = [t for t, _ in segments]
    assert tags[:3] == ["UNA", "UNB", "UNH"] and tags[-2:] == ["UNT", "UNZ"]
    assert segments[2][1][1][0] == "CONTRL"
    answer = validate(out)  # the hub's CONTRL passes the hub's own validator (SERVICE3 CONTRL)
    assert answer.accepted, answer.render()
    [uci] = [els for t, els in segments if t == "UCI"]
    [ic] = case.report.interchanges
    assert uci[0] == ic.control_ref
    code = str(expect.code.edifact_code)

    if expect.level == "interchange":
        assert uci[3:] == ["4", code, expect.tag, s011(expect.element, expect.component)]
        assert "UCS" not in tags and "UCD" not in tags
        return

    assert uci[3:] == ["7"]
    ucms = [(k, els) for k, (t, els) in enumerate(segments) if t == "UCM"]
    assert [els[0] for _, els in ucms] == [m.ref for m in ic.messages]
    for n, (k, ucm) in enumerate(ucms):
        if n < len(ucms) - 1:
            assert ucm[2:] == ["7"]  # the untouched first message of the bayplan
            continue
        end = next(j for j in range(k + 1, len(segments)) if segments[j][0] in ("UCM", "UNT"))
        detail = segments[k + 1:end]
        if expect.tag in ("UNH", "UNT"):
            assert ucm[2:] == ["4", code, expect.tag, s011(expect.element, expect.component)]
            assert detail == []
        elif expect.element is None:
            assert ucm[2:] == ["4"]
            assert detail == [("UCS", [str(expect.segment), code])]
        else:
            assert ucm[2:] == ["4"]
            assert detail == [("UCS", [str(expect.segment)]),
                              ("UCD", [code, s011(expect.element, expect.component)])]


@pytest.mark.parametrize("data", [
    b"UNB+UNOA:2+S:ZZZ+R:ZZZ+251127:0815'UNH+1+CUSCAR:D:95B:UN'BGM+85+X+9'UNT+3+1'UNZ+1'",
    b"UNB+UNOA:2+S:ZZZ'UNH+1+CUSCAR:D:95B:UN'BGM+85+X+9'UNT+3+1'UNZ+1+1'",
], ids=["no-control-reference", "no-recipient"])
def test_contrl_for_an_incomplete_unb_is_valid_or_absent(data: bytes) -> None:
    out = build_contrl(validate(data), our_id="HUB", control_ref="1", now=NOW)
    assert out is None or validate(out).accepted


# --- the command line -----------------------------------------------------------------------------

FILE_KEYS = {"file", "syntax", "accepted", "issues", "interchanges"}
INTERCHANGE_KEYS = {"sender", "recipient", "control_ref", "syntax_id", "syntax_version", "accepted", "issues",
                    "messages"}
MESSAGE_KEYS = {"ref", "type", "version", "release", "agency", "assoc", "accepted", "issues"}
ISSUE_KEYS = {"code", "edifact_code", "severity", "segment", "tag", "element", "component", "offset",
              "message"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = hub_main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def check_issue(issue: dict[str, Any]) -> None:
    assert ISSUE_KEYS <= set(issue), set(issue)
    assert any(c.ident == issue["code"] for c in Code)
    assert issue["severity"] in ("error", "warning")
    assert isinstance(issue["message"], str) and issue["message"]
    for key in ("segment", "element", "component", "offset", "edifact_code"):
        assert issue[key] is None or isinstance(issue[key], int)


def check_json_line(line: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(line)
    assert FILE_KEYS <= set(doc), set(doc)
    assert doc["syntax"] == "edifact" and isinstance(doc["accepted"], bool)
    for issue in doc["issues"]:
        check_issue(issue)
    for ic in doc["interchanges"]:
        assert INTERCHANGE_KEYS <= set(ic), set(ic)
        for issue in ic["issues"]:
            check_issue(issue)
        for m in ic["messages"]:
            assert MESSAGE_KEYS <= set(m), set(m)
            for issue in m["issues"]:
                check_issue(issue)
    return doc


def write_case(tmp_path: Path, base_id: str, mutation_id: str) -> tuple[Path, Case]:
    base = next(b for b in BASES if b.id == base_id)
    mutation = next(m for m in MUTATIONS if m.id == mutation_id)
    case = mutated(base, mutation)
    path = tmp_path / f"{base_id}-{mutation_id}.edi"
    path.write_bytes(case.data)
    return path, case


def test_cli_json_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(SAMPLES / "baplie-smdg22.edi")
    status, out, _ = run_cli(capsys, "validate", "--format", "json", path)
    assert status == 0
    [line] = out.splitlines()
    doc = check_json_line(line)
    assert doc["file"] == path and doc["accepted"] is True and doc["issues"] == []
    [ic] = doc["interchanges"]
    assert {k: ic[k] for k in ("sender", "recipient", "control_ref", "syntax_id", "syntax_version")} == {
        "sender": "AMLTNG", "recipient": "MAPTMTOC", "control_ref": "AML2511260001", "syntax_id": "UNOA",
        "syntax_version": "2"}
    [m] = ic["messages"]
    assert {k: m[k] for k in MESSAGE_KEYS} == {
        "ref": "AMLBP000101", "type": "BAPLIE", "version": "D", "release": "95B", "agency": "UN",
        "assoc": "SMDG22", "accepted": True, "issues": []}


def test_cli_json_rejected_names_the_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, case = write_case(tmp_path, "baplie-smdg22", "letter-in-numeric")
    status, out, _ = run_cli(capsys, "validate", "--format", "json", str(path))
    assert status == 1
    [line] = out.splitlines()
    doc = check_json_line(line)
    assert doc["accepted"] is False
    [ic] = doc["interchanges"]
    assert ic["accepted"] is False
    [m] = ic["messages"]
    [issue] = m["issues"]
    e = case.expect
    assert (issue["code"], issue["edifact_code"], issue["severity"], issue["segment"], issue["tag"],
            issue["element"], issue["component"]) == (e.code.ident, 37, "error", e.segment, e.tag, 3, 2)
    assert case.data[issue["offset"]:].startswith(b"MEA+")


def test_cli_json_lines_one_per_file_and_worst_status(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad, _ = write_case(tmp_path, "cuscar-d95b", "unz-count")
    good = SAMPLES / "cuscar-d95b.edi"
    status, out, _ = run_cli(capsys, "validate", "--format", "json", str(good), str(bad))
    assert status == 1
    docs = [check_json_line(line) for line in out.splitlines()]
    assert [(d["file"], d["accepted"]) for d in docs] == [(str(good), True), (str(bad), False)]
    [issue] = docs[1]["interchanges"][0]["issues"]
    assert (issue["code"], issue["edifact_code"], issue["tag"], issue["element"]) == ("count-mismatch", 29,
                                                                                      "UNZ", 1)


def test_cli_folder_is_walked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_case(tmp_path, "cuscar-d95b", "missing-bgm")
    (tmp_path / "notes.txt").write_text("not an interchange")
    status, out, _ = run_cli(capsys, "validate", "--format", "json", str(tmp_path))
    assert status == 1
    [doc] = [check_json_line(line) for line in out.splitlines()]
    assert doc["file"].endswith("cuscar-d95b-missing-bgm.edi")


@pytest.mark.parametrize("argv", [
    ["validate", "--format", "json", "{missing}"],
    ["validate", "--format", "json", "{good}", "{missing}"],
    ["validate", "--format", "json", "{missing}", "{bad}"],
    ["validate", "{dangling}"],
    ["validate"],
    ["validate", "--format", "xml", "{good}"],
    ["frobnicate", "{good}"],
    [],
    ["contrl", "{missing}"],
    ["contrl"],
], ids=["missing", "good+missing", "missing+rejected", "dangling-symlink", "no-path", "bad-format",
        "bad-command", "no-command", "contrl-missing", "contrl-no-path"])
def test_cli_usage_errors_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad, _ = write_case(tmp_path, "cuscar-d95b", "unt-count")
    (tmp_path / "dangling.edi").symlink_to(tmp_path / "nowhere.edi")
    names = {"missing": str(tmp_path / "missing.edi"), "good": str(SAMPLES / "cuscar-d95b.edi"),
             "bad": str(bad), "dangling": str(tmp_path / "dangling.edi")}
    status, out, err = run_cli(capsys, *(a.format(**names) for a in argv))
    assert status == 2
    assert err
    if "{good}" in argv and argv[0] == "validate" and "xml" not in argv:
        assert '"accepted": true' in out  # the readable file is still reported


@pytest.mark.parametrize(("base_id", "mutation_id"), [
    ("baplie-smdg22", None), ("cuscar-d95b", "too-long-element"), ("cuscar-d95b", "unz-count")])
def test_cli_contrl(base_id: str, mutation_id: str | None, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    if mutation_id is None:
        path, accepted = SAMPLES / f"{base_id}.edi", True
    else:
        path, _ = write_case(tmp_path, base_id, mutation_id)
        accepted = False
    status, out, _ = run_cli(capsys, "contrl", "--our-id", "HUB", "--control-ref", "7", str(path))
    assert status == (0 if accepted else 1)
    segments = parse_edifact(out.strip().encode("latin-1"))
    tags = [t for t, _ in segments]
    assert tags[:3] == ["UNA", "UNB", "UNH"] and tags[-2:] == ["UNT", "UNZ"]
    unb = segments[1][1]
    assert unb[1] == "HUB" and unb[4] == "7"
    assert segments[2][1][1][0] == "CONTRL"
    [uci] = [els for t, els in segments if t == "UCI"]
    report = validate(path.read_bytes())
    assert uci[0] == report.interchanges[0].control_ref
    if mutation_id == "unz-count":
        assert uci[3] == "4"
    else:
        assert uci[3] == "7"
        [ucm] = [els for t, els in segments if t == "UCM"]
        assert ucm[2] == ("7" if accepted else "4")


def test_cli_entry_point_subprocess(tmp_path: Path) -> None:
    """The installed `hub` script, as a partner's operator runs it."""
    hub = Path(sys.executable).parent / "hub"
    if not hub.exists():
        pytest.skip("the hub console script is not installed in this environment")
    bad, case = write_case(tmp_path, "baplie-smdg22", "missing-group-rff")
    good = SAMPLES / "baplie-smdg22.edi"
    ok = subprocess.run([str(hub), "validate", "--format", "json", str(good)], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert check_json_line(ok.stdout.strip())["accepted"] is True
    rejected = subprocess.run([str(hub), "validate", "--format", "json", str(bad)], capture_output=True,
                              text=True, timeout=120)
    assert rejected.returncode == 1, rejected.stderr
    [issue] = check_json_line(rejected.stdout.strip())["interchanges"][0]["messages"][0]["issues"]
    assert (issue["code"], issue["edifact_code"], issue["segment"], issue["tag"]) == (
        "missing-segment", 13, case.expect.segment, "RFF")
    missing = subprocess.run([str(hub), "validate", str(tmp_path / "nope.edi")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2
    contrl = subprocess.run([str(hub), "contrl", str(bad)], capture_output=True, timeout=120)
    assert contrl.returncode == 1
    assert b"UCS+" in contrl.stdout and b"CONTRL" in contrl.stdout
