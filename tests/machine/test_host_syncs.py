"""Host syncs of the training step: the counter sees them, and a real run makes at most 2 per batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from support.train_process import run_train

from utils.machine.host_syncs import SyncCounter


def test_counter_sees_each_watched_call_and_leaves_optimiser_counters_out():
    t = torch.tensor([2.0])
    param = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([param])
    param.grad = torch.ones(2)
    with SyncCounter() as counter:
        t.item()
        float(t)
        bool(t)
        t.tolist()
        t.cpu()
        t.numpy()
        int(t)
        opt.step()  # AdamW reads its CPU step counter: not a device wait, not counted
    names = sorted(site.split()[-1] for site in counter.sites)
    assert names == ["__bool__", "__float__", "__int__", "cpu", "item", "numpy", "tolist"]
    assert counter.total == 7
    assert torch.Tensor.item.__name__ == "item" and float(t) == 2.0  # restored on exit


def _count(tmp_path: Path, batches: int) -> dict:
    out = tmp_path / f"counts-{batches}.json"
    # One thread: the count does not depend on it, and a shared CPU runs it much faster.
    proc = run_train(["--output", str(tmp_path / f"run-{batches}"), "--no-export", "--max-steps", str(batches)],
                     tmp_path / f"cache-{batches}", {"OMP_NUM_THREADS": "1"}, timeout=900,
                     under=["-m", "utils.machine.host_syncs", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_a_real_training_run_waits_on_the_device_at_most_twice_per_batch(tmp_path):
    # The demo (bundled sample, x_low, batch 2) for 2 and for 6 batches: what they share (setup,
    # the first batch, the final checkpoint and report) cancels; the difference is what batches cost,
    # logging (every batch on so short a run), history and the live report page included.
    short, long = _count(tmp_path, 2), _count(tmp_path, 6)
    per_batch = (long["total"] - short["total"]) / 4
    sites = {k: long["sites"].get(k, 0) - short["sites"].get(k, 0) for k in long["sites"]}
    growing = {k: v for k, v in sites.items() if v > 0}
    assert short["total"] > 0  # the counter is live in the training process
    assert per_batch <= 2, f"{per_batch:.1f} host syncs per batch; growing sites: {growing}"
