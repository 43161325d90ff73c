"""Reading what the hub sends back: CONTRL segments, sample files with a new interchange reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.edifact import segments

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def segs(data: bytes, tag: str) -> list[list[Any]]:
    """The elements of every `tag` segment of an interchange."""
    return [list(s.elements) for s in segments(data) if s.tag == tag]


def contrl(data: bytes) -> dict[str, list[list[Any]]]:
    """A CONTRL's UCI, UCM, UCS and UCD segments; asserts it is a CONTRL."""
    unh = segs(data, "UNH")
    assert unh and unh[0][1][0] == "CONTRL", f"not a CONTRL: {data[:200]!r}"
    return {tag: segs(data, tag) for tag in ("UCI", "UCM", "UCS", "UCD")}


def with_ref(sample: str, old: str, new: str) -> bytes:
    """A sample file whose interchange reference (UNB 0020 and UNZ) is `new` instead of `old`."""
    data = (SAMPLES / sample).read_bytes()
    assert len(old) == len(new) and data.count(old.encode()) == 2
    return data.replace(old.encode(), new.encode())
