"""Who may speak: messages for the user go to stderr from the main process only.

Lightning's DDP launcher starts one process per extra device that re-runs the whole command;
those processes must neither print the run's messages a second time nor write the run's files.

Import rule: the standard library only; every package of ``utils.voice`` may import it.
"""

from __future__ import annotations

import os
import sys


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
