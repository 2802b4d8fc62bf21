"""Running out of device memory: the state saved, the cache emptied, and advice on what to lower.

``make_oom_guard`` saves a checkpoint when CUDA runs out of memory inside ``trainer.fit`` (before
Lightning tears the run down) so the run can continue with smaller batches or shorter clips;
``oom_advice`` words the way out.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import lightning.pytorch as pl

from utils.voice.run_config import batches_done


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


class OutOfMemoryGuard(pl.Callback):
    """On an out-of-memory error inside fit: frees what it can and saves ``save_path``
    (``on_saved(path)`` is told), so the run can go on with smaller batches or shorter clips."""

    def __init__(self, save_path: Path, on_saved=None):
        self.save_path, self.on_saved = Path(save_path), on_saved
        self.saved: Path | None = None
        self.step: int | None = None

    def on_exception(self, trainer, pl_module, exception):
        if not is_out_of_memory(exception):
            return
        self.step = batches_done(trainer)
        # The traceback's frames hold the failed step's activations; drop them before saving.
        traceback.clear_frames(exception.__traceback__)
        _empty_device_cache()
        try:
            trainer.save_checkpoint(self.save_path, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - the OOM is the error to report; say why no checkpoint
            print(f"could not save a checkpoint after running out of memory: {exc}", file=sys.stderr)
            return
        self.saved = self.save_path
        if self.on_saved is not None:
            self.on_saved(self.saved)


def make_oom_guard(save_path: Path, on_saved=None) -> OutOfMemoryGuard:
    return OutOfMemoryGuard(save_path, on_saved)


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
