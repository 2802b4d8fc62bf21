"""The warm-up of a fine-tune from a voice's ONNX: the restored generator held still at first.

A voice's graph gives back the text encoder, the duration predictor's inference part, the flow and
the decoder; the posterior encoder, the duration predictor's posterior flows and both
discriminators start fresh. Trained all together from the first batch, the fresh parts' random
outputs pull the restored ones apart within a few batches (measured on joe's voice: the recogniser's
word error went 0.55 at batch 3 to 0.95 by batch 9). So for the first ``warmup_batches`` batches
only the fresh parts learn: the posterior encoder learns to feed the restored decoder and flow, and
the discriminators learn real from generated speech. Then everything trains, the generator at a
fraction of piper's learning rate (``lr_scale``): a fresh AdamW moves every weight by about the
learning rate in its first steps, whatever its gradient, and at piper's 2e-4 that wrecked joe's
restored voice within 11 batches even after a 22-batch warm-up (WER 0.1 -> 0.9, F0 error 445 -> 1431
cents), where 2e-5 kept it intelligible (benchmarks/results/issue-33-onnx-base.md).

Holding still is ``requires_grad = False``: no gradient is computed for those weights and AdamW
skips them. The switch follows the batch counter, so a run resumed in or after the warm-up holds
exactly what an uninterrupted run would.
"""

from __future__ import annotations

import sys

import lightning.pytorch as pl

from utils.voice.base.onnx_voice import TRAINING_ONLY
from utils.voice.run_config import batches_done

GENERATOR = "model_g."


def restored_parameters(model) -> list:
    """The generator's parameters a voice's graph restores (everything but the training-only parts)."""
    return [param for name, param in model.model_g.named_parameters() if not name.startswith(TRAINING_ONLY)]


class HoldRestored(pl.Callback):
    """requires_grad off for the restored generator until batch ``warmup_batches``; after it, the
    generator's learning rate scaled for the batch's step only (the optimizer and its scheduler
    keep piper's values, so checkpoints and a resume see nothing unusual)."""

    def __init__(self, held: list, warmup_batches: int, lr_scale: float = 1.0, announce: bool = True):
        self.held, self.warmup_batches, self.lr_scale, self.announce = held, warmup_batches, lr_scale, announce
        self.holding: bool | None = None
        self.saved_lr: list | None = None

    def _scale_lr(self, trainer) -> None:
        if self.lr_scale == 1.0 or self.holding or not trainer.optimizers:
            return
        groups = trainer.optimizers[0].param_groups  # piper's generator optimizer comes first
        self.saved_lr = [group["lr"] for group in groups]
        for group in groups:
            group["lr"] *= self.lr_scale

    def _restore_lr(self, trainer) -> None:
        if self.saved_lr is not None:
            for group, lr in zip(trainer.optimizers[0].param_groups, self.saved_lr, strict=True):
                group["lr"] = lr
            self.saved_lr = None

    def _hold(self, trainer, holding: bool) -> None:
        if holding == self.holding:
            return
        for param in self.held:
            param.requires_grad_(not holding)
        if self.announce and trainer.is_global_zero and self.holding is not None:
            print(f"warm-up done at batch {batches_done(trainer)}: the restored voice trains too now",
                  file=sys.stderr, flush=True)
        self.holding = holding

    def on_train_start(self, trainer, pl_module):
        self._hold(trainer, batches_done(trainer) < self.warmup_batches)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._hold(trainer, batches_done(trainer) < self.warmup_batches)
        self._scale_lr(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._restore_lr(trainer)  # before any checkpoint of this batch is written

    def on_exception(self, trainer, pl_module, exception):
        self._restore_lr(trainer)  # the out-of-memory guard saves a checkpoint after this

    def on_train_end(self, trainer, pl_module):
        self._hold(trainer, False)  # what export and a later fine-tune get is a normal model


def make_warmup_callback(model, warmup_batches: int, lr_scale: float = 1.0, announce: bool = True) -> HoldRestored:
    """A Lightning callback that holds the restored parameters still for the first batches, then trains
    the generator at ``lr_scale`` times its learning rate."""
    return HoldRestored(restored_parameters(model), warmup_batches, lr_scale, announce)
