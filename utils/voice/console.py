"""Who may speak: messages for the user go to stderr from the main process only.

Lightning's DDP launcher starts one process per extra device that re-runs the whole command;
those processes must neither print the run's messages a second time nor write the run's files.

Import rule: the standard library only; every package of ``utils.voice`` may import it.
"""

from __future__ import annotations

import os
import sys
import time


def is_worker_process() -> bool:
    """True in the extra processes Lightning's DDP launcher starts (they re-run this command), and
    in every Slurm task but the first when ``srun`` starts one process per GPU itself."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0) > 0 or _slurm_task_rank() > 0


def _slurm_task_rank() -> int:
    # As Lightning's SLURMEnvironment decides: a job step with SLURM_NTASKS, not an interactive
    # job named bash/interactive (there Lightning ignores Slurm, and so do we).
    if "SLURM_NTASKS" not in os.environ or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return 0
    return int(os.environ.get("SLURM_PROCID", "0") or 0)


def say(message: str) -> None:
    """One message for the user, on stderr, from the main process only."""
    if not is_worker_process():
        print(message, file=sys.stderr, flush=True)


# Where stderr is not a terminal (a file, a Slurm log) a bar's carriage returns pile up into one
# line of hundreds of characters: print a plain line this often instead, and one at the end.
PLAIN_PROGRESS_EVERY_S = 30.0


class PlainProgress:
    """The part of tqdm's interface the run uses (iterate, ``update``, ``n``, ``close``, ``with``),
    printing ``desc: n/total units (s)`` lines now and then instead of redrawing a bar."""

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 every_s: float = PLAIN_PROGRESS_EVERY_S, **_tqdm_only):
        self.iterable, self.total, self.desc, self.unit, self.every_s = iterable, total, desc, unit, every_s
        if total is None and hasattr(iterable, "__len__"):
            self.total = len(iterable)
        self.n = 0
        self._start = self._last = time.monotonic()
        self._printed: int | None = None

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self._last >= self.every_s:
            self._print()

    def _print(self) -> None:
        self._last = time.monotonic()
        if self.n == self._printed:
            return
        self._printed = self.n
        of = f"/{self.total}" if self.total else ""
        print(f"{self.desc}: {self.n}{of} {self.unit}s ({self._last - self._start:.0f} s)", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        self._print()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def progress_bar(iterable=None, **options):
    """tqdm's bar on stderr where it is a terminal; elsewhere ``PlainProgress`` (same options)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, file=sys.stderr, **options)
    return PlainProgress(iterable, **options)
