"""Valid interchanges to break on purpose, and a small editor for them.

The base files are ours (`samples/`), a bayplan from `bench/bayplan.py`, and one third-party bayplan
from the corpus, read in place (never copied into the project; absent corpus = that case skipped).

`Edi` keeps an interchange as a list of raw segment texts (release characters kept as they are) so a
test can change one element, drop or repeat one segment and write the bytes back. It reads only what
these files use: level A delimiters, no UNA, one or no line break after each terminator.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
CORPUS_BAPLIE = CORPUS / "MJapdeva4302__ReadBaplie" / "BAPLIE_Export.EDI"

REL, ELEM, COMP, TERM = "?", "+", ":", "'"


@functools.cache
def bayplan(containers: int, messages: int, seed: int) -> bytes:
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from bayplan import make_bayplan  # bench/ is not a package

    data: bytes = make_bayplan(containers, messages, seed=seed)
    return data


@dataclass(frozen=True)
class Base:
    """A valid interchange to mutate: its id, the message type inside, and how to get its bytes."""

    id: str
    message: str  # BAPLIE | CUSCAR | ...
    guided: bool  # whether an implementation guide (SMDG) applies to its messages

    def data(self) -> bytes:
        return _read(self.id)

    @property
    def available(self) -> bool:
        return self.id != "corpus-baplie-export" or CORPUS_BAPLIE.is_file()


BASES = [
    Base("baplie-smdg22", "BAPLIE", True),
    Base("cuscar-d95b", "CUSCAR", False),
    Base("bayplan-50", "BAPLIE", True),
    Base("corpus-baplie-export", "BAPLIE", True),
]


@functools.cache
def _read(base_id: str) -> bytes:
    if base_id == "bayplan-50":
        # Two messages, so positions are also checked in a message that does not start the file.
        return bayplan(50, 2, 20260101)
    if base_id == "corpus-baplie-export":
        return CORPUS_BAPLIE.read_bytes()
    return (SAMPLES / f"{base_id}.edi").read_bytes()


def split_unreleased(text: str, sep: str) -> list[str]:
    """`text` split on `sep` where it is not released by '?' (a released '?' is '??')."""
    out, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == REL and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


@dataclass
class Edi:
    segments: list[str]
    newline: str = ""  # what follows each terminator
    trailer: str = ""  # what follows the last terminator

    @classmethod
    def parse(cls, data: bytes) -> Edi:
        text = data.decode("latin-1")
        assert not text.startswith("UNA"), "the editor reads level A files without UNA only"
        pieces = split_unreleased(text, TERM)
        newline = "\n" if "\n" in text else ""
        trailer = pieces[-1]
        assert not trailer.strip(), f"data after the last terminator: {trailer[:40]!r}"
        segments = [p.lstrip("\r\n") for p in pieces[:-1]]
        return cls(segments, newline, trailer if not newline else "")

    def to_bytes(self) -> bytes:
        return "".join(s + TERM + self.newline for s in self.segments).encode("latin-1") + \
            self.trailer.encode("latin-1")

    def offsets(self) -> list[int]:
        """Byte offset of each segment's first byte in `to_bytes()` (latin-1: one byte a character)."""
        out, at = [], 0
        for s in self.segments:
            out.append(at)
            at += len(s) + len(TERM) + len(self.newline)
        return out

    def copy(self) -> Edi:
        return Edi(list(self.segments), self.newline, self.trailer)

    # --- where things are -------------------------------------------------------------------------

    def tag(self, i: int) -> str:
        return self.segments[i][:3]

    def messages(self) -> list[tuple[int, int]]:
        """(index of UNH, index of UNT) of each message."""
        out, start = [], None
        for i, s in enumerate(self.segments):
            if s.startswith("UNH+"):
                start = i
            elif s.startswith("UNT+"):
                assert start is not None
                out.append((start, i))
                start = None
        return out

    def find(self, tag: str, within: tuple[int, int], after: int | None = None, nth: int = 0) -> int:
        """Index of the nth segment `tag` in a message (after index `after`, if given)."""
        lo, hi = within
        hits = [i for i in range(lo, hi + 1) if self.tag(i) == tag and (after is None or i > after)]
        assert len(hits) > nth, f"no {tag} #{nth} in segments {lo}..{hi}"
        return hits[nth]

    # --- elements -----------------------------------------------------------------------------

    def elements(self, i: int) -> list[list[str]]:
        """Segment i's elements (tag excluded), each a list of raw components."""
        return [split_unreleased(e, COMP) for e in split_unreleased(self.segments[i], ELEM)[1:]]

    def get(self, i: int, element: int, component: int = 1) -> str:
        els = self.elements(i)
        if element > len(els) or component > len(els[element - 1]):
            return ""
        return els[element - 1][component - 1]

    def set(self, i: int, element: int, component: int | None, value: str) -> None:
        """Set element (component) of segment i, padding with empty ones as needed."""
        els = self.elements(i)
        while len(els) < element:
            els.append([""])
        if component is None:
            els[element - 1] = [value]
        else:
            comps = els[element - 1]
            while len(comps) < component:
                comps.append("")
            comps[component - 1] = value
        for comps in els:
            while len(comps) > 1 and comps[-1] == "":
                comps.pop()
        self.segments[i] = ELEM.join([self.tag(i)] + [COMP.join(c) for c in els])

    def fix_counts(self) -> None:
        """Make every UNT count right again after segments were added or removed."""
        for unh, unt in self.messages():
            self.set(unt, 1, None, str(unt - unh + 1))
