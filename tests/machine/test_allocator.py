"""The training process holds glibc's mmap threshold, so large freed blocks go back to the system."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from utils.machine import allocator

REPO = Path(__file__).resolve().parents[2]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
HAS_MALLINFO2 = GLIBC and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")

# In a fresh interpreter: print how many bytes glibc puts in mmapped blocks (mallinfo2.hblkhd)
# for a 20 MB allocation, then for a 40 MB one.
_PROBE = """
import ctypes, sys
from utils.machine import allocator
if sys.argv[1] == "hold":
    print(allocator.hold_mmap_threshold(), file=sys.stderr)
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
growth = []
for size in (20_000_000, 40_000_000):
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    growth.append(libc.mallinfo2().hblkhd - before)
print(*growth)
"""


def _mmapped_growth(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                          cwd=REPO)
    return [int(n) for n in done.stdout.split()]


@pytest.mark.skipif(not HAS_MALLINFO2, reason="needs glibc >= 2.33 (mallinfo2)")
def test_threshold_is_held_at_32_mib_from_the_start():
    at_20, at_40 = _mmapped_growth("dynamic")
    assert at_20 >= 20_000_000 and at_40 >= 40_000_000  # glibc's starting 128 KiB: both mapped
    at_20, at_40 = _mmapped_growth("hold")
    assert at_20 == 0 and at_40 >= 40_000_000  # held at 32 MiB: 20 MB from the heap, 40 MB mapped


def test_user_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert allocator.hold_mmap_threshold() == "mmap threshold 65536 (MALLOC_MMAP_THRESHOLD_, yours)"


def test_other_allocators_are_left_alone(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))  # FAKE: musl or macOS
    assert allocator.hold_mmap_threshold() == "system allocator as it is (not glibc)"
