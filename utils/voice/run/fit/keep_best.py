"""The best checkpoints by the chosen measure (``best-batch=N-<measure>=V.ckpt``, the worst removed)
and the stop when validation has stalled.

Keep the best checkpoints, not every one: ``last.ckpt`` plus the best ``--keep-best K``.

A Piper checkpoint is 0.6-1 GB (generator, discriminator and both Adam states), so keeping one
per validation fills a disk in a day. ``make_keep_best`` is Lightning's ``ModelCheckpoint``
ranking by piper's validation mel loss (``val_mel``: the raw mel L1, the quality-correlated
signal piper itself checkpoints on). Lightning writes the new file first and deletes the one it
displaces only afterwards, and never the file it is writing; ``last.ckpt`` belongs to the run's
own saver and is never touched here. Every save prints the disk the file takes.

``make_stall_stop(N)`` is Lightning's ``EarlyStopping`` on the same ranking: after N validations
without improvement it asks the trainer to stop. The stop takes effect after the validation's
checkpoints are written, and the run's own saver writes ``last.ckpt`` at the end of training, so
stopping never loses the latest state.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from utils.voice.run.configure.watch_options import BEST_PREFIX, DEFAULT_KEEP_BEST, MONITOR
from utils.voice.run_config import batches_done

# "best-batch=120-val_mel=0.8123.ckpt": the batch (not Lightning's doubled global step) and the score.
_NAME_RE = re.compile(r"best-batch=(\d+)-(val_[a-z0-9_]+)=([0-9.eE+-]+|nan|inf)(?:-v\d+)?\.ckpt$")


@dataclass(frozen=True)
class BestCheckpoint:
    path: Path
    step: int          # batches trained when it was saved
    val_mel: float     # the score it was ranked by (validation mel loss unless ``metric`` says otherwise)
    metric: str = MONITOR


def filename_for(metric: str) -> str:
    return BEST_PREFIX + "-batch={batch}-" + metric + "={" + metric + ":.4f}"


def parse_best_name(path: Path) -> BestCheckpoint | None:
    """The step and score a best-checkpoint file name carries; None for other files."""
    match = _NAME_RE.search(Path(path).name)
    if not match:
        return None
    return BestCheckpoint(path=Path(path), step=int(match.group(1)), val_mel=float(match.group(3)),
                          metric=match.group(2))


def best_checkpoints(folder: Path) -> list[BestCheckpoint]:
    """Best checkpoints in ``folder``, lowest score first."""
    found = [parse_best_name(p) for p in Path(folder).glob(f"{BEST_PREFIX}-*.ckpt")]
    return sorted((b for b in found if b is not None), key=lambda b: (b.val_mel, -b.step))


def human_size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}" if unit == "GB" else f"{n_bytes / scale:.0f} {unit}"
    return f"{n_bytes} B"


def describe_checkpoint(path: Path, what: str) -> str:
    """One line for the log: which file, why, and the disk it takes."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    return f"checkpoint {path.name} ({what}): {human_size(size)} on disk"


def make_keep_best(dirpath: Path, keep_best: int = DEFAULT_KEEP_BEST, say=None, monitor: str = MONITOR):
    """A ModelCheckpoint keeping the ``keep_best`` lowest-``monitor`` checkpoints in ``dirpath``."""
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    say = say or (lambda message: print(message, file=sys.stderr, flush=True))

    # Defined in the function on purpose: Lightning keys this callback's saved state by the class's
    # qualified name, so moving the class would orphan the state of runs resumed across the change.
    class KeepBest(ModelCheckpoint):
        def format_checkpoint_name(self, metrics, filename=None, ver=None, prefix=None):
            metrics = dict(metrics)
            metrics["batch"] = torch.tensor(int(metrics.get("step", 0)) // 2)
            return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

        def _save_checkpoint(self, trainer, filepath):
            super()._save_checkpoint(trainer, filepath)
            if trainer.is_global_zero and filepath in self.best_k_models:
                rank = sorted(self.best_k_models.values()).index(self.best_k_models[filepath]) + 1
                say(describe_checkpoint(Path(filepath), f"{monitor} {float(self.current_score):.4f}, "
                                        f"#{rank} of the best {self.save_top_k}"))

        def _remove_checkpoint(self, trainer, filepath):
            super()._remove_checkpoint(trainer, filepath)
            if trainer.is_global_zero:
                say(f"checkpoint {Path(filepath).name} removed: no longer among the best {self.save_top_k}")

        @property
        def best_step(self) -> int | None:
            best = parse_best_name(Path(self.best_model_path)) if self.best_model_path else None
            return best.step if best else None

    return KeepBest(dirpath=str(dirpath), monitor=monitor, mode="min", save_top_k=keep_best, save_last=False,
                    filename=filename_for(monitor), auto_insert_metric_name=False, save_on_train_epoch_end=False)


def make_stall_stop(patience: int, say=None):
    """Stop after ``patience`` validations whose mel loss did not beat the best so far."""
    from lightning.pytorch.callbacks import EarlyStopping

    say = say or (lambda message: print(message, file=sys.stderr, flush=True))

    # Defined in the function on purpose: Lightning keys this callback's saved state by the class's
    # qualified name, so moving the class would orphan the state of runs resumed across the change.
    class StopWhenStalled(EarlyStopping):
        stopped_at_step: int | None = None

        def _run_early_stopping_check(self, trainer):
            super()._run_early_stopping_check(trainer)
            if trainer.should_stop and self.stopped_at_step is None and self.wait_count >= self.patience:
                self.stopped_at_step = batches_done(trainer)
                if trainer.is_global_zero:
                    say(f"validation mel loss has not improved for {self.wait_count} validation(s) (best "
                        f"{float(self.best_score):.4f}): stopping at batch {self.stopped_at_step} "
                        "(--stop-when-stalled)")

    # check_on_train_epoch_end=False: decide after validation, when val_mel is fresh.
    return StopWhenStalled(monitor=MONITOR, mode="min", patience=patience, check_on_train_epoch_end=False,
                           strict=True, verbose=False)
