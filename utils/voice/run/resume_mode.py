"""``--resume`` (continue, the checkpoint must exist) and ``--resume auto`` (continue when
``checkpoints/last.ckpt`` exists, start otherwise).

``auto`` lets one command both start a run and continue it: a requeued Slurm job, a service that
restarts after a stop, a shell loop. It is settled once, before planning, into the plain yes/no
the rest of the run works with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from utils.errors import BadInput
from utils.voice.console import say
from utils.voice.run_config import CHECKPOINT_NAME, DEFAULTS, DEMO, TrainOptions

RESUME_MODES = ("yes", "auto")
# A fine-tune's base is already in the checkpoint of the run being continued.
_BASE_OPTIONS = ("finetune", "base", "base_url", "base_sha256", "base_speaker")


def resume_output(options: TrainOptions) -> Path:
    """The folder ``--resume`` continues: ``--output``, else the default ``outputs/<voice name>``."""
    if options.output:
        return Path(options.output)
    return Path("outputs") / (options.voice_name or (DEFAULTS if options.dataset else DEMO)["voice_name"])


def settle_resume(options: TrainOptions) -> TrainOptions:
    """``options`` with ``resume`` as True/False. For ``auto``: True when the output folder holds
    ``checkpoints/last.ckpt`` (the base options are then dropped: the run already started from
    its base), False otherwise."""
    mode = options.resume
    if mode in (None, False):
        return dataclasses.replace(options, resume=False)
    if mode is True or mode == "yes":
        return dataclasses.replace(options, resume=True)
    if mode != "auto":
        raise BadInput(f"--resume {mode}: give no value (continue, the checkpoint must exist) or 'auto' "
                       "(continue when checkpoints/last.ckpt exists, start a new run otherwise)")
    checkpoint = resume_output(options) / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        say(f"--resume auto: no {checkpoint} yet, starting a new run")
        return dataclasses.replace(options, resume=False)
    given = [f"--{name.replace('_', '-')}" for name in _BASE_OPTIONS if getattr(options, name) is not None]
    say(f"--resume auto: continuing from {checkpoint}"
        + (f" ({', '.join(given)} already applied when the run started)" if given else ""))
    return dataclasses.replace(options, resume=True, **{name: None for name in _BASE_OPTIONS})
