"""glibc malloc's mmap threshold held at 16 MiB in the training process: a lower, steady peak.

glibc serves an allocation above its mmap threshold with a mapping of its own, handed back to
the system on free. The threshold starts at 128 KiB and rises to the size of each such block
freed (up to 32 MiB), so after the first training batch most of the tensors a step allocates
and frees come from the heap instead, where freed space stays resident and fragments. The
demo's peak then depended on how the threads' allocations interleaved: 2.04 to 2.31 GB over six
identical runs on our 2-core CPU. Held at 16 MiB (the large activations and gradients keep
their own mappings), it was 2.05 GB in each run, for about 2 % more wall time; 4 MiB gave
1.89 GB but 1.13x the wall time (page faults on every large tensor).

Only glibc has ``mallopt``; elsewhere (macOS, musl) and when the user set
``MALLOC_MMAP_THRESHOLD_`` themselves, nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
TRAINING_MMAP_THRESHOLD = 16 * 1024 * 1024


def hold_mmap_threshold(size: int = TRAINING_MMAP_THRESHOLD) -> str:
    """Fix glibc's mmap threshold at ``size`` bytes for this process; returns what was done."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return f"mmap threshold {os.environ['MALLOC_MMAP_THRESHOLD_']} (MALLOC_MMAP_THRESHOLD_, yours)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "system allocator as it is (not glibc)"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mallopt(M_MMAP_THRESHOLD, size) != 1:  # mallopt returns 1 on success
        return "system allocator as it is (glibc refused the mmap threshold)"
    return f"glibc mmap threshold {size // (1024 * 1024)} MiB"
