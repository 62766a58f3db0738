"""Run ids: ``r`` + 26 lowercase Crockford base32 characters (48-bit ms time, 80 random bits).

Ids sort by creation time, so the run list can page on the id alone. Within one process ids
are strictly increasing even inside the same millisecond (the random part is incremented).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_run_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_CHARS = 26
_RANDOM_BITS = 80


class _MonotonicClock:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.last_ms = 0
        self.last_random = 0

    def next_value(self) -> int:
        with self.lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms <= self.last_ms:
                # Same millisecond (or the clock stepped back): stay increasing in this process.
                self.last_random += 1
            else:
                self.last_ms = now_ms
                self.last_random = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
            return (self.last_ms << _RANDOM_BITS) | self.last_random


_clock = _MonotonicClock()
# A forked child must not continue the parent's sequence, or both could produce the same id.
os.register_at_fork(after_in_child=_clock.reset)


def new_run_id() -> str:
    value = _clock.next_value()
    chars = []
    for _ in range(_ID_CHARS):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "r" + "".join(reversed(chars))
