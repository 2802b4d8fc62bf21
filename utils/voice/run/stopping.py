"""Ending a run on purpose: when validation stops improving, and when the GPU runs out of memory.

``make_stall_stop(N)`` is Lightning's ``EarlyStopping`` on piper's validation mel loss: after N
validations without improvement it asks the trainer to stop. The stop takes effect after the
validation's checkpoints are written, and the run's own saver writes ``last.ckpt`` at the end of
training, so stopping never loses the latest state.

``make_oom_guard`` saves a checkpoint when CUDA runs out of memory inside ``trainer.fit`` (before
Lightning tears the run down) so the run can continue with smaller batches or shorter clips;
``oom_advice`` words the way out.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from utils.voice.run.retention import MONITOR


def check_stall_patience(value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"--stop-when-stalled {value}: give the number of validations without improvement "
                         "(1 or more)")
    return value


def make_stall_stop(patience: int, say=None):
    """Stop after ``patience`` validations whose mel loss did not beat the best so far."""
    from lightning.pytorch.callbacks import EarlyStopping

    say = say or (lambda message: print(message, file=sys.stderr, flush=True))

    class StopWhenStalled(EarlyStopping):
        stopped_at_step: int | None = None

        def _run_early_stopping_check(self, trainer):
            super()._run_early_stopping_check(trainer)
            if trainer.should_stop and self.stopped_at_step is None and self.wait_count >= self.patience:
                self.stopped_at_step = trainer.global_step // 2
                if trainer.is_global_zero:
                    say(f"validation mel loss has not improved for {self.wait_count} validation(s) (best "
                        f"{float(self.best_score):.4f}): stopping at batch {self.stopped_at_step} "
                        "(--stop-when-stalled)")

    # check_on_train_epoch_end=False: decide after validation, when val_mel is fresh.
    return StopWhenStalled(monitor=MONITOR, mode="min", patience=patience, check_on_train_epoch_end=False,
                           strict=True, verbose=False)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (or MPS) out-of-memory, whatever wrapper Lightning or torch raised it in."""
    import torch

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, torch.OutOfMemoryError):
            return True
        text = str(exc)
        if isinstance(exc, RuntimeError) and ("CUDA out of memory" in text or "MPS backend out of memory" in text):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def make_oom_guard(save_path: Path, on_saved=None):
    """A callback that, on an out-of-memory error inside fit, frees what it can and saves ``save_path``."""
    import lightning.pytorch as pl

    class OutOfMemoryGuard(pl.Callback):
        saved: Path | None = None
        step: int | None = None

        def on_exception(self, trainer, pl_module, exception):
            if not is_out_of_memory(exception):
                return
            self.step = trainer.global_step // 2
            # The traceback's frames hold the failed step's activations; drop them before saving.
            traceback.clear_frames(exception.__traceback__)
            _empty_device_cache()
            try:
                trainer.save_checkpoint(save_path, weights_only=False)
            except Exception as exc:  # noqa: BLE001 - the OOM is the error to report; say why no checkpoint
                print(f"could not save a checkpoint after running out of memory: {exc}", file=sys.stderr)
                return
            self.saved = Path(save_path)
            if on_saved is not None:
                on_saved(self.saved)

    return OutOfMemoryGuard()


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def oom_advice(batch_size: int, max_phoneme_ids: int | None, step: int | None, saved: Path | None,
               output: Path) -> str:
    """The exit message: what happened, what was saved, and the two settings to try."""
    smaller = max(1, batch_size // 2)
    limit = max(100, (max_phoneme_ids or 600) * 2 // 3)
    where = f" after {step} batch(es)" if step is not None else ""
    kept = (f"checkpoint {saved} saved; continue with: python -m tasks.train --output {output} --resume "
            f"--batch-size {smaller} --max-phoneme-ids {limit}") if saved else "no checkpoint could be saved"
    phonemes = f"--max-phoneme-ids {max_phoneme_ids}" if max_phoneme_ids else "no --max-phoneme-ids limit"
    return (f"the GPU ran out of memory{where} with --batch-size {batch_size} and {phonemes}. Try "
            f"--batch-size {smaller} and/or --max-phoneme-ids {limit} (long sentences need the most memory); "
            + kept)
