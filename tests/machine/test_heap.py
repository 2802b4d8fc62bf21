"""The training process keeps freed memory (glibc mallopt) and says what it did elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

from utils.machine import heap


def test_glibc_keeps_freed_memory_in_a_fresh_process():
    if platform.libc_ver()[0] != "glibc":
        assert heap.keep_freed_memory().startswith("unchanged")
        return
    # A fresh process, so this test's own heap settings stay as they were; a big block freed and
    # asked for again then comes back without new page faults (it was neither unmapped nor trimmed).
    code = """
import resource
from utils.machine import heap
print(heap.keep_freed_memory())
block = bytearray(256 * 1024 * 1024)
del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = bytearray(256 * 1024 * 1024)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith("kept (glibc")
    assert int(out[1]) < 1000  # 256 MB faulted in again would be 65,536 faults of 4 KiB pages


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))  # FAKE: a musl or macOS process
    assert heap.keep_freed_memory() == "unchanged (not glibc: no mallopt)"
