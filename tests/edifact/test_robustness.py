"""Bad input of every shape gives a report, never an exception or a hang.

Truncation at every byte, binary junk, a 100 MB bayplan (time and peak memory measured in a clean child
process), a single 10 MB segment, broken or repeated UNA, mixed line endings, a BOM, whitespace and
nothing at all. Known defects are xfail(strict=True) tests of their own, so they stay visible and the
rest stays green.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.edifact import validate
from hub.edifact.contrl import build_contrl
from hub.report import Code, Report, Severity
from tests.edifact.edi_files import ROOT, SAMPLES, Edi, bayplan, split_unreleased

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")

CUSCAR = SAMPLES / "cuscar-d95b.edi"
BAPLIE = SAMPLES / "baplie-smdg22.edi"
IFTMIN = SAMPLES / "iftmin-d96a.edi"  # UNA, UNOC:3
MB = 1_000_000


def check(report: Report) -> Report:
    """What every report must allow: JSON, text, and a CONTRL (or None) without raising."""
    assert isinstance(report, Report)
    json.dumps(report.to_dict())
    assert isinstance(report.render(), str)
    for issue in report.all_issues():
        assert isinstance(issue.code, Code) and issue.message
        assert issue.offset is None or issue.offset >= 0
        assert issue.segment is None or issue.segment >= 1
    build_contrl(report, our_id="HUB", control_ref="1", now=datetime(2026, 1, 1, tzinfo=UTC))
    return report


def errors(report: Report) -> list[tuple[Any, ...]]:
    return [(i.code.ident, i.segment, i.tag, i.element, i.component) for i in report.all_issues()
            if i.severity is Severity.ERROR]


# --- truncation -----------------------------------------------------------------------------------


def _una_end(data: bytes) -> int:
    """Length of the UNA and the line break after it (0 without UNA)."""
    if not data.startswith(b"UNA"):
        return 0
    end = 9
    while data[end:end + 1] in (b"\r", b"\n"):
        end += 1
    return end


@pytest.mark.parametrize("path", [CUSCAR, BAPLIE, IFTMIN], ids=lambda p: p.stem)
def test_every_prefix_gives_a_report(path: Path) -> None:
    """Cut after every byte, the UNA included (iftmin has one)."""
    data = path.read_bytes()
    complete = len(data.rstrip())
    failures = []
    for n in range(len(data) + 1):
        try:
            report = check(validate(data[:n]))
        except Exception as e:  # noqa: BLE001 - every crash is collected and shown
            failures.append((n, data[max(0, n - 30):n], repr(e)))
            continue
        if n < complete:
            assert not report.accepted, (n, data[max(0, n - 30):n])
    assert failures == []


def test_prefix_inside_una() -> None:
    """Fixed: a file ending inside or right after its UNA (no segments) raised IndexError."""
    data = IFTMIN.read_bytes()
    assert _una_end(data) == 10
    for n in range(4, _una_end(data) + 1):
        report = check(validate(data[:n]))
        assert not report.accepted and report.all_issues()


def test_message_cut_short_is_not_also_outside_any_message() -> None:
    data = b"UNB+UNOA:2+A+B+251127:0815+1'UNH+1+CUSCAR:D:95B:UN'BGM+85+X+9'DTM+137:202511270815:203'"
    report = check(validate(data))
    assert Code.MISSING_UNT in {i.code for i in report.all_issues()}
    assert Code.SEGMENT_OUTSIDE_MESSAGE not in {i.code for i in report.all_issues()}


# --- junk -----------------------------------------------------------------------------------------


def _junk() -> list[Any]:
    rng = random.Random(9735)
    valid = CUSCAR.read_bytes()
    blobs = {
        "random-64k": rng.randbytes(65536),
        "all-bytes": bytes(range(256)) * 16,
        "nul": b"\0" * 4096,
        "ff": b"\xff" * 4096,
        "unb-then-random": b"UNB+UNOA:2+A+B+251127:0815+1'" + rng.randbytes(8192),
        "unh-then-random": b"UNH+" + rng.randbytes(8192),
        "una-then-random": b"UNA:+.? '" + rng.randbytes(8192),
        "una-control-characters": b"UNA\0\x01.\x02\x03\x04" + valid,
        "valid-with-random-middle": valid[:500] + rng.randbytes(300) + valid[500:],
        "valid-with-nul-middle": valid[:500] + b"\0" * 50 + valid[500:],
        "utf16": valid.decode("latin-1").encode("utf-16"),
        "only-terminators": b"'" * 5000,
        "only-separators": b"UNB" + b"+:" * 5000,
        "release-at-end": valid.rstrip() + b"?",
        "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "zip": b"PK\x03\x04" + rng.randbytes(1000),
        "xml-ish": b"UNB<?xml version='1.0'?><a>UNH</a>",
    }
    return [pytest.param(v, id=k) for k, v in blobs.items()]


@pytest.mark.parametrize("data", _junk())
def test_junk_is_rejected_with_a_report(data: bytes) -> None:
    report = check(validate(data))
    assert not report.accepted
    assert report.all_issues()


@pytest.mark.parametrize("data", [b"", b" ", b"\r\n", b"\n\n\t  \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"],
                         ids=["empty", "space", "crlf", "whitespace", "bom-only", "bom-whitespace"])
def test_empty_and_whitespace_only(data: bytes) -> None:
    report = check(validate(data))
    assert not report.accepted
    # A lone BOM is reported as not EDIFACT rather than empty; either says why, and nothing more.
    expected = {Code.EMPTY_INPUT} if not data.startswith(b"\xef") else {Code.EMPTY_INPUT, Code.NOT_EDIFACT}
    assert len(report.issues) == 1 and report.issues[0].code in expected
    assert report.interchanges == []


@pytest.mark.parametrize("trailer", [b"UNT+\xb2+CUS0001", b"UNT+" + b"9" * 4301 + b"+CUS0001",
                                     b"UNZ+\xb9+CUS2511270001"], ids=["unt-superscript", "unt-4301-digits",
                                                                      "unz-superscript"])
def test_count_that_is_no_ascii_number(trailer: bytes) -> None:
    data = CUSCAR.read_bytes()
    tag = trailer[:3]
    start = data.index(b"\n" + tag + b"+") + 1
    data = data[:start] + trailer + data[data.index(b"'", start):]
    report = check(validate(data))
    assert (Code.COUNT_MISMATCH.ident, tag.decode()) in {(i.code.ident, i.tag) for i in report.all_issues()}


def test_une_count_superscript() -> None:
    data = (b"UNB+UNOC:3+A+B+251127:0815+1'UNG+CUSCAR+A+B+251127:0815+G1+UN+D:95B'"
            b"UNH+1+CUSCAR:D:95B:UN'BGM+85+X+9'UNT+3+1'UNE+\xb2+G1'UNZ+1+1'")
    check(validate(data))


@pytest.mark.parametrize("release", [b"A" * 254, b"9" * 300, b"95B/../../x"], ids=["letters", "digits", "path"])
def test_overlong_message_release(release: bytes) -> None:
    """Fixed (found by atheris): the UNH release became a file name unchecked ('D' + release under
    schemas/edifact/), and 250+ characters raised OSError ENAMETOOLONG out of validate()."""
    data = (b"UNB+UNOA:2+A+B+251127:0815+1'UNH+1+CUSCAR:D:" + release
            + b":UN'BGM+85+X+9'UNT+3+1'UNZ+1+1'")
    report = check(validate(data))
    assert Code.UNSUPPORTED_MESSAGE in {i.code for i in report.all_issues()}


# --- UNA ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("una", [
    b"UNA++.? '", b"UNA::.? '", b"UNA:+.?''", b"UNA:+.::'", b"UNA:+.?++",  # a character twice
    b"UNAABCDEF", b"UNA:+.?A'", b"UNA1+.? '", b"UNA:+X? '",  # letters and digits
    b"UNA:+", b"UNA:+.", b"UNA:+.?",  # cut short, the UNB right after
], ids=["elem-twice", "comp-twice", "term-is-rep", "dec-is-comp", "elem-is-term", "letters", "letter-term",
        "digit-comp", "letter-decimal", "cut-2", "cut-3", "cut-4"])
def test_bad_una_is_reported(una: bytes) -> None:
    report = check(validate(una + CUSCAR.read_bytes()))
    assert not report.accepted
    assert Code.BAD_UNA in [i.code for i in report.issues]


@pytest.mark.parametrize("data", [b"UNA:+", b"UNA:+.? '", b"UNA:+.? '\n", b"UNA:+XYZ"],
                         ids=["cut-alone", "una-alone", "una-newline", "una-junk"])
def test_una_without_segments(data: bytes) -> None:
    """Fixed: no segments after the UNA made trailing_separators() index Scan.starts[0] of []."""
    report = check(validate(data))
    assert not report.accepted and report.all_issues()


def with_delimiters(data: bytes, una: str) -> bytes:
    """A level-A file (no UNA) rewritten with the service characters of `una` ('UNA:+.? \\'')."""
    comp, elem, _dec, rel, _rep, term = una[3:9]
    out = []
    for seg in Edi.parse(data).segments:
        elements = []
        for el in split_unreleased(seg, "+"):
            comps = []
            for c in split_unreleased(el, ":"):
                value = "".join(ch[-1] for ch in _atoms(c))
                comps.append("".join(rel + ch if ch in (comp, elem, rel, term) else ch for ch in value))
            elements.append(comp.join(comps))
        out.append(elem.join(elements) + term + "\n")
    return (una + "\n" + "".join(out)).encode("latin-1")


def _atoms(value: str) -> list[str]:
    atoms, i = [], 0
    while i < len(value):
        n = 2 if value[i] == "?" and i + 1 < len(value) else 1
        atoms.append(value[i:i + n])
        i += n
    return atoms


def test_una_with_other_delimiters_is_read() -> None:
    for path in (CUSCAR, BAPLIE):
        data = with_delimiters(path.read_bytes(), "UNA*|.! #")
        assert b"|" in data and b"'" in data  # the released apostrophes of the free texts are now plain
        report = check(validate(data))
        assert report.accepted, report.render()


def test_second_una_between_interchanges() -> None:
    first = b"UNA:+.? '\n" + CUSCAR.read_bytes()
    second = with_delimiters(BAPLIE.read_bytes(), "UNA*|.! #")
    report = check(validate(first + second))
    assert report.accepted, report.render()
    assert [ic.control_ref for ic in report.interchanges] == ["CUS2511270001", "AML2511260001"]
    # A second interchange after a UNA gets its own offsets, counted from the start of the file.
    bad = second.replace(b"BGM||ATLTNG0712N", b"BGM||ATLTNG0712N" + b"X" * 30)
    report = check(validate(first + bad))
    [issue] = [i for i in report.all_issues() if i.severity is Severity.ERROR]
    assert (issue.code, issue.segment, issue.tag, issue.element) == (Code.TOO_LONG, 2, "BGM", 2)
    assert issue.offset is not None and (first + bad)[issue.offset:].startswith(b"BGM||")


def test_una_inside_an_interchange() -> None:
    data = CUSCAR.read_bytes().replace(b"\nUNH+", b"\nUNA:+.? '\nUNH+", 1)
    report = check(validate(data))
    assert not report.accepted
    assert report.all_issues()


@pytest.mark.parametrize("text", [b"MERCE D?'UNA DITTA", b"DECISION PRISE A L?'UNANIMITE", b"A ??'UNA"],
                         ids=["it", "fr", "released-release"])
def test_released_apostrophe_before_una_text(text: bytes) -> None:
    """Fixed: a new UNA stretch began at any 'UNA' after an apostrophe, released or not, so free text
    such as D?'UNA (Italian d'una) split the interchange and a valid file was rejected."""
    if text.endswith(b"??'UNA"):  # here the apostrophe does end the segment: 'UNA' starts a new one
        data = CUSCAR.read_bytes().replace(b"FTX+AAA+++CANNED SARDINES IN OLIVE OIL", b"FTX+AAA+++" + text, 1)
        assert not check(validate(data)).accepted
        return
    data = CUSCAR.read_bytes().replace(b"FTX+AAA+++CANNED SARDINES IN OLIVE OIL", b"FTX+AAA+++" + text, 1)
    report = check(validate(data))
    assert report.accepted, errors(report)


# --- line endings, BOM ----------------------------------------------------------------------------


def _relined(data: bytes, endings: list[bytes]) -> bytes:
    segments = Edi.parse(data).segments
    return b"".join(s.encode("latin-1") + b"'" + endings[k % len(endings)] for k, s in enumerate(segments))


BAD_CUSCAR = CUSCAR.read_bytes().replace(b"SEL+MA0457120+CA", b"SEL+MA0457120XXXX+CA")  # 9308 an..10


@pytest.mark.parametrize("endings", [[b"\r\n"], [b"\r"], [b""], [b"\r\n", b"\n", b"\r", b""],
                                     [b"\n\n", b"\r\n\r\n", b"\n"]],
                         ids=["crlf", "cr", "none", "mixed", "blank-lines"])
def test_line_endings(endings: list[bytes]) -> None:
    for path in (CUSCAR, BAPLIE):
        report = check(validate(_relined(path.read_bytes(), endings)))
        assert report.accepted, (path.name, report.render())
    data = _relined(BAD_CUSCAR, endings)
    report = check(validate(data))
    assert errors(report) == [("too-long", 12, "SEL", 1, None)]
    [issue] = report.all_issues()
    assert issue.offset is not None and data[issue.offset:].startswith(b"SEL+MA0457120XXXX")


def test_line_number_with_cr_line_breaks() -> None:
    """Fixed: line numbers counted '\\n' only, so in a file with CR line breaks every issue was on line 1."""
    report = validate(_relined(BAD_CUSCAR, [b"\r"]))
    assert [i.line for i in report.all_issues()] == [validate(BAD_CUSCAR).all_issues()[0].line]


def test_utf8_bom() -> None:
    for path in (CUSCAR, BAPLIE, IFTMIN):
        report = check(validate(b"\xef\xbb\xbf" + path.read_bytes()))
        assert report.accepted, (path.name, report.render())
    data = b"\xef\xbb\xbf" + BAD_CUSCAR
    report = check(validate(data))
    assert errors(report) == [("too-long", 12, "SEL", 1, None)]
    [issue] = report.all_issues()
    assert issue.offset is not None and data[issue.offset:].startswith(b"SEL+MA0457120XXXX")


def test_offsets_after_released_characters_in_utf8() -> None:
    """Fixed: Scan.byte_offset encoded the neutralised text, where each released character is a 3-byte
    private-use code point in UTF-8, so offsets after one were 2 bytes too far (or past the end)."""
    data = (CUSCAR.read_bytes().replace(b"UNB+UNOA:2", b"UNB+UNOW:4")
            .replace(b"251127:0815", b"20251127:0815")  # n8 in syntax 4
            .replace(b"MEA+WT+G+KGM:16720", b"MEA+WT+G+KGM:1A720"))  # after NAD+CN ... L?'ATLAS
    report = check(validate(data))
    assert errors(report) == [("invalid-character-type", 37, "MEA", 3, 2)]
    [issue] = report.all_issues()
    assert issue.offset == data.index(b"MEA+WT+G+KGM:1A720")


# --- big inputs, in a child process ---------------------------------------------------------------

# Runs in the clean child: validates a file and prints what it found and how long it took.
_WORKER = """
import json, resource, sys, time
from hub.edifact import validate
data = open(sys.argv[1], "rb").read()
t = time.perf_counter()
report = validate(data)
seconds = time.perf_counter() - t
issues = [[i.code.ident, i.severity.value, i.segment, i.tag, i.element, i.component]
          for i in report.all_issues()[:20]]
print(json.dumps({"seconds": seconds, "accepted": report.accepted, "issues": issues,
                  "count": len(report.all_issues()),
                  "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""
# Started through /bin/sh, so that it is forked from the shell and not spawned (vfork) from pytest:
# Linux carries the high-water mark of the address space a process had before exec into ru_maxrss, so a
# child spawned from a large pytest would report pytest's size. This measurer starts the worker and
# reports its peak as RUSAGE_CHILDREN.
_MEASURER = """
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], capture_output=True, text=True,
                      timeout=float(sys.argv[3]))
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-3000:],
                  "peak_kb": peak_kb}))
"""


def run_isolated(path: Path, timeout: float, worker: str = _WORKER) -> dict[str, Any]:
    """Validate `path` in a clean child; its result, with `peak_bytes` (ru_maxrss) and `wall`."""
    command = [sys.executable, "-c", _MEASURER, worker, str(path), str(timeout)]
    command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', *command]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout + 60)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    outer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outer["rc"] == 0, outer["stderr"]
    result: dict[str, Any] = json.loads(outer["stdout"].strip().splitlines()[-1])
    result["peak_bytes"] = outer["peak_kb"] * 1024
    result["wall"] = wall
    return result


def test_peak_memory_is_measured_from_a_clean_process(tmp_path: Path) -> None:
    """The measurement does not inherit this (deliberately large) process's high-water mark."""
    ballast = b"x" * (400 * MB)
    path = tmp_path / "small.edi"
    path.write_bytes(CUSCAR.read_bytes())
    result = run_isolated(path, 120)
    assert len(ballast) == 400 * MB
    assert result["accepted"] is True
    assert result["peak_bytes"] < 150 * MB, result


def write_big_bayplan(path: Path, target: int) -> int:
    """A valid bayplan of at least `target` bytes: one 8,000-container BAPLIE, its message repeated
    with fresh references. Written piece by piece; returns the number of messages."""
    base = bayplan(8000, 1, 11)
    unb, rest = base.split(b"\n", 1)
    message = rest[:rest.rindex(b"UNZ+")]
    ref = message[4:message.index(b"+", 4)]
    assert message.count(ref) == 2  # UNH and UNT
    count = -(-target // len(message))
    control = unb.rsplit(b"+", 1)[1].rstrip(b"'")
    with path.open("wb") as f:
        f.write(unb + b"\n")
        for k in range(count):
            f.write(message.replace(ref, b"M%09d" % k))
        f.write(b"UNZ+%d+%s'\n" % (count, control))
    return count


# Measured on the development machine (2 cores): 100.3 MB validated in 12.5-17.4 s (up to 30 s with the
# other core busy), peak RSS 1.57-1.61 GB = 15.6-16.0 x the file; 25 MB: 0.43 GB, 50 MB: 0.79 GB, so
# linear. The bound, with margin:
PEAK_PER_BYTE = 18
PEAK_BASE = 150 * MB


@pytest.mark.slow
def test_100_mb_bayplan(tmp_path: Path) -> None:
    path = tmp_path / "big.edi"
    messages = write_big_bayplan(path, 100 * MB)
    size = path.stat().st_size
    result = run_isolated(path, 600)
    path.unlink()
    peak, seconds = result["peak_bytes"], result["seconds"]
    print(f"\n100 MB bayplan: {size / MB:.1f} MB, {messages} messages, validated in {seconds:.1f} s, "
          f"peak RSS {peak / MB:.0f} MB = {peak / size:.1f} x the file")
    assert result["accepted"] is True, result["issues"]
    assert result["peak_bytes"] < PEAK_PER_BYTE * size + PEAK_BASE, result


def test_10_mb_segment(tmp_path: Path) -> None:
    """One FTX of 10 MB free text: a too-long issue at once, no hang (the child has a timeout)."""
    edi = Edi.parse(CUSCAR.read_bytes())
    m = edi.messages()[0]
    i = edi.find("FTX", m)
    edi.set(i, 4, 1, "A" * (10 * MB))
    path = tmp_path / "long-segment.edi"
    path.write_bytes(edi.to_bytes())
    result = run_isolated(path, 120)
    print(f"\n10 MB segment: validated in {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_bytes'] / MB:.0f} MB")
    assert result["accepted"] is False
    assert result["issues"] == [["too-long", "error", i - m[0] + 1, "FTX", 4, 1]]
    assert result["seconds"] < 30


@pytest.mark.parametrize("payload", [b"FTX+AAA+++" + b"a" * MB, b"FTX+AAA" + b"+" * MB],
                         ids=["lower-case", "separators"])
def test_pathological_segment_costs_like_a_plain_one(payload: bytes) -> None:
    """Fixed: per-character / per-element Python work made 10 MB of lower case take ~13 s and 10 M
    empty elements ~18 s, against ~0.9 s for 10 MB of plain text (15-20 x). A ratio in one process,
    not a time, so a slow machine does not fail it."""
    base = CUSCAR.read_bytes()
    anchor = b"FTX+AAA+++CANNED SARDINES IN OLIVE OIL"
    plain = base.replace(anchor, b"FTX+AAA+++" + b"A" * MB, 1)
    odd = base.replace(anchor, payload, 1)
    validate(base)  # compile the directory first

    def cost(data: bytes) -> float:
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            validate(data)
            best = min(best, time.perf_counter() - t)
        return best

    ratio = cost(odd) / cost(plain)
    assert ratio < 5, f"{ratio:.1f} x the cost of a plain 1 MB segment"
