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


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


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
    return _encode(ms, 10) + _encode(rnd, 16)
