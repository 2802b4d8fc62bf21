"""``--resume`` (continue, the checkpoint must exist) and ``--resume auto`` (continue when
``checkpoints/last.ckpt`` exists, start otherwise).

``auto`` lets one command both start a run and continue it: a requeued Slurm job, a service that
restarts after a stop, a shell loop. ``settle_resume`` decides it once, before planning, into the
plain yes/no the rest of the run works with.
"""

from __future__ import annotations

from pathlib import Path

from utils.errors import BadInput
from utils.voice.console import say
from utils.voice.options import BaseRequest
from utils.voice.run_config import CHECKPOINT_NAME

RESUME_MODES = ("yes", "auto")


def settle_resume(mode: str | bool | None, folder: Path, base: BaseRequest) -> tuple[bool, BaseRequest]:
    """(resume or not, the base request to use). ``auto`` resumes when ``folder`` holds
    ``checkpoints/last.ckpt``, and then drops the base options: the run started from its base
    already, and the checkpoint holds it."""
    if mode in (None, False):
        return False, base
    if mode is True or mode == "yes":
        return True, base
    if mode != "auto":
        raise BadInput(f"--resume {mode}: give no value (continue, the checkpoint must exist) or 'auto' "
                       "(continue when checkpoints/last.ckpt exists, start a new run otherwise)")
    checkpoint = Path(folder) / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        say(f"--resume auto: no {checkpoint} yet, starting a new run")
        return False, base
    given = base.given()
    say(f"--resume auto: continuing from {checkpoint}"
        + (f" ({', '.join(given)} already applied when the run started)" if given else ""))
    return True, BaseRequest()
