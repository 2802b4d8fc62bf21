"""A real Lightning Trainer around a linear layer whose validations log scripted scores.

For the callbacks that act on validation results (keep-best retention, --best-by, the stalled
stop, the out-of-memory guard): each test knows from the script which checkpoint must survive
or when a run must stop. The VITS end-to-end path is covered by the training-run tests.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch


class ScriptedValidation(pl.LightningModule):
    """Trains a linear layer; validation ``i`` logs ``scores[name][i]`` under each ``name``."""

    def __init__(self, scores: dict[str, list[float]], fail_at_step: int | None = None):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.scores = {name: list(values) for name, values in scores.items()}
        self.fail_at_step = fail_at_step
        self.validations = 0

    def training_step(self, batch, batch_idx):
        if self.fail_at_step is not None and self.global_step >= self.fail_at_step:
            # MOCK for hardware we lack: what torch raises when a CUDA allocation fails.
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (mock: no GPU here)")
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        (x,) = batch
        for name, values in self.scores.items():
            self.log(name, torch.tensor(float(values[self.validations])), batch_size=len(x))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.validations += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 4)), batch_size=4)


def fit_scripted(model: ScriptedValidation, callbacks: list, root: Path, epochs: int) -> pl.Trainer:
    """One validation per epoch, on the CPU, no logger or progress bar; returns the Trainer."""
    trainer = pl.Trainer(default_root_dir=root, max_epochs=epochs, callbacks=callbacks, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu")
    trainer.fit(model)
    return trainer
