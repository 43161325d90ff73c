"""The third-party corpus beside the checkout (`../shared/corpus`): read in place, never copied."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("HUB_CORPUS", ROOT.parent / "shared" / "corpus"))


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()


def edifact_files() -> list[Path]:
    """Every corpus file that starts like EDIFACT (UNA, UNB or UNH), directories excluded."""
    if not CORPUS.is_dir():
        return []
    out = []
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file() and "directories" not in p.parts and _head(p).startswith((b"UNA", b"UNB", b"UNH")):
            out.append(p)
    return out


def xml_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and "directories" not in p.parts
                  and _head(p).startswith(b"<"))
