"""The C allocator's settings for a process that makes many large, short-lived arrays.

glibc's malloc serves a block of 128 KiB or more with a fresh `mmap` of its own until it has
seen such blocks freed, and gives memory at the top of its heap back to the system once more
than twice that is free. A leaderboard build makes a few hundred numpy temporaries of 1-10 MB
(one per column of 300,000 outcomes) and frees each within milliseconds, so nearly every one
arrived as new pages that the kernel had to fault in one by one on first touch: on the 2-core
test machine that was a third of the board's time (50 x 100k: 0.15 s, 0.09 s with the
settings below; issue 16, item 4). Image answers of 1-2 MB go the same way.

With a fixed threshold glibc keeps such blocks in its heap and reuses them. What it costs: up
to TRIM_THRESHOLD of freed memory stays with the process instead of going back at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap, and are reused
TRIM_THRESHOLD = 256 << 20  # free memory the heap keeps before it gives any back

_lock = threading.Lock()
_set: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to reuse freed blocks under 64 MiB; False where it is not glibc."""
    global _set
    with _lock:
        if _set is None:
            _set = _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(
                _M_TRIM_THRESHOLD, TRIM_THRESHOLD
            )
        return _set


def _mallopt(param: int, value: int) -> bool:
    # musl and macOS have no mallopt (or ignore it): the defaults there stand.
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(param, value) == 1
