#!/usr/bin/env python3
"""Compile the UNECE UN/EDIFACT directory distributions into the hub's schema files.

Usage::

    .venv/bin/python tools/compile_directories.py [--corpus PATH] [--out schemas/edifact]

Input: the UNECE distribution zips in ``<corpus>/zip/`` (``d95b.zip``, ``d96a.zip``, ...).
Each holds nested zips with the directory text files:

* EDSD/TRSD segment specifications, EDCD/TRCD composite specifications,
  EDED/TRED data element specifications, UNCL code lists,
* EDMD/TRMD one file per batch message (its segment table is what we read),
* for D95B/D96A also UNSL, the service code lists of syntax version 3.

Output: one gzip-compressed JSON document per directory, ``<out>/D95B.json.gz`` etc., in
"format 1" (see ``schemas/edifact/README.md``), plus ``SERVICE3.json.gz`` and ``SERVICE4.json.gz``
built from ``tools/service_directories.yaml`` (and, for version 3, the UNSL code lists).

The text files are DOS code page 437 files. Every entry may carry change marks in its left
margin (``X`` marked for deletion, ``+`` added, ``*`` changed, ``#`` name changed, ``|`` text
changed, ``-`` deleted in D95B/D96A, marked for deletion in batch or interactive use later); the
parsers strip that margin by position or by pattern and never let a mark leak into a tag, an id
or a code value (D95B has real codes such as ``XA`` and ``XAA``). Formats differ between releases:
D95B/D96A "TR" files have no repeat column (a repeated element is listed once per position) and
right-align numeric codes; from D99B the segment specifications carry a repeat column; from D03B
segment tables draw nesting with ASCII ``-``/``+``/``|`` instead of box-drawing characters; D13B
and D16A number positions with five digits; long names wrap onto a second line everywhere. Each
difference is handled explicitly. Whatever the parsers cannot place is a problem that fails the
run, and every table is checked against a second source in the same distribution (the index
files, the composite lists printed inside segment specifications, the group member lists of a
message's section 4.1), so a silent misreading is hard to get past.

The output is deterministic: keys sorted, compact JSON, gzip with mtime 0 and no file name.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "directories" / "unece-untdid"
DEFAULT_OUT = REPO_ROOT / "schemas" / "edifact"
SERVICE_YAML = Path(__file__).resolve().parent / "service_directories.yaml"

FORMAT_VERSION = 1
DIRECTORIES = ("d95b", "d96a", "d99b", "d00b", "d01b", "d03b", "d13b", "d16a")

# Change marks that may stand in the left margin of an entry.
MARK_CHARS = "X+*#|-"
MARKS = f"[{re.escape(MARK_CHARS)}]+"

# Data value representation: a, n or an; "..N" is a maximum, "N" alone a fixed length.
REPR = r"(?:a|n|an)(?:\.\.)?\d+"
REPR_RE = re.compile(r"^(an|a|n)(\.\.)?(\d+)$")

# Box-drawing characters (code page 437) and their ASCII stand-ins in later releases.
HORIZONTAL = "─-"
VERTICAL = "│|"
CORNER_OPEN = "┐"
CORNER_CLOSE = "┘┴"


class CompileError(Exception):
    """The sources contain something the compiler cannot read with confidence."""


@dataclass
class Report:
    """Problems (fatal) and notes (oddities in the sources worth knowing) of one run."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, msg: str) -> None:
        self.problems.append(msg)

    def note(self, msg: str) -> None:
        self.notes.append(msg)


# --------------------------------------------------------------------------------------------
# Reading the distribution
# --------------------------------------------------------------------------------------------


def decode(data: bytes) -> list[str]:
    """Decode a DOS text file into lines without line ends (code page 437, as published)."""
    text = data.decode("cp437")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x1a", "")
    return text.split("\n")


@dataclass
class Distribution:
    """The text files of one directory release, taken from the nested zips."""

    name: str  # "D95B"
    source: str  # "d95b.zip sha256:..."
    parts: dict[str, dict[str, bytes]]  # kind ("EDSD", "TRMD", ...) -> file name -> bytes

    def part(self, *kinds: str) -> dict[str, bytes]:
        for kind in kinds:
            if kind in self.parts:
                return self.parts[kind]
        raise CompileError(f"{self.name}: none of {'/'.join(kinds)} in the distribution")

    def main_file(self, *kinds: str) -> list[str]:
        """The specification file of a directory part (e.g. EDSD.99B), without its indexes.

        A few parts are split over several files (UNCL-1.95B, UNCL-2.95B); they are joined
        in name order.
        """
        files = self.part(*kinds)
        pattern = re.compile(rf"(?:{'|'.join(kinds)})(?:-\d+)?\.\w+")
        chosen = sorted(n for n in files if pattern.fullmatch(n.upper()))
        if not chosen:
            raise CompileError(f"{self.name}: no main file in {'/'.join(kinds)}: {sorted(files)}")
        lines: list[str] = []
        for n in chosen:
            lines.extend(decode(files[n]))
        return lines


def read_distribution(path: Path) -> Distribution:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    parts: dict[str, dict[str, bytes]] = {}
    with zipfile.ZipFile(io.BytesIO(raw)) as outer:
        for info in sorted(outer.infolist(), key=lambda i: i.filename):
            name = info.filename
            base = name.rsplit("/", 1)[-1]
            if "__MACOSX" in name or not base.lower().endswith(".zip"):
                continue
            kind = base[:-4].upper()
            files: dict[str, bytes] = {}
            with zipfile.ZipFile(io.BytesIO(outer.read(info))) as inner:
                for member in sorted(inner.infolist(), key=lambda i: i.filename):
                    if member.is_dir():
                        continue
                    files[member.filename.rsplit("/", 1)[-1]] = inner.read(member)
            parts[kind] = files
    release = path.stem.upper()  # d95b -> D95B
    return Distribution(name=release, source=f"{path.name} sha256:{digest}", parts=parts)


# --------------------------------------------------------------------------------------------
# Common helpers
# --------------------------------------------------------------------------------------------


def is_separator(line: str) -> bool:
    s = line.strip()
    return len(s) >= 40 and all(c in HORIZONTAL for c in s)


def entries(lines: list[str]) -> Iterator[list[str]]:
    """Split a specification file into its entries (the text between separator lines).

    The first chunk (the title page and the change-indicator legend) is skipped.
    """
    chunk: list[str] | None = None
    for line in lines:
        if is_separator(line):
            if chunk is not None:
                yield chunk
            chunk = []
        elif chunk is not None:
            chunk.append(line)
    if chunk is not None:
        yield chunk


def parse_repr(text: str) -> tuple[str, int, int]:
    m = REPR_RE.match(text)
    if not m:
        raise CompileError(f"bad representation {text!r}")
    kind, dots, n = m.group(1), m.group(2), int(m.group(3))
    return kind, (1 if dots else n), n


def clean_name(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def title_case(upper: str) -> str:
    """'ADDRESS DETAILS' -> 'Address details' (names of composites and segments are in capitals)."""
    s = clean_name(upper)
    return s[:1] + s[1:].lower() if s.isupper() else s


def first_content(chunk: list[str]) -> tuple[int, str]:
    for i, line in enumerate(chunk):
        if line.strip():
            return i, line
    return -1, ""


# --------------------------------------------------------------------------------------------
# Data elements (EDED / TRED)
# --------------------------------------------------------------------------------------------

ELEMENT_HEAD = re.compile(rf"^\s*(?:{MARKS}\s+)?(\d{{4}})\s+(\S.*?)\s*(?:\[([BCI])\])?\s*$")
REPR_LINE = re.compile(rf"^\s*(?:{MARKS}\s+)?Repr:\s*(\S+)")


def parse_elements(dist: Distribution, rep: Report) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chunk in entries(dist.main_file("EDED", "TRED")):
        i, head = first_content(chunk)
        if i < 0:
            continue
        m = ELEMENT_HEAD.match(head)
        if not m:
            rep.problem(f"{dist.name} elements: unreadable entry head {head!r}")
            continue
        eid, name = m.group(1), m.group(2)
        # A long name may wrap onto the next line (before the blank line and "Desc:").
        nxt = chunk[i + 1] if i + 1 < len(chunk) else ""
        if nxt.strip() and not re.match(r"^\s*\S*\s*Desc:", nxt):
            name += " " + nxt.strip()
            name = re.sub(r"\s*\[[BCI]\]$", "", name)
        reprs = [r.group(1) for r in map(REPR_LINE.match, chunk) if r]
        if len(reprs) != 1:
            rep.problem(f"{dist.name} element {eid}: {len(reprs)} Repr lines")
            continue
        kind, lo, hi = parse_repr(reprs[0])
        if eid in out:
            rep.problem(f"{dist.name} element {eid} defined twice")
        out[eid] = {"name": clean_name(name), "type": kind, "min": lo, "max": hi}
    index = read_index(dist.part("EDED", "TRED"), r"(?:ED|TR)EDI1", r"\d{4}")
    check_complete(index, out, f"{dist.name} elements", rep)
    for eid, e in out.items():
        listed = re.sub(r"\s*\[[BCI]\]$", "", index.get(eid, e["name"]))
        if listed.lower() != e["name"].lower():
            rep.note(f"{dist.name} element {eid}: index name {listed!r} differs from entry name "
                     f"{e['name']!r}")
    return out


def check_complete(index: dict[str, str], parsed: dict[str, Any], label: str, rep: Report) -> None:
    """Every entry the index lists must have been read (and nothing read that it does not list)."""
    if not index:
        rep.problem(f"{label}: index not found or empty")
        return
    missing = sorted(set(index) - set(parsed))
    extra = sorted(set(parsed) - set(index))
    if missing:
        rep.problem(f"{label}: in the index but not read: {missing}")
    if extra:
        rep.note(f"{label}: read but not in the index: {extra}")


# --------------------------------------------------------------------------------------------
# Composites (EDCD / TRCD) and segments (EDSD / TRSD)
# --------------------------------------------------------------------------------------------

COMPOSITE_HEAD = re.compile(rf"^\s*(?:{MARKS}\s*)?([CES]\d{{3}})\s+(\S.*?)\s*$")
SEGMENT_HEAD = re.compile(rf"^\s*(?:{MARKS}\s+)?([A-Z]{{3}})\s+(\S.*?)\s*$")

# A numbered line of a composite: "010   1001   Document/message name, coded   C  an..3"
COMPONENT_POS = re.compile(
    rf"^(\d{{3}})\s+(?:({MARKS})\s+)?(\d{{4}})\s+(\S.*?)\s+([MC])\s+(?:(\d+)\s+)?({REPR})\s*$"
)
# A numbered line of a segment: element or composite, status, repeat (D99B on), repr (elements).
SEGMENT_POS = re.compile(
    rf"^(\d{{3}})\s+(?:({MARKS})\s+)?([CES]\d{{3}}|\d{{4}})\s+(\S.*?)\s+([MC])(?:\s+(\d+))?(?:\s+({REPR}))?\s*$"
)
# A component listed under a composite inside a segment specification (no position number).
SEGMENT_COMPONENT = re.compile(rf"^\s+(?:({MARKS})\s+)?(\d{{4}})\s+(\S.*?)\s+([MC])\s+({REPR})\s*$")
# The start of a numbered line whose name wrapped onto the next line.
POS_START = re.compile(rf"^\d{{3}}\s+(?:{MARKS}\s+)?(?:[CES]\d{{3}}|\d{{4}})\s+\S")
COMPONENT_START = re.compile(rf"^\s+(?:{MARKS}\s+)?\d{{4}}\s+\S")


def joined_lines(
    chunk: list[str], starts: list[re.Pattern[str]], full: list[re.Pattern[str]]
) -> Iterator[str]:
    """Yield the lines of an entry, joining a numbered line with its wrapped continuation."""
    i = 0
    while i < len(chunk):
        line = chunk[i]
        if any(p.match(line) for p in starts) and not any(p.match(line) for p in full):
            j = i + 1
            joined = line.rstrip()
            # Join continuation lines until the line is complete (names wrap at most twice).
            while j < len(chunk) and j <= i + 2 and chunk[j].strip():
                joined = joined + " " + chunk[j].strip()
                j += 1
                if any(p.match(joined) for p in full):
                    break
            if any(p.match(joined) for p in full):
                yield joined
                i = j
                continue
        yield line
        i += 1


def index_name(index: dict[str, str], key: str, upper: str, label: str, rep: Report) -> str:
    """The name as the index spells it (it keeps acronyms: "UNDG information"), else from the entry."""
    mine = title_case(upper)
    name = index.get(key)
    if name is None:
        rep.note(f"{label} {key}: not in the index")
        return mine
    if name.lower() != mine.lower():
        rep.note(f"{label} {key}: index name {name!r} differs from entry name {clean_name(upper)!r}")
    return name


def parse_composites(dist: Distribution, rep: Report) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    index = read_index(dist.part("EDCD", "TRCD"), r"(?:ED|TR)CDI1", r"[CES]\d{3}")
    for chunk in entries(dist.main_file("EDCD", "TRCD")):
        i, head = first_content(chunk)
        if i < 0:
            continue
        m = COMPOSITE_HEAD.match(head)
        if not m:
            rep.problem(f"{dist.name} composites: unreadable entry head {head!r}")
            continue
        cid, name = m.group(1), m.group(2)
        components: list[list[str]] = []
        reprs: dict[str, str] = {}
        for line in joined_lines(chunk[i + 1 :], [POS_START], [COMPONENT_POS]):
            c = COMPONENT_POS.match(line)
            if c:
                components.append([c.group(3), c.group(5)])
                reprs[c.group(3)] = c.group(7)
            elif re.match(r"^\d{3}\s", line):
                rep.problem(f"{dist.name} composite {cid}: unreadable line {line!r}")
        if not components:
            rep.problem(f"{dist.name} composite {cid}: no components")
        if cid in out:
            rep.problem(f"{dist.name} composite {cid} defined twice")
        out[cid] = {"name": index_name(index, cid, name, f"{dist.name} composite", rep),
                    "components": components, "_reprs": reprs}
    check_complete(index, out, f"{dist.name} composites", rep)
    return out


Inline = dict[tuple[str, str, str], list[list[str]]]  # (segment, position, composite) -> components


def parse_segments(dist: Distribution, rep: Report) -> tuple[dict[str, dict[str, Any]], Inline]:
    """Segments, plus what the segment file says about composites (for cross-checking)."""
    out: dict[str, dict[str, Any]] = {}
    index = read_index(dist.part("EDSD", "TRSD"), r"(?:ED|TR)SDI1", r"[A-Z]{3}")
    inline: Inline = {}
    for chunk in entries(dist.main_file("EDSD", "TRSD")):
        i, head = first_content(chunk)
        if i < 0:
            continue
        m = SEGMENT_HEAD.match(head)
        if not m:
            rep.problem(f"{dist.name} segments: unreadable entry head {head!r}")
            continue
        tag, name = m.group(1), m.group(2)
        elements: list[list[Any]] = []
        reprs: dict[str, str] = {}
        current: tuple[str, str, str] | None = None
        for line in joined_lines(chunk[i + 1 :], [POS_START, COMPONENT_START],
                                 [SEGMENT_POS, SEGMENT_COMPONENT]):
            p = SEGMENT_POS.match(line)
            if p:
                eid, status, repeat, repr_ = p.group(3), p.group(5), p.group(6), p.group(7)
                is_composite = not eid.isdigit()
                if is_composite == bool(repr_):
                    rep.problem(f"{dist.name} segment {tag}: representation mismatch in {line!r}")
                elements.append([eid, status, int(repeat) if repeat else 1])
                if repr_:
                    reprs[eid] = repr_
                current = (tag, p.group(1), eid) if is_composite else None
                if current:
                    inline[current] = []
                continue
            if re.match(r"^\d{3}\s", line):
                rep.problem(f"{dist.name} segment {tag}: unreadable line {line!r}")
                continue
            c = SEGMENT_COMPONENT.match(line)
            if c and current:
                inline[current].append([c.group(2), c.group(4), c.group(5)])
            elif COMPONENT_START.match(line) and current and re.search(rf"\s[MC]\s+{REPR}\s*$", line):
                rep.problem(f"{dist.name} segment {tag}: unreadable component line {line!r}")
        if not elements:
            rep.problem(f"{dist.name} segment {tag}: no elements")
        if tag in out:
            rep.problem(f"{dist.name} segment {tag} defined twice")
        out[tag] = {"name": index_name(index, tag, name, f"{dist.name} segment", rep),
                    "elements": elements, "_reprs": reprs}
    check_complete(index, out, f"{dist.name} segments", rep)
    return out, inline


# --------------------------------------------------------------------------------------------
# Code lists (UNCL, UNSL)
# --------------------------------------------------------------------------------------------

CODELIST_HEAD = re.compile(rf"^\s*(?:{MARKS}\s+)?(\d{{4}})\s+(\S.*?)\s*(?:\[([BCI])\])?\s*$")
# A code line: margin marks, the code starting in the first ten columns, its name after a space.
CODE_LINE = re.compile(rf"^(?:({MARKS})(?=\s))?(\s*)(\S+)\s+\S")
CODE_MAX_COLUMN = 9  # codes start at column 3..8 (D95B style) or 5 (later); text lines at 10+


def minus_means_deleted(lines: list[str]) -> bool:
    """In D95B/D96A a margin "-" marks an entry deleted from this release (the legend says "for a
    deletion"); from D99B it means "marked for deletion" in batch or interactive use only, and the
    entry stays valid like one marked "X"."""
    legend = " ".join(line.strip() for line in lines[:40])
    return bool(re.search(r"minus sign \(-\)\s+for a deletion", legend))


def parse_codes(lines: list[str], label: str, rep: Report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    deleted_mark = minus_means_deleted(lines)
    for chunk in entries(lines):
        i, head = first_content(chunk)
        if i < 0:
            continue
        m = CODELIST_HEAD.match(head)
        if not m:
            rep.problem(f"{label}: unreadable code list head {head!r}")
            continue
        eid = m.group(1)
        codes: list[str] = []
        in_codes = False
        in_note = False
        for line in chunk[i + 1 :]:
            if not in_codes:
                if REPR_LINE.match(line):
                    in_codes = True
                continue
            if not line.strip():
                in_note = False
                continue
            stripped = line.lstrip(MARK_CHARS + " ")
            indent = len(line) - len(stripped)
            if re.match(r"^(Note|Desc|Repr):", stripped) and indent <= CODE_MAX_COLUMN:
                in_note = True  # a note on the whole list: its text runs to the next blank line
                continue
            if in_note:
                continue
            c = CODE_LINE.match(line)
            if not c:
                if indent <= CODE_MAX_COLUMN:
                    rep.problem(f"{label} {eid}: unreadable code line {line!r}")
                continue
            column = len(c.group(1) or "") + len(c.group(2))
            if column > CODE_MAX_COLUMN:
                continue  # description, note or wrapped name
            if column == 0:
                rep.problem(f"{label} {eid}: code in the margin column: {line!r}")
                continue
            code = c.group(3)
            if deleted_mark and "-" in (c.group(1) or ""):
                rep.note(f"{label}: code {code!r} of {eid} is marked deleted ('-') and left out")
                continue
            if code in codes:
                rep.note(f"{label}: code {code!r} listed twice in {eid}")
                continue
            codes.append(code)
        if eid in out:
            rep.problem(f"{label}: code list {eid} given twice")
        if not codes:
            rep.note(f"{label}: code list {eid} has no codes")
        out[eid] = codes
    return out


# --------------------------------------------------------------------------------------------
# Messages (EDMD / TRMD)
# --------------------------------------------------------------------------------------------

TABLE_HEAD = re.compile(r"^Pos\s+Tag\s+Name\s+S\s+R\s*$")
DRAWING = r"[─┐┘┴│|+\- ]*"  # what may follow the repeat count: the nesting drawing
TABLE_SEGMENT = re.compile(rf"^(\d{{4,5}}) (.)\s*([A-Z]{{3}}) (\S.*?)\s+([MC])\s+(\d+)({DRAWING})$")
TABLE_GROUP = re.compile(
    rf"^(\d{{4,5}}) (.)\s*[─-]+ Segment group (\d+)\s*[─-]+\s+([MC])\s+(\d+)({DRAWING})$"
)
TABLE_SEGMENT_START = re.compile(r"^(\d{4,5}) (.)\s*([A-Z]{3}) (\S.*?)[\s│|]*$")
TABLE_CONTINUATION = re.compile(rf"^\s{{8,}}(\S.*?)\s+([MC])\s+(\d+)({DRAWING})$")
TABLE_FILLER = re.compile(r"^[\s│|]*$")
TABLE_SECTION = re.compile(r"^\s+(?:HEADER|DETAIL|SUMMARY) SECTION[\s│|]*$")


@dataclass
class Group:
    number: int
    req: str
    max: int
    items: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.number,
            "req": self.req,
            "max": self.max,
            "items": [i.to_json() if isinstance(i, Group) else i for i in self.items],
        }


def drawing_of(tail: str) -> tuple[int, int, int]:
    """Read the nesting drawing right of the repeat count: (corners opening, corners closing, drawn).

    Box style (D95B to D01B): "───┐│" opens one group inside one; "──┴┘" closes two; "│"
    continues. ASCII style (D03B on): "---+|" opens a group (on a group line) or closes one (on a
    segment line), "|" continues. ``drawn`` counts all corner and bar characters: the number of
    groups the line sits in (for a group line, including the group it opens).
    """
    drawing = tail.lstrip(HORIZONTAL + " 0123456789")
    opens = drawing.count(CORNER_OPEN)
    closes = sum(drawing.count(c) for c in CORNER_CLOSE)
    plus = drawing.count("+")
    bars = sum(drawing.count(c) for c in VERTICAL)
    return opens + plus, closes + plus, opens + closes + plus + bars


@dataclass
class Row:
    """One line of a segment table."""

    kind: str  # "segment" or "group"
    pos: str
    tag: str  # segment tag, or the group number as text
    req: str
    max: int
    depth_in: int  # groups open around the row, as drawn
    closes: int  # groups closed by the corners on the row (segments only)
    line: str


def table_rows(lines: list[str], label: str, rep: Report) -> tuple[list[Row], dict[int, int]]:
    """The rows of the segment table, and the depth drawn on each filler line (by row index)."""
    start = None
    for i, line in enumerate(lines):
        if TABLE_HEAD.match(line):
            start = i + 1
    if start is None:
        raise CompileError(f"{label}: no segment table")
    rows: list[Row] = []
    fillers: dict[int, int] = {}  # index of the next row -> depth drawn just before it
    body = [raw.rstrip() for raw in lines[start:]]
    i = 0
    while i < len(body):
        line = body[i]
        i += 1
        if rows and rows[-1].tag == "UNT" and rows[-1].kind == "segment":
            break
        if TABLE_SECTION.match(line):
            continue
        if TABLE_FILLER.match(line):
            drawn = sum(line.count(c) for c in VERTICAL)
            if drawn:
                fillers[len(rows)] = drawn
            continue
        g = TABLE_GROUP.match(line)
        if g:
            opens, _, drawn = drawing_of(g.group(6))
            if opens != 1:
                rep.problem(f"{label}: group line does not open one group: {line!r}")
            rows.append(Row("group", g.group(1), g.group(3), g.group(4), int(g.group(5)), drawn - 1, 0, line))
            mark = g.group(2)
        else:
            s = TABLE_SEGMENT.match(line)
            if not s and TABLE_SEGMENT_START.match(line) and i < len(body):
                # A long segment name wrapped: the status, repeat and drawing are on the next line.
                cont = TABLE_CONTINUATION.match(body[i])
                if cont:
                    head = TABLE_SEGMENT_START.match(line)
                    assert head is not None
                    line = (f"{head.group(1)} {head.group(2)}  {head.group(3)} {head.group(4)} "
                            f"{cont.group(1)}   {cont.group(2)}   {cont.group(3)}{cont.group(4)}")
                    s = TABLE_SEGMENT.match(line)
                    i += 1
            if not s:
                rep.problem(f"{label}: unreadable segment-table line {line!r}")
                continue
            _, closes, drawn = drawing_of(s.group(7))
            rows.append(
                Row("segment", s.group(1), s.group(3), s.group(5), int(s.group(6)), drawn, closes, line)
            )
            mark = s.group(2)
        if mark not in " " + MARK_CHARS:
            rep.problem(f"{label}: odd margin {mark!r} in {line!r}")
    if not rows or rows[-1].tag != "UNT":
        rep.problem(f"{label}: segment table does not end with UNT")
    return rows, fillers


def nest_by_drawing(rows: list[Row], fillers: dict[int, int], label: str,
                    rep: Report) -> tuple[list[Any], list[str]]:
    """Nest the rows as the drawing shows, and list where the drawing contradicts itself.

    The groups a segment closes are read from the corners on its line and checked against the
    depth drawn on the next line (its bars continue for every group still open). Where the two
    disagree, the next line wins: a run of vertical bars is harder to get wrong than one corner.
    """
    root = Group(0, "M", 1)
    stack: list[Group] = [root]
    doubts: list[str] = []
    for n, row in enumerate(rows):
        depth = len(stack) - 1
        if n in fillers and fillers[n] != depth:
            doubts.append(f"bars drawn {fillers[n]} deep before {row.pos}, {depth} groups open")
        if row.depth_in != depth:
            doubts.append(f"{row.pos} {row.tag} drawn {row.depth_in} deep, {depth} groups open")
        if row.kind == "group":
            group = Group(int(row.tag), row.req, row.max)
            stack[-1].items.append(group)
            stack.append(group)
            continue
        stack[-1].items.append([row.tag, row.req, row.max])
        # Depth after this row, as drawn by what follows it.
        if n + 1 < len(rows):
            after = fillers.get(n + 1, rows[n + 1].depth_in)
        else:
            after = 0
        closes = depth - after
        if closes != row.closes:
            doubts.append(f"{row.pos} {row.tag} closes {row.closes} group(s) but the next line is drawn "
                          f"{after} deep")
        if not 0 <= closes <= depth:
            doubts.append(f"{row.pos} {row.tag}: cannot close {closes} of {depth} groups")
            closes = max(0, min(closes, depth))
        del stack[len(stack) - closes :]
    if len(stack) != 1:
        doubts.append(f"{len(stack) - 1} groups left open")
    return [i.to_json() if isinstance(i, Group) else i for i in root.items], doubts


GROUP_CONTENT = re.compile(r"^(\d{4,5})\s+(?:[X+*#|-]+\s+)?Segment group\s+(\d+)\s*:\s*(.*?)\s*$")


def group_contents(lines: list[str]) -> dict[int, list[str]]:
    """Section 4.1 lists each group's members: "Segment group 2:  LOC-GID-...-SG3-SG4" (may wrap)."""
    out: dict[int, list[str]] = {}
    i = 0
    while i < len(lines):
        m = GROUP_CONTENT.match(lines[i])
        i += 1
        if not m:
            continue
        text = m.group(3)
        while text.endswith("-") and i < len(lines) and lines[i].strip():
            text += lines[i].strip()
            i += 1
        members = [t.strip() for t in text.split("-") if t.strip()]
        out.setdefault(int(m.group(2)), members)
    return out


def nest_by_contents(rows: list[Row], contents: dict[int, list[str]]) -> tuple[list[Any], list[str]]:
    """Nest the rows using the group member lists of section 4.1."""
    root = Group(0, "M", 1)
    stack: list[tuple[Group, list[str]]] = [(root, [])]
    doubts: list[str] = []
    for row in rows:
        while len(stack) > 1 and not stack[-1][1]:
            stack.pop()
        name = row.tag if row.kind == "segment" else f"SG{row.tag}"
        group, expected = stack[-1]
        if len(stack) > 1:
            if expected[0] != name:
                doubts.append(f"{row.pos} {name} where group {group.number} lists {expected[0]}")
                # resynchronise: leave groups until one expects this member, else stay
                for depth in range(len(stack) - 1, 0, -1):
                    if name in stack[depth][1]:
                        del stack[depth + 1 :]
                        while stack[-1][1][0] != name:
                            stack[-1][1].pop(0)
                        break
                group, expected = stack[-1]
            if expected and expected[0] == name:
                expected.pop(0)
        if row.kind == "group":
            g = Group(int(row.tag), row.req, row.max)
            group.items.append(g)
            stack.append((g, list(contents.get(int(row.tag), []))))
            if int(row.tag) not in contents:
                doubts.append(f"group {row.tag} has no member list")
        else:
            group.items.append([row.tag, row.req, row.max])
    for g, left in stack[1:]:
        if left:
            doubts.append(f"group {g.number} lists {'-'.join(left)} after its last row")
    return [i.to_json() if isinstance(i, Group) else i for i in root.items], doubts


def parse_message(code: str, lines: list[str], label: str, rep: Report) -> list[Any]:
    rows, fillers = table_rows(lines, label, rep)
    numbers = [int(r.tag) for r in rows if r.kind == "group"]
    if numbers != list(range(1, len(numbers) + 1)):
        rep.problem(f"{label}: segment groups are not numbered 1..n in order: {numbers}")
    drawn, drawing_doubts = nest_by_drawing(rows, fillers, label, rep)
    contents = group_contents(lines)
    listed, listing_doubts = nest_by_contents(rows, contents) if contents else (None, ["no group lists"])
    if not drawing_doubts and (listed is None or listed == drawn):
        if listing_doubts and numbers:
            rep.note(f"{label}: section 4.1 group lists disagree with the segment table "
                     f"({'; '.join(listing_doubts)}); the table's drawing is consistent and is used")
        return drawn
    if drawing_doubts and not listing_doubts and listed is not None:
        rep.note(f"{label}: segment-table drawing is inconsistent ({'; '.join(drawing_doubts)}); "
                 f"nesting taken from the section 4.1 group lists")
        return listed
    if drawing_doubts and listed == drawn:
        rep.note(f"{label}: segment-table drawing is inconsistent ({'; '.join(drawing_doubts)}); "
                 f"read by its bars, it gives the nesting the section 4.1 group lists give"
                 + (f" (these have their own slips: {'; '.join(listing_doubts)})" if listing_doubts else ""))
        return drawn
    rep.problem(f"{label}: cannot settle the nesting: drawing: {'; '.join(drawing_doubts) or 'consistent'}; "
                f"group lists: {'; '.join(listing_doubts) or 'consistent'}; "
                f"they {'agree' if listed == drawn else 'disagree'}")
    return drawn


def message_header(lines: list[str]) -> dict[str, str]:
    """The 'Message Type : BAPLIE' block near the top of a message file."""
    out: dict[str, str] = {}
    for line in lines[:120]:
        m = re.match(r"^\s+(Message Type|Version|Release|Contr\. Agency)\s*:\s*(\S+)", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def read_index(files: dict[str, bytes], index_file: str, id_pattern: str) -> dict[str, str]:
    """Names from an index file (EDMDI1, EDSDI1, EDCDI1 and their TR.. forms).

    The index is a table under a "Code  Name" or "Tag  Name" heading; in the message index more
    columns follow the name ("Status Rev" in D95B, "Rev Recast" later), so the name column ends
    where the next heading starts. Long names wrap onto a second, indented line.
    """
    idx = [n for n in files if re.fullmatch(index_file + r"\.\w+", n.upper())]
    names: dict[str, str] = {}
    if not idx:
        return names
    started = False
    end_col: int | None = None
    current: str | None = None
    for line in decode(files[idx[0]]):
        head = re.match(r"^(\s+(?:Code|Tag)\s+Name\s*)(\S)?", line)
        if head:
            started = True
            end_col = len(head.group(1)) if head.group(2) else None
            continue
        if not started:
            continue
        if not line.strip():
            current = None
            continue
        cell = line[:end_col] if end_col else line
        m = re.match(rf"^(?:{MARKS})?\s*({id_pattern})\s+(\S.*)$", cell)
        if m:
            current = m.group(1)
            names[current] = m.group(2)
        elif current and re.match(r"^\s{6,}\S", line):
            names[current] += " " + cell.strip()
    return {k: clean_name(v) for k, v in names.items()}


def message_title(lines: list[str]) -> str:
    """The message name as centred on the title page (may wrap over two lines)."""
    seen_un = False
    parts: list[str] = []
    for line in lines[:60]:
        s = line.strip()
        if not seen_un:
            seen_un = s in ("UN/EDIFACT",)
            continue
        if s.startswith("UNITED NATIONS") or s.startswith("DRAFT") or s == "":
            if parts:
                break
            continue
        if s.startswith("-" * 10):
            break
        parts.append(s)
    return clean_name(" ".join(parts))


def parse_messages(dist: Distribution, rep: Report) -> dict[str, dict[str, Any]]:
    files = dist.part("EDMD", "TRMD")
    index = read_index(files, r"(?:ED|TR)MDI1", r"[A-Z]{6}")
    out: dict[str, dict[str, Any]] = {}
    for fname in sorted(files):
        m = re.fullmatch(r"([A-Z]{6})_([A-Z])\.(\w+)", fname.upper())
        if not m:
            continue
        code = m.group(1)
        lines = decode(files[fname])
        label = f"{dist.name} {code}"
        header = message_header(lines)
        if header.get("Message Type") != code:
            rep.problem(f"{label}: file header names message {header.get('Message Type')!r}")
        if header.get("Release") and header["Release"] != dist.name[1:]:
            rep.note(f"{label}: file header says release {header['Release']}")
        name = index.get(code) or message_title(lines)
        if code not in index:
            rep.note(f"{label}: not in the message index; name taken from the title page")
        title = message_title(lines)
        if title and title.lower() != name.lower():
            rep.note(f"{label}: index name {name!r} differs from title {title!r}")
        structure = parse_message(code, lines, label, rep)
        out[code] = {"name": name, "structure": structure}
    check_complete(index, out, f"{dist.name} messages", rep)
    return out


# --------------------------------------------------------------------------------------------
# Putting a directory together
# --------------------------------------------------------------------------------------------


def walk_structure(items: Iterable[Any]) -> Iterator[list[Any]]:
    for item in items:
        if isinstance(item, dict):
            yield from walk_structure(item["items"])
        else:
            yield item


SERVICE_SEGMENTS = {"UNH", "UNT", "UNS", "UGH", "UGT"}


def cross_check(dist: Distribution, doc: dict[str, Any], inline: Inline, rep: Report) -> None:
    """Everything referenced must exist; what is printed twice must agree."""
    elements, composites, segments = doc["elements"], doc["composites"], doc["segments"]

    def repr_differs(where: str, eid: str, shown: str) -> None:
        e = elements.get(eid)
        if e and parse_repr(shown) != (e["type"], e["min"], e["max"]):
            rep.note(f"{dist.name} {where}: {eid} shown as {shown}, element directory says "
                     f"{e['type']} {e['min']}..{e['max']}")

    for cid, comp in composites.items():
        for eid, _ in comp["components"]:
            if eid not in elements:
                rep.problem(f"{dist.name} composite {cid}: component {eid} is not in the element directory")
        for eid, shown in comp["_reprs"].items():
            repr_differs(f"composite {cid}", eid, shown)
    for tag, seg in segments.items():
        for eid, _, _ in seg["elements"]:
            if eid not in elements and eid not in composites:
                rep.problem(f"{dist.name} segment {tag}: {eid} is in no element or composite directory")
        for eid, shown in seg["_reprs"].items():
            repr_differs(f"segment {tag}", eid, shown)
    for (tag, pos, cid), listed in sorted(inline.items()):
        if cid not in composites:
            continue
        want = [[e, s] for e, s in composites[cid]["components"]]
        got = [[e, s] for e, s, _ in listed]
        if want != got:
            rep.note(f"{dist.name} segment {tag} {pos}: composite {cid} listed as {got}, "
                     f"composite directory has {want}")
        for eid, _, shown in listed:
            repr_differs(f"segment {tag} {pos} {cid}", eid, shown)
    for code, msg in doc["messages"].items():
        for tag, _, _ in walk_structure(msg["structure"]):
            if tag not in segments and tag not in SERVICE_SEGMENTS:
                rep.problem(f"{dist.name} message {code}: segment {tag} is not in the segment directory")
    for eid in doc["codes"]:
        if eid not in elements:
            rep.note(f"{dist.name}: code list {eid} has no element in the element directory")


def compile_directory(path: Path, rep: Report) -> dict[str, Any]:
    dist = read_distribution(path)
    elements = parse_elements(dist, rep)
    composites = parse_composites(dist, rep)
    segments, inline = parse_segments(dist, rep)
    codes = parse_codes(dist.main_file("UNCL"), f"{dist.name} UNCL", rep)
    messages = parse_messages(dist, rep)
    doc: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "directory": dist.name,
        "source": dist.source,
        "elements": elements,
        "composites": composites,
        "segments": segments,
        "codes": codes,
        "messages": messages,
    }
    cross_check(dist, doc, inline, rep)
    for table in (composites, segments):
        for entry in table.values():
            entry.pop("_reprs", None)
    return doc


def unsl_codes(path: Path, rep: Report) -> dict[str, list[str]]:
    dist = read_distribution(path)
    if "UNSL" not in dist.parts:
        return {}
    return parse_codes(dist.main_file("UNSL"), f"{dist.name} UNSL", rep)


# --------------------------------------------------------------------------------------------
# Service directories (from tools/service_directories.yaml)
# --------------------------------------------------------------------------------------------


def _entry(text: str, arity: int, where: str) -> list[Any]:
    """'S001 M' -> ['S001', 'M'];  'UNH M 1' -> ['UNH', 'M', 1]."""
    parts = str(text).split()
    if len(parts) not in (arity - 1, arity) or parts[1] not in ("M", "C"):
        raise CompileError(f"service directory {where}: bad entry {text!r}")
    out: list[Any] = [parts[0], parts[1]]
    if arity == 3:
        out.append(int(parts[2]) if len(parts) == 3 else 1)
    return out


def _structure(items: list[Any], where: str) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            out.append({
                "group": int(item["group"]),
                "req": item["req"],
                "max": int(item["max"]),
                "items": _structure(item["items"], where),
            })
        else:
            out.append(_entry(item, 3, where))
    return out


def compile_service(name: str, spec: dict[str, Any], source: str, extra_codes: dict[str, list[str]],
                    rep: Report) -> dict[str, Any]:
    elements: dict[str, Any] = {}
    for eid, e in spec["elements"].items():
        kind, lo, hi = parse_repr(e["repr"])
        elements[str(eid)] = {"name": e["name"], "type": kind, "min": lo, "max": hi}
    composites = {
        cid: {"name": c["name"], "components": [_entry(x, 2, f"{name} {cid}") for x in c["components"]]}
        for cid, c in spec["composites"].items()
    }
    segments = {
        tag: {"name": s["name"], "elements": [_entry(x, 3, f"{name} {tag}") for x in s["elements"]]}
        for tag, s in spec["segments"].items()
    }
    codes: dict[str, list[str]] = {}
    for eid in spec.get("codes_from_unsl", []):
        if eid not in extra_codes:
            rep.problem(f"{name}: code list {eid} asked from UNSL but not there")
            continue
        codes[eid] = list(extra_codes[eid])
    for eid, values in (spec.get("codes") or {}).items():
        merged = codes.setdefault(str(eid), [])
        for v in values:
            if not isinstance(v, str):  # YAML turns unquoted 1, ON, NO... into numbers and booleans
                rep.problem(f"{name}: code {v!r} of {eid} is not written as a string")
            elif v not in merged:
                merged.append(v)
    messages = {
        code: {"name": m["name"], "structure": _structure(m["structure"], f"{name} {code}")}
        for code, m in spec["messages"].items()
    }
    doc = {
        "format": FORMAT_VERSION,
        "directory": name,
        "source": source,
        "elements": elements,
        "composites": composites,
        "segments": segments,
        "codes": codes,
        "messages": messages,
    }
    for cid, c in composites.items():
        for eid, _ in c["components"]:
            if eid not in elements:
                rep.problem(f"{name} composite {cid}: element {eid} undefined")
    for tag, s in segments.items():
        for eid, _, _ in s["elements"]:
            if eid not in elements and eid not in composites:
                rep.problem(f"{name} segment {tag}: {eid} undefined")
    for code, m in messages.items():
        for tag, _, _ in walk_structure(m["structure"]):
            if tag not in segments:
                rep.problem(f"{name} message {code}: segment {tag} undefined")
    for eid in codes:
        if eid not in elements:
            rep.problem(f"{name}: code list {eid} for an undefined element")
    return doc


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def dump(doc: dict[str, Any]) -> bytes:
    """Deterministic bytes: sorted keys, compact JSON, gzip with no time stamp or file name."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("ascii"))
    return buf.getvalue()


def write(out_dir: Path, doc: dict[str, Any]) -> tuple[Path, int]:
    data = dump(doc)
    target = out_dir / f"{doc['directory']}.json.gz"
    tmp = target.with_suffix(".gz.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target, len(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="folder holding zip/<release>.zip (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--service", type=Path, default=SERVICE_YAML,
                    help="service directory definitions (default: %(default)s)")
    ap.add_argument("--only", nargs="*", metavar="RELEASE",
                    help="compile only these releases (e.g. d95b SERVICE3)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the notes about the sources too")
    args = ap.parse_args(argv)

    zips = args.corpus / "zip"
    if not zips.is_dir():
        print(f"no directory zips in {zips}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    only = {o.lower() for o in args.only} if args.only else None
    rep = Report()
    failed = False
    for release in DIRECTORIES:
        if only is not None and release not in only:
            continue
        t0 = time.perf_counter()
        before = len(rep.problems)
        try:
            doc = compile_directory(zips / f"{release}.zip", rep)
        except CompileError as exc:
            rep.problem(str(exc))
            doc = None
        if doc is None or len(rep.problems) > before:
            failed = True
            print(f"{release.upper()}: FAILED", file=sys.stderr)
            continue
        target, size = write(args.out, doc)
        print(f"{doc['directory']}: {len(doc['messages'])} messages, {len(doc['segments'])} segments, "
              f"{len(doc['composites'])} composites, {len(doc['elements'])} elements, "
              f"{len(doc['codes'])} code lists -> {target.name} ({size} bytes, "
              f"{time.perf_counter() - t0:.2f} s)")

    if only is None or {"service3", "service4"} & only:
        import yaml  # only needed here; PyYAML is a project dependency

        spec_text = args.service.read_bytes()
        spec = yaml.safe_load(spec_text)
        digest = hashlib.sha256(spec_text).hexdigest()
        unsl: dict[str, list[str]] = {}
        for release in ("d95b", "d96a"):
            for eid, values in unsl_codes(zips / f"{release}.zip", rep).items():
                merged = unsl.setdefault(eid, [])
                merged.extend(v for v in values if v not in merged)
        for name in ("SERVICE3", "SERVICE4"):
            if only is not None and name.lower() not in only:
                continue
            before = len(rep.problems)
            source = f"{args.service.name} sha256:{digest}"
            if name == "SERVICE3":
                source += "; UNSL of d95b.zip, d96a.zip"
            doc = compile_service(name, spec[name], source, unsl if name == "SERVICE3" else {}, rep)
            if len(rep.problems) > before:
                failed = True
                print(f"{name}: FAILED", file=sys.stderr)
                continue
            target, size = write(args.out, doc)
            print(f"{name}: {len(doc['segments'])} segments, {len(doc['codes'])} code lists "
                  f"-> {target.name} ({size} bytes)")

    for p in rep.problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    if args.verbose:
        for n in rep.notes:
            print(f"note: {n}", file=sys.stderr)
    elif rep.notes:
        print(f"{len(rep.notes)} notes about the sources (use -v to list them)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
