"""Lightning callback for bench_train's plain piper.train run: one wall-clock time per batch.

Loaded by piper's own CLI (``--trainer.callbacks+=benchmarks.step_timer.StepTimer``), so it adds
no code path to the run being measured beyond an append to $BENCH_STEP_LOG per batch.
"""

from __future__ import annotations

import os
import time

import lightning.pytorch as pl


class StepTimer(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with open(os.environ["BENCH_STEP_LOG"], "a", encoding="utf-8") as handle:
            handle.write(f"{time.monotonic()}\n")
