"""Keep freed memory in the training process instead of handing it back to the kernel.

glibc's malloc serves large blocks with ``mmap`` and unmaps them on ``free``, and trims the top
of its heap once enough is free there. A training step frees and re-allocates hundreds of MB of
activations and gradients each batch, so memory handed back is asked for again moments later
and every page of it is faulted in and zeroed by the kernel once more. Measured on a medium
batch (batch 4, 2-core EPYC, fp32, ``benchmarks/profile_step.py``): the discriminator's backward
took 70,000-115,000 page faults and 0.25-0.9 s of system time per batch; with mmap off and no
trimming, none after the first batches. The cost: the process keeps its peak memory until it ends,
which a training run reaches every batch anyway.

Set with ``mallopt`` at run time (only glibc has it; elsewhere nothing changes), so it works
however the process was started; child processes forked after it (data loader workers) inherit it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = -1  # mallopt(3): a trim threshold of -1 turns trimming off


def keep_freed_memory() -> str:
    """Turn off glibc's mmap for large blocks and its heap trimming in this process.

    Returns what was done, for the run's record: ``"kept (glibc X)"`` or why not."""
    libc_name, version = platform.libc_ver()
    if libc_name != "glibc":
        return f"unchanged ({libc_name or 'not glibc'}: no mallopt)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as exc:
        return f"unchanged (glibc {version}: {exc})"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on a refused value.
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) != 1:
        return f"unchanged (glibc {version} refused mallopt)"
    return f"kept (glibc {version}: no mmap for large blocks, no heap trimming)"
