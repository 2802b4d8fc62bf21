"""One process per core for per-clip preparation work (audio conversion, phonemes, spectrograms).

Each clip's work is independent and pure (same input, same bytes out), so a pool changes only the
wall time. Results come back in input order, so callers can feed a progress bar and build their
outputs exactly as the single-process loop did.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def default_workers() -> int:
    """Every CPU this process may use: its affinity mask, lowered to its cgroup CPU quota."""
    from utils.machine.cpu_share import usable_cpus

    return usable_cpus()


def in_worker() -> bool:
    """True inside a pool process (not in the process that runs the loop itself)."""
    return multiprocessing.parent_process() is not None


def _context():
    # fork on Linux: workers start in milliseconds with torch, librosa and piper (and its in-process
    # patches) already imported, as torch's own DataLoader workers do. The pool is created before any
    # progress bar thread starts. macOS and Windows use spawn (fork is unsafe or absent there).
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    # Ctrl+C reaches the whole process group: let the main process stop the pool, quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch

        # N processes × N threads each would oversubscribe the cores.
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is always there in training environments
        pass
    if initializer is not None:
        initializer(*initargs)


def map_clips(func: Callable[[Any], Any], items: Iterable[Any], workers: int | None = None,
              initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """``map(func, items)`` over ``workers`` processes (default: every core), in input order.

    One worker (or one item) runs in this process, with no pool. ``func`` and ``initializer`` must
    be module-level functions (they are pickled for spawn)."""
    items = list(items)
    workers = max(1, min(workers or default_workers(), len(items)))
    if workers == 1:
        if initializer is not None:
            initializer(*initargs)
        return map(func, items)
    from concurrent.futures import ProcessPoolExecutor

    # An executor, not multiprocessing.Pool: a worker that dies (out of memory, killed) raises
    # BrokenProcessPool here instead of leaving the loop waiting forever. Its processes start
    # here, before the caller's progress bar starts a thread of its own.
    executor = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_start_worker,
                                   initargs=(initializer, initargs))
    # A few items per hand-off instead of one: a clip's conversion takes milliseconds, about what
    # sending it to a worker and its result back costs. Eight chunks per worker still balance the load.
    results = executor.map(func, items, chunksize=max(1, len(items) // (workers * 8)))

    def in_order() -> Iterator[Any]:
        try:
            yield from results
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    return in_order()
