"""glibc malloc's mmap threshold held at 32 MiB from the start of training: a steadier peak.

glibc serves an allocation above its mmap threshold with a mapping of its own, handed back to
the system on free. The threshold starts at 128 KiB and rises, while the process runs, to the
size of each such block freed (up to 32 MiB), so which of a step's tensors come from the heap,
where freed space stays resident and fragments, depends on how the first batches' allocations
and the threads interleaved: the demo's peak (bf16-mixed, 2-core CPU) was 2.04 to 2.31 GB over
six identical runs. Held at the ceiling the threshold reaches anyway, from the start: 2.14 and
2.18 GB (fp32: 2.01 and 2.04 GB, against 2.05 and 2.09 GB), at the same speed. Lower thresholds
cut the peak further and cost time, because every tensor above one is a fresh mapping whose
pages the kernel zeroes on first touch: 16 MiB gave 2.02-2.06 GB in bf16 but 1.10x fp32's
training time (the discriminator's 1024x1024x5 weights, their gradients and optimiser states
are 20 MiB each); 4 MiB gave 1.89 GB at 1.13x the wall time.

Only glibc has ``mallopt``; elsewhere (macOS, musl) and when the user set
``MALLOC_MMAP_THRESHOLD_`` themselves, nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
TRAINING_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit


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
