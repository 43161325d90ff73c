"""EDIFACT tokenizer: bytes in, segments with their byte offsets out.

Strategy. Per-character Python loops cost too much for a 4 MB bayplan, so all scanning is done by `str`
methods and regular expressions, which run in C:

1. The service string advice (UNA), or the defaults for the syntax level, gives the delimiters.
2. The bytes are decoded in the encoding the UNB syntax identifier implies (single-byte codecs keep
   character offsets equal to byte offsets).
3. Released characters are neutralised without changing the text's length: a release character
   followed by a delimiter keeps the release character and has the delimiter replaced by a private-use
   code point; a doubled release character becomes two private-use code points. After that, plain
   `str.split` on each delimiter is exact, and every offset in the neutralised text is an offset in the
   original.
4. The text is split on the segment terminator; offsets come from the cumulative piece lengths.

A value read from a segment is still in neutralised form; `unescape` turns it back into the sender's
text. A released character counts as one character when lengths are checked (`value_length`).

This module does no I/O and raises nothing on bad input: problems become `Issue`s.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add, itemgetter

from hub.report import Code, Issue, Severity

BOM = b"\xef\xbb\xbf"

# The encoding each syntax identifier implies (ISO 9735 part 1, annex B, and common practice).
# UNOA and UNOB are 7-bit repertoires; they are decoded as Latin-1 so that any stray byte survives
# decoding and is reported as an invalid character instead of failing the whole file.
ENCODINGS: dict[str, str] = {
    "UNOA": "latin-1", "UNOB": "latin-1", "UNOC": "latin-1", "UNOD": "iso8859_2",
    "UNOE": "iso8859_5", "UNOF": "iso8859_7", "UNOG": "iso8859_3", "UNOH": "iso8859_4",
    "UNOI": "iso8859_6", "UNOJ": "iso8859_8", "UNOK": "iso8859_9", "UNOW": "utf-8", "UNOY": "utf-8",
}
SINGLE_BYTE = {name for name, enc in ENCODINGS.items() if enc != "utf-8"}

# Private-use code points that stand in for released characters (see the module header). If the input
# itself contains one of them (possible only in UTF-8 data), the next block is tried.
_PRIVATE_BASES = (0xE000, 0xF0000, 0x100000, 0xF8F0)


@dataclass(frozen=True, slots=True)
class Delimiters:
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    segment: str = "'"

    def service_chars(self) -> str:
        chars = self.component + self.element + self.segment
        return chars + (self.release or "") + (self.repetition or "")


LEVEL_A = Delimiters()
LEVEL_A_V4 = Delimiters(repetition="*")
# Syntax level B defaults (information separators IS1, IS3, IS4; IS2 for repetition in version 4).
LEVEL_B = Delimiters(component="\x1f", element="\x1d", release=None, repetition="\x19", segment="\x1c")


@dataclass(frozen=True, slots=True)
class Neutral:
    """The private-use stand-ins for released characters in one scan."""

    release_pair: str  # stands for each of the two characters of a doubled release character
    segment: str
    element: str
    component: str
    repetition: str

    @classmethod
    def for_text(cls, text: str) -> Neutral:
        for base in _PRIVATE_BASES:
            chars = [chr(base + i) for i in range(5)]
            if not any(c in text for c in chars):
                return cls(*chars)
        # Cannot happen for real input: every candidate block occurs in the text. Fall back to the
        # first block; released characters in such a file may then be split wrongly, which the
        # validator reports as element errors.
        return cls(*(chr(0xE000 + i) for i in range(5)))


_FIRST_THREE = itemgetter(slice(0, 3))


@dataclass
class Scan:
    """The segments of one stretch of input that shares one set of delimiters (one UNA, or none).

    `segments[i]` is the neutralised text of segment i without its terminator and without the line
    breaks before it; `starts[i]` is its character offset in `text`.
    """

    text: str
    delimiters: Delimiters
    neutral: Neutral
    encoding: str
    byte_base: int  # byte offset of text[0] in the input
    segments: list[str]
    starts: list[int]
    una_offset: int | None = None  # character offset of the UNA in text, if any
    issues: list[Issue] = field(default_factory=list)
    _byte_starts: list[int] | None = None
    _line_ends: list[int] | None = None
    _char_marks: list[int] = field(default_factory=list)
    _tags: list[str] | None = None

    @property
    def tags(self) -> list[str]:
        """The first three characters of each segment (its tag when well formed), made once for the
        validator and the mapping, which both look them up per segment."""
        if self._tags is None:
            self._tags = list(map(_FIRST_THREE, self.segments))
        return self._tags

    @property
    def single_byte(self) -> bool:
        return self.encoding != "utf-8"

    def byte_offset(self, char_offset: int) -> int:
        if self.single_byte:
            return self.byte_base + char_offset
        if self._byte_starts is None:
            # One pass over the text gives each segment start's byte offset; later lookups then encode
            # at most one segment.
            marks = [0, *self.starts]
            pairs = zip(marks, marks[1:], strict=False)
            sizes = (self._utf8_len(self.text[a:b]) for a, b in pairs)
            self._char_marks = marks
            self._byte_starts = list(accumulate(sizes, initial=0))
        k = bisect_right(self._char_marks, char_offset) - 1
        mark = self._char_marks[k]
        rest = self._utf8_len(self.text[mark:char_offset])
        return self.byte_base + self._byte_starts[k] + rest

    def _utf8_len(self, span: str) -> int:
        """Bytes of a span of the neutralised text in the sender's UTF-8: each stand-in is one ASCII
        byte there, not the three of its private-use code point."""
        n = self.neutral
        stand_ins = sum(span.count(c) for c in (n.release_pair, n.segment, n.element, n.component,
                                                n.repetition))
        return len(span.encode("utf-8", "surrogateescape")) - 2 * stand_ins

    def line(self, char_offset: int) -> int:
        """Line of an offset; CR LF, lone CR and lone LF each end a line. The line ends are found
        once, so numbering every segment of a large file stays linear."""
        if self._line_ends is None:
            self._line_ends = [m.start() for m in re.finditer("\r\n|\r|\n", self.text)]
        return bisect_right(self._line_ends, char_offset - 1) + 1

    def tag(self, i: int) -> str:
        seg = self.segments[i]
        d = self.delimiters
        end = len(seg)
        for sep in (d.element, d.component):
            k = seg.find(sep)
            if 0 <= k < end:
                end = k
        return seg[:end]

    def unescape(self, value: str) -> str:
        """The sender's text of a neutralised value (released characters restored)."""
        n = self.neutral
        rel = self.delimiters.release
        if rel is None or (rel not in value and n.release_pair not in value):
            return value
        d = self.delimiters
        value = (value.replace(rel + n.segment, d.segment).replace(rel + n.element, d.element)
                 .replace(rel + n.component, d.component))
        if d.repetition:
            value = value.replace(rel + n.repetition, d.repetition)
        return value.replace(n.release_pair * 2, rel)

    def value_length(self, value: str) -> int:
        """Length of a neutralised value as the standard counts it: a released character is one."""
        rel = self.delimiters.release
        if rel is None or (rel not in value and self.neutral.release_pair not in value):
            return len(value)
        return len(self.unescape(value))

    def elements(self, i: int, limit: int | None = None) -> list[list[list[str]]]:
        """Segment i's data elements: each a list of repetitions, each a list of component values.

        Values are neutralised (see `unescape`). The tag is not included. With `limit`, at most that
        many elements (the last holds the rest of the segment), each split into at most `limit` + 99
        repetitions and components: enough to place every problem, bounded on hostile input.
        """
        d = self.delimiters
        parts = self.segments[i].split(d.element, -1 if limit is None else limit)[1:]
        rep = d.repetition
        cap = -1 if limit is None else limit + 99
        out: list[list[list[str]]] = []
        for part in parts:
            reps = part.split(rep, cap) if rep and rep in part else [part]
            out.append([r.split(d.component, cap) for r in reps])
        return out


def _parse_una(text: str, at: int) -> tuple[Delimiters | None, Issue | None]:
    """Read the six service characters after 'UNA' at text[at]."""
    chars = text[at + 3:at + 9]
    if len(chars) < 6:
        return None, Issue(Code.BAD_UNA, "The UNA service string advice is cut short: it needs six "
                           "characters after 'UNA'.", offset=at)
    comp, elem, dec, rel, rep, seg = tuple(chars)
    problems = []
    seps = [comp, elem, seg] + ([rel] if rel != " " else []) + ([rep] if rep != " " else [])
    if len(set(seps)) != len(seps):
        problems.append("the same character is declared for two different purposes")
    if any(c.isalnum() for c in seps):
        problems.append("a letter or digit is declared as a service character")
    if dec not in ".,":
        problems.append(f"the decimal mark must be '.' or ',', not {dec!r}")
    if problems:
        return None, Issue(Code.BAD_UNA, f"The UNA service string advice {text[at:at + 9]!r} is invalid: "
                           + "; ".join(problems) + ".", offset=at)
    return Delimiters(component=comp, element=elem, decimal=dec, release=None if rel == " " else rel,
                      repetition=None if rep == " " else rep, segment=seg), None


_UNB_SYNTAX = re.compile(rb"UNB[^A-Za-z0-9]{1,2}([A-Z]{4})[^A-Za-z0-9]([0-9])")


def _sniff_syntax(data: bytes) -> tuple[str | None, str | None]:
    m = _UNB_SYNTAX.search(data, 0, 2000)
    if not m:
        return None, None
    return m.group(1).decode("ascii"), m.group(2).decode("ascii")


def _chunk_starts(data: bytes) -> list[int]:
    """Byte offsets at which a UNA starts a new stretch of delimiters (besides offset 0)."""
    starts = []
    k = data.find(b"UNA", 1)
    while k != -1:
        # A UNA counts only at a segment start: after a line break or after a non-alphanumeric byte
        # that is not a data element or component separator in the common delimiter sets.
        prev = data[k - 1:k]
        if prev in (b"\n", b"\r", b"\x1c") or (prev == b"'" and _unreleased(data, k - 1)):
            starts.append(k)
        k = data.find(b"UNA", k + 3)
    return starts


def _unreleased(data: bytes, at: int) -> bool:
    """True when the byte at `at` is not released: an even number of '?' precede it."""
    n = 0
    while at - n - 1 >= 0 and data[at - n - 1:at - n] == b"?":
        n += 1
    return n % 2 == 0


def scan(data: bytes) -> list[Scan]:
    """Split the input into scans (one per UNA stretch) and each scan into segments."""
    base = 0
    if data.startswith(BOM):
        base = len(BOM)
    cuts = [base] + [k for k in _chunk_starts(data) if k > base] + [len(data)]
    return [_scan_chunk(data[a:b], a) for a, b in zip(cuts, cuts[1:], strict=False)]


def _scan_chunk(chunk: bytes, byte_base: int) -> Scan:
    issues: list[Issue] = []
    syntax_id, version = _sniff_syntax(chunk)
    encoding = ENCODINGS.get(syntax_id or "UNOA", "latin-1")
    text = chunk.decode(encoding, "surrogateescape")

    # Delimiters: from the UNA if there is one, else the defaults of the syntax level.
    stripped = text.lstrip(" \t\r\n")
    lead = len(text) - len(stripped)
    delims: Delimiters | None = None
    una_offset = None
    body_from = lead
    if stripped.startswith("UNA"):
        una_offset = lead
        delims, problem = _parse_una(text, lead)
        if problem:
            issues.append(problem)
        body_from = lead + 9
    if delims is None:
        after_unb = text.find("UNB", body_from, body_from + 200)
        if after_unb != -1 and text[after_unb + 3:after_unb + 4] == LEVEL_B.element:
            delims = LEVEL_B
        elif version == "4":
            delims = LEVEL_A_V4
        else:
            delims = LEVEL_A

    neutral = Neutral.for_text(text)
    work = text
    rel = delims.release
    if rel is not None and rel in text:
        work = work.replace(rel + rel, neutral.release_pair * 2)
        work = work.replace(rel + delims.segment, rel + neutral.segment)
        work = work.replace(rel + delims.element, rel + neutral.element)
        work = work.replace(rel + delims.component, rel + neutral.component)
        if delims.repetition:
            work = work.replace(rel + delims.repetition, rel + neutral.repetition)

    body = work[body_from:]
    lines = _split_lines(body, body_from, delims.segment)
    if lines is not None:
        pieces, starts = lines
    else:
        pieces = body.split(delims.segment)
        # Character offset of each piece in `work` (each piece is followed by one terminator).
        starts = list(accumulate(map(add, map(len, pieces[:-1]), repeat(1)), initial=body_from))
        if "\n" in body or "\r" in body or " " in body[:1]:
            trimmed = [p.lstrip("\r\n") for p in pieces]
            starts = [s + len(p) - len(q) for s, p, q in zip(starts, pieces, trimmed, strict=True)]
            pieces = trimmed
    tail = pieces[-1]

    segments = pieces
    if not tail.strip():
        segments = pieces[:-1]
        starts = starts[:-1]
    else:
        issues.append(Issue(Code.UNTERMINATED_SEGMENT,
                            f"The data ends inside segment {_preview(tail)!r}: its segment terminator "
                            f"{delims.segment!r} is missing.", offset=starts[-1]))
    if "" in segments:
        keep = [k for k, s in enumerate(segments) if s]
        for k, s in enumerate(segments):
            if not s:
                issues.append(Issue(Code.EMPTY_SEGMENT, "An empty segment (two terminators in a row) was "
                                    "ignored.", severity=Severity.WARNING, offset=starts[k]))
        segments = [segments[k] for k in keep]
        starts = [starts[k] for k in keep]
    if rel is not None and rel in work:
        # After neutralising, a release character is always followed by a stand-in; one that is not
        # released nothing (it preceded an ordinary character, or ended the data).
        stand_ins = re.escape(neutral.segment + neutral.element + neutral.component + neutral.repetition)
        for m in re.compile(re.escape(rel) + f"(?![{stand_ins}])").finditer(work, body_from):
            issues.append(Issue(Code.DANGLING_RELEASE, f"The release character {rel!r} is followed by "
                                f"{work[m.end():m.end() + 1]!r}, which is not a service character; "
                                "release only separators and the release character itself.",
                                offset=m.start()))
    result = Scan(text=work, delimiters=delims, neutral=neutral, encoding=encoding, byte_base=byte_base,
                  segments=segments, starts=starts, una_offset=una_offset, issues=issues)
    # Offsets were character offsets until now; make them byte offsets.
    for k, issue in enumerate(result.issues):
        if issue.offset is not None:
            result.issues[k] = _with_offset(issue, result)
    return result


def _split_lines(body: str, at: int, terminator: str) -> tuple[list[str], list[int]] | None:
    """The pieces of `body` between terminators without the line breaks before them, and their character
    offsets (`body` starting at offset `at`), when the text is written one segment a line: every
    terminator followed by one LF (the last may end the text instead), no CR, no other line break
    (leading ones aside). Then the line breaks go with one `replace` and the offsets are sums made in
    C, instead of a Python step per segment to strip and place each piece. None otherwise."""
    if terminator in "\r\n" or "\r" in body:
        return None
    text = body.lstrip("\n")
    ended = terminator + "\n"
    n = text.count(ended)
    if not n or text.count("\n") != n:
        return None
    extra = text.count(terminator) - n
    if extra and not (extra == 1 and text.endswith(terminator)):
        return None
    pieces = text.replace(ended, terminator).split(terminator)
    # Each piece but the first had the LF after the terminator before it: two characters between pieces
    # (one for the empty piece after a last terminator with no LF, which is dropped as no segment).
    starts = list(accumulate(map(add, map(len, pieces[:-1]), repeat(2)), initial=at + len(body) - len(text)))
    if extra:
        starts[-1] -= 1
    return pieces, starts


def _with_offset(issue: Issue, sc: Scan) -> Issue:
    from dataclasses import replace

    assert issue.offset is not None
    return replace(issue, offset=sc.byte_offset(issue.offset), line=sc.line(issue.offset))


def _preview(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "..."


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment, for readers that want values rather than speed."""

    tag: str
    elements: list[str | list[str] | tuple[str | list[str], ...]]
    offset: int  # byte offset of the segment's first byte
    line: int

    def __str__(self) -> str:
        return f"{self.tag} {self.elements!r}"


def segments(data: bytes) -> Iterator[Segment]:
    """Every segment of the input, UNA excluded, with values unescaped.

    A simple element is a `str`; an element with components is a list of `str` (as pydifact gives
    them); an element that repeats (syntax 4 repetition separator) is a tuple of its repetitions.
    """
    for sc in scan(data):
        for i, start in enumerate(sc.starts):
            els: list[str | list[str] | tuple[str | list[str], ...]] = []
            for element in sc.elements(i):
                reps: list[str | list[str]] = []
                for rep in element:
                    vals = [sc.unescape(v) for v in rep]
                    reps.append(vals if len(vals) > 1 else vals[0])
                els.append(reps[0] if len(reps) == 1 else tuple(reps))
            yield Segment(sc.unescape(sc.tag(i)), els, sc.byte_offset(start), sc.line(start))
