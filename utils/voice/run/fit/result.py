"""What a fit leaves behind for the results phase: ``RunResult``.

Its own module so that the fit's parts that fill it (the trainer, a stop from outside) share one
type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    steps: int = 0                   # batches trained, in total (resumed runs included)
    steps_this_run: int = 0
    epochs: int = 0
    interrupted: str | None = None   # the signal name when stopped early
    requeue_note: str | None = None  # Slurm: "Slurm job N requeued", or why it was not
    history: list[dict] = field(default_factory=list)
    history_restored: bool = False   # history holds the resumed checkpoint's earlier rows too
    checkpoint: Path | None = None
    finetune: dict | None = None
    seconds: dict = field(default_factory=dict)
    model: Any = None                # the trained VitsModel, for export (rank 0 only)
    watchers: Any = None             # utils.voice.run.fit.watchers.Watchers: samples, page, best checkpoints, stops
    left_out: list = field(default_factory=list)  # (text, phoneme ids) over --max-phoneme-ids
    measures: Any = None             # utils.voice.evaluate.during_training's callback (its records)
