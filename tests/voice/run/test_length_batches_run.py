"""A real tiny training run on batches by length: the padding line, every batch of each epoch trained."""

from __future__ import annotations

import csv
import re

import pytest
from dataset_builders import make_piper_dataset

from tasks.train import main

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
