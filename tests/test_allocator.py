"""The allocator setting: large arrays come from glibc's heap (reused), not a fresh mmap each."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from vibegen.allocator import MMAP_THRESHOLD

# Run in a child: the question is what a fresh process does before and after the setting.
CHILD = """
import ctypes, sys
import numpy as np

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "set":
    from vibegen.allocator import keep_freed_memory
    assert keep_freed_memory()
before = libc.mallinfo2().hblkhd
block = np.ones(3_000_000)  # 24 MB
print(libc.mallinfo2().hblkhd - before)
"""


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")
    except OSError:
        return False


def _mapped_by_a_24_mb_array(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only (mallinfo2)")
def test_a_large_array_comes_from_the_heap_once_set() -> None:
    assert _mapped_by_a_24_mb_array("default") >= 24_000_000  # glibc's default: its own mmap
    assert _mapped_by_a_24_mb_array("set") == 0
    assert MMAP_THRESHOLD > 24_000_000
