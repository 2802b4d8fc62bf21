"""glibc malloc's mmap threshold held at 16 MiB when the CPU trains in bf16: a lower peak.

glibc serves an allocation above its mmap threshold with a mapping of its own, handed back to
the system on free. The threshold starts at 128 KiB and rises, while the process runs, to the
size of each such block freed (up to 32 MiB). After the first batches most of the tensors a
training step allocates and frees then come from the heap, where freed space stays resident and
fragments. Held at 16 MiB, the large tensors (the discriminator's 1024x1024x5 weights, their
gradients and optimiser states are 20 MiB each) keep mappings of their own, and every one is a
fresh mapping whose pages the kernel zeroes on first touch, which costs time.

Measured on the demo (x_low, batch 2) on our 2-core CPU, peak RSS in MiB:

- bf16-mixed: glibc's rule 1993-2228 (median 2168, 4 runs); held at 16 MiB 1958-2012 (median
  1990, 7 runs) for about 3 % more training time; held at 32 MiB 2103-2320 (median 2136, 5 runs).
- 32-true: held at 16 MiB, 1.10x the training time (14.9 and 14.6 s against 13.3 and 13.4 s) for
  1891 and 1902 against 2001 and 2036: not worth it, so fp32 keeps glibc's rule.

On a GPU the large tensors live in device memory, so GPU runs keep glibc's rule too. Only glibc
has ``mallopt``; elsewhere (macOS, musl), and when the user set ``MALLOC_MMAP_THRESHOLD_``,
nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
BF16_CPU_MMAP_THRESHOLD = 16 * 1024 * 1024


def threshold_for(accelerator: str, precision: str) -> int | None:
    """The mmap threshold to hold for a run on ``accelerator`` in ``precision``; None: glibc's rule."""
    return BF16_CPU_MMAP_THRESHOLD if accelerator == "cpu" and precision.startswith("bf16") else None


def hold_mmap_threshold(size: int | None) -> str:
    """Fix glibc's mmap threshold at ``size`` bytes for this process (None: leave it); says what was done."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return f"mmap threshold {os.environ['MALLOC_MMAP_THRESHOLD_']} (MALLOC_MMAP_THRESHOLD_, yours)"
    if size is None:
        return "system allocator as it is"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "system allocator as it is (not glibc)"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mallopt(M_MMAP_THRESHOLD, size) != 1:  # mallopt returns 1 on success
        return "system allocator as it is (glibc refused the mmap threshold)"
    return f"glibc mmap threshold {size // (1024 * 1024)} MiB"
