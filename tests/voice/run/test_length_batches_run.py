"""A real tiny training run on batches by length: the padding line, every batch of each epoch trained."""

from __future__ import annotations

import csv
import os
import re
import signal

import pytest
from support.dataset_builders import make_piper_dataset

from tasks.train import main
from utils.voice.base.checkpoints import load_checkpoint_safely

pytestmark = pytest.mark.slow


def test_training_runs_two_epochs_of_length_batches_and_prints_the_padding(tmp_path, capsys):
    folder = make_piper_dataset(tmp_path, 6)
    output = tmp_path / "out"
    code = main(["--dataset", str(folder), "--output", str(output), "--quality", "x_low", "--max-steps", "4",
                 "--batch-size", "2", "--segment-size", "4096", "--num-workers", "0", "--accelerator", "cpu",
                 "--no-export", "--quiet", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 0, err[-3000:]
    line = re.search(r"Batches by length: (\d+) batches of up to 2 clips per epoch; padding (\d+\.\d)% of "
                     r"spectrogram frames, lengths rounded up to 16 frames \(random batches: (\d+\.\d)%\)", err)
    assert line, err[-3000:]
    per_epoch = int(line.group(1))
    assert 2 <= per_epoch <= 3 and 0 < float(line.group(2)) < 50
    with open(output / "metrics.csv", encoding="utf-8") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert len(epochs) == 4 and epochs.count(0) == per_epoch and 1 in epochs


def _train_recording_batches(monkeypatch, tmp_path, folder, output, max_steps, *resume,
                             hangup_at: int | None = None) -> list[tuple[int, list[int]]]:
    """A real run whose batch sampler notes each batch it yields, with its epoch (no workers: a
    batch is yielded when training takes it); with ``hangup_at``, a real SIGHUP to this process as
    that batch is handed out, so the run stops after it, in the middle of its epoch."""
    from utils.voice.data import length_batches
    from utils.voice.data.bucket_sampler import BucketBatchSampler

    yielded: list[tuple[int, list[int]]] = []

    class RecordingSampler(BucketBatchSampler):
        def __iter__(self):
            for batch in super().__iter__():
                yielded.append((self.epoch, batch))
                if len(yielded) == hangup_at:
                    os.kill(os.getpid(), signal.SIGHUP)
                yield batch

    monkeypatch.setattr(length_batches, "BucketBatchSampler", RecordingSampler)
    code = main(["--dataset", str(folder), "--output", str(output), "--quality", "x_low", "--max-steps",
                 str(max_steps), "--batch-size", "2", "--segment-size", "4096", "--num-workers", "0",
                 "--accelerator", "cpu", "--no-export", "--quiet", "--sample-every", "0",
                 "--cache-dir", str(tmp_path / "cache"), *resume])
    assert code == (1 if hangup_at else 0)  # a stopped run exits 1
    return yielded


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
def test_a_run_stopped_mid_epoch_and_resumed_trains_each_clip_of_that_epoch_once_in_the_same_order(
        tmp_path, monkeypatch, recwarn):
    folder = make_piper_dataset(tmp_path, 4)  # 2 batches of 2 clips per epoch
    whole = _train_recording_batches(monkeypatch, tmp_path, folder, tmp_path / "whole", 4)
    first = _train_recording_batches(monkeypatch, tmp_path, folder, tmp_path / "stopped", 4, hangup_at=3)
    rest = _train_recording_batches(monkeypatch, tmp_path, folder, tmp_path / "stopped", 4, "--resume")
    assert [epoch for epoch, _ in whole] == [0, 0, 1, 1]
    assert [epoch for epoch, _ in first] == [0, 0, 1] and [epoch for epoch, _ in rest] == [1]  # stopped mid-epoch
    assert first + rest == whole  # the same clips in the same batches and order, none twice
    for epoch in (0, 1):
        clips = sorted(i for e, batch in first + rest if e == epoch for i in batch)
        assert clips == list(range(4))
    assert not [w for w in recwarn if "not resumable" in str(w.message)]
    # The live page of the resumed run remembers the batches before the stop: its curve points
    # travel in last.ckpt, and it counts the training time of both runs.
    saved = load_checkpoint_safely(tmp_path / "stopped" / "checkpoints" / "last.ckpt")["callbacks"]
    page_state = next(state for key, state in saved.items() if "LiveReport" in key)
    assert [step for step, _ in page_state["train_mel"]] == list(range(1, 5))
    assert re.search(r"of training \([^)]+ this run\)", (tmp_path / "stopped" / "report.html").read_text())
