"""Identifiers the store generates: ULIDs, 26 Crockford base32 characters.

A ULID is 48 bits of milliseconds since the epoch followed by 80 random bits, so ids sort by creation
time as plain text on every backend (handy for "oldest first" and for reading logs) while staying
unguessable and unique across processes. Within one process, ids made in the same millisecond are made
monotonic by incrementing the random part, so a sort by id keeps their creation order too.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


# Two base-32 digits for every 10-bit value: a ULID's 130 bits (48 of time, 80 random, 2 leading zeros)
# are 13 look-ups, a third of the time that 26 divmods on the number took (a pipeline message makes
# several ids: its deliveries, events, reports).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_SHIFTS = tuple(range(120, -1, -10))


def _encode(ms: int, rnd: int) -> str:
    """The 26 characters of a ULID: `ms` as the first 10, `rnd` as the last 16."""
    value = (ms << _RANDOM_BITS) | rnd
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id() -> str:
    """A new ULID, e.g. '01JDZ3V8K4N6QG2W5TB0X7RM9C'."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same millisecond (or the clock stepped back): keep order by counting up from the last id.
            ms = _last_ms
            rnd = (_last_random + 1) % (1 << _RANDOM_BITS)
        else:
            rnd = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
        _last_ms, _last_random = ms, rnd
    return _encode(ms, rnd)
