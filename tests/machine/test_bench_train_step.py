"""bench_train_step's data is shaped like piper's cache, and the benchmark runs a real CPU step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import train_step_data

REPO = Path(__file__).resolve().parents[2]


def test_generated_clips_have_audio_of_exactly_frames_times_hop(tmp_path):
    clips = train_step_data.load_or_make(tmp_path / "clips.pt", 5, sample_rate=16000, hop=256,
                                         filter_length=1024, win_length=1024, min_s=1.0, max_s=3.0, seed=3)
    seconds = [c.audio_norm.numel() / 16000 for c in clips]
    assert all(1.0 - 256 / 16000 <= s <= 3.0 for s in seconds) and len(set(seconds)) == 5
    for clip in clips:
        assert clip.audio_norm.numel() == clip.spectrogram.shape[-1] * 256
        assert clip.spectrogram.shape[0] == 513 and clip.phoneme_ids.numel() > 5
        assert clip.audio_norm.abs().max() <= 0.5 + 1e-6
    again = train_step_data.load_or_make(tmp_path / "clips.pt", 5, sample_rate=16000, hop=256,
                                         filter_length=1024, win_length=1024, min_s=1.0, max_s=3.0, seed=3)
    assert [c.text for c in again] == [c.text for c in clips]  # read back from the cache file
    batch = train_step_data.batches(clips, 2, 3, segment_size=4096)[0]
    assert batch.audios.shape[-1] == max(batch.spectrogram_lengths.tolist()) * 256
    assert (batch.audio_lengths == batch.spectrogram_lengths * 256).all()


def _tiny_benchmark(module: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``module`` on 4 short x_low clips, patched step, one thread (a shared CPU runs one much faster)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--mode", "patched", "--quality", "x_low", "--batch-size", "2",
         "--clips", "4", "--val-clips", "2", "--max-seconds", "1.5", "--segment-size", "4096",
         "--data", str(tmp_path / "clips.pt"), *args],
        cwd=REPO, env=os.environ | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_benchmark_trains_one_timed_step_on_cpu(tmp_path):
    proc = _tiny_benchmark("benchmarks.bench_train_step", tmp_path, "--steps", "1", "--warmup", "0")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the project's step trains at the precision the policy picks for this CPU (bf16-mixed where it
    # computes bf16 natively, else 32-true; a recorded measurement may decide instead)
    from utils.machine import hardware, machine_profile
    from utils.machine.precision_policy import choose

    expected = choose(hardware.probe(), "cpu", measured=machine_profile.recorded_measurement()).precision
    assert result["mode"] == "patched" and result["precision"] == expected and result["accelerator"] == "cpu"
    assert result["steps_per_s"] > 0 and 0 < result["val_mel"] < 100


@pytest.mark.slow
def test_profile_names_where_a_real_batch_goes(tmp_path):
    proc = _tiny_benchmark("benchmarks.profile_step", tmp_path, "--warmup", "1", "--batches", "1")
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip(" *") for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[1].replace(".", "").isdigit():
            rows[cells[0]] = float(cells[1])
    for part in ("period discriminator forward", "period discriminator backward", "dec forward", "dec backward",
                 "enc_q forward", "flow backward", "optimiser steps", "whole batch"):
        assert rows.get(part, 0) > 0, (part, proc.stdout)
    parts = sum(ms for name, ms in rows.items() if name not in ("whole batch",) and not name.startswith("rest"))
    assert parts <= rows["whole batch"] * 1.05  # nested backward passes are not counted twice
