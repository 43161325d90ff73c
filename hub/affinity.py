"""Which vessel call a message is about, as far as sharing the work between hub processes goes.

Several hub processes on one PostgreSQL store each write the vessel calls they own (hub.pipeline):
two writers of one call wait on each other's row locks and read back each other's dossiers. A worker
learns a message's call for certain only from its mapping, after validating and mapping it; if the call
turns out to be another worker's, that work is thrown away and done again by the owner. So intake reads
a hint straight off the bytes (`call_hint`): the voyage of an EDIFACT message's main carriage (TDT with
transport stage 20, data element 8028), which every message naming a call gives in its first
segments, and a worker leases only messages whose hint is its own or nobody's. After mapping,
`call_owner_keys` gives the same kind of key from the mapped call, for the messages without a hint and
for the rare one whose hint was not its call's voyage.

These are hints for sharing out work, nothing more: a wrong or missing one costs a hand-over or a wait
on a lock, never a wrong dossier (correlation and the store's row locks see to that). A call whose
messages give different voyages (an import CUSCAR on the inbound voyage, an export IFTMIN on the
outbound one) has two keys, which two workers may own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from hub.dossier.keys import normalise_voyage

# The TDT of the main carriage comes in a message's header (before any consignment or container), so
# the search stops here even in a bayplan of several megabytes.
_HEAD = 64 * 1024
# 8028 is an..17; something far longer is not a voyage, and must not become a key a sender can inflate.
_LONGEST = 35
_PREFIX = "voyage|"

# (component, element, release or None, terminator) of syntax levels A and B (ISO 9735 defaults)
_LEVEL_A = (b":", b"+", b"?", b"'")
_LEVEL_B = (b"\x1f", b"\x1d", None, b"\x1c")


def call_hint(raw: bytes) -> str | None:
    """The key of the vessel call an EDIFACT interchange names ("voyage|0712N"), read from its bytes:
    the first main-carriage TDT's voyage (8028), normalised as correlation normalises voyages. None for
    XML or anything else, for an interchange without such a TDT or with an empty or odd voyage."""
    head = raw[:_HEAD]
    delimiters = _delimiters(head)
    if delimiters is None:
        return None
    found = _main_carriage(*delimiters).search(head)
    if found is None:
        return None
    value = found.group(1)
    release = delimiters[2]
    if release is not None and release in value:
        value = re.sub(re.escape(release) + b"(.)", rb"\1", value, flags=re.DOTALL)
    try:
        return _voyage_key(value.decode("ascii"))
    except UnicodeDecodeError:
        return None


def call_owner_keys(call: Mapping[str, Any]) -> set[str]:
    """The keys, in `call_hint`'s form, of a mapped call (the `call` part of a canonical document)."""
    keys = (_voyage_key(str(call[field])) for field in ("voyage_in", "voyage_out") if call.get(field))
    return {key for key in keys if key is not None}


def _voyage_key(voyage: str) -> str | None:
    """The key "voyage|<voyage>", normalised as correlation normalises voyages; None if empty or too long."""
    normalised = normalise_voyage(voyage)
    return _PREFIX + normalised if normalised and len(normalised) <= _LONGEST else None


def _delimiters(head: bytes) -> tuple[bytes, bytes, bytes | None, bytes] | None:
    """The delimiters of the UNA, or the defaults of the syntax level; None for a UNA cut short."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"UNA"):
        if len(start) < 9:
            return None
        component, element, release, terminator = start[3:4], start[4:5], start[6:7], start[8:9]
        return component, element, None if release == b" " else release, terminator
    # UNB, or a message without an envelope (UNH); level B has its own element separator after the tag
    return _LEVEL_B if start[3:4] == _LEVEL_B[1] else _LEVEL_A


@functools.lru_cache(maxsize=16)
def _main_carriage(component: bytes, element: bytes, release: bytes | None, terminator: bytes) -> re.Pattern[bytes]:
    """TDT+20+<voyage> at a segment start (after a terminator and any line break), the voyage up to the
    next separator, released characters included."""
    specials = component + element + terminator + (release or b"")
    plain = b"[^" + re.escape(specials) + b"]"
    value = b"(?:" + re.escape(release) + b".|" + plain + b")*" if release else plain + b"*"
    e = re.escape(element)
    return re.compile(re.escape(terminator) + rb"\s*TDT" + e + b"20" + e + b"(" + value + b")", re.DOTALL)
