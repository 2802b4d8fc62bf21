"""The per-batch history keeps every batch's losses, exactly, while reading them in batches."""

from __future__ import annotations

import torch

from utils.voice.run.fit import history as run_history
from utils.voice.run.fit.history import PendingHistory


def test_rows_keep_order_keys_and_exact_values_after_one_flush():
    history: list[dict] = []
    pending = PendingHistory(history)
    values = [torch.tensor(0.1 * i, dtype=torch.float32) for i in range(3)]
    for i, value in enumerate(values):
        pending.add({"step": i + 1, "epoch": 0, "seconds": 0.5 * i}, {"loss_g": value, "train_mel": value * 2})
    assert history == []  # nothing read yet: the losses are still tensors
    pending.flush()
    assert [row["step"] for row in history] == [1, 2, 3]
    assert list(history[0]) == ["step", "epoch", "seconds", "loss_g", "train_mel"]
    assert [row["loss_g"] for row in history] == [float(v) for v in values]
    assert [row["train_mel"] for row in history] == [float(v * 2) for v in values]
    pending.flush()
    assert len(history) == 3  # a second flush adds nothing


def test_flushes_by_itself_every_max_pending_batches(monkeypatch):
    monkeypatch.setattr(run_history, "MAX_PENDING", 4)
    history: list[dict] = []
    pending = PendingHistory(history)
    for i in range(9):
        pending.add({"step": i}, {"loss_d": torch.tensor(float(i))})
    assert [row["loss_d"] for row in history] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    pending.flush()
    assert history[-1] == {"step": 8, "loss_d": 8.0}


def test_rows_without_losses_and_plain_numbers():
    history: list[dict] = []
    pending = PendingHistory(history)
    pending.add({"step": 1}, {})
    pending.add({"step": 2}, {"loss_g": 2.5})
    pending.flush()
    assert history == [{"step": 1}, {"step": 2, "loss_g": 2.5}]
