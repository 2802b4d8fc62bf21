"""A CPU run in bf16 holds glibc's mmap threshold, so large freed blocks go back to the system."""

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

# In a fresh interpreter: free a 30 MB block (glibc's own rule then raises the threshold to
# 30 MB) and print how many bytes glibc puts in mmapped blocks (mallinfo2.hblkhd) for a
# 20 MB allocation.
_PROBE = """
import ctypes, sys
from utils.machine import allocator
if sys.argv[1] == "hold":
    print(allocator.hold_mmap_threshold(allocator.threshold_for("cpu", "bf16-mixed")), file=sys.stderr)
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free(ctypes.c_void_p(libc.malloc(30_000_000)))
before = libc.mallinfo2().hblkhd
block = libc.malloc(20_000_000)
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_growth(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                          cwd=REPO)
    return int(done.stdout.strip())


@pytest.mark.skipif(not HAS_MALLINFO2, reason="needs glibc >= 2.33 (mallinfo2)")
def test_held_threshold_keeps_large_blocks_in_their_own_mappings():
    assert _mmapped_growth("dynamic") == 0  # glibc's rule: after the 30 MB free, 20 MB comes from the heap
    assert _mmapped_growth("hold") >= 20_000_000  # held at 16 MiB: its own mapping, returned on free


def test_only_bf16_on_the_cpu_holds_it():
    assert allocator.threshold_for("cpu", "bf16-mixed") == 16 * 1024 * 1024
    assert allocator.threshold_for("cpu", "32-true") is None  # 1.10x the training time there
    assert allocator.threshold_for("cuda", "bf16-mixed") is None


def test_user_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert allocator.hold_mmap_threshold(16 << 20) == "mmap threshold 65536 (MALLOC_MMAP_THRESHOLD_, yours)"


def test_other_allocators_are_left_alone(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))  # FAKE: musl or macOS
    assert allocator.hold_mmap_threshold(16 << 20) == "system allocator as it is (not glibc)"
