"""Real training runs through tasks.train: demo voice, recorder profile, stop/resume, DDP, fine-tune.

Schedules are tiny (x_low, a few batches) so the whole file stays within a few minutes on two
cores; one demo run is shared by the tests that only read its outputs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from support.dataset_builders import make_recorder_profile
from support.train_process import run_train, start_train

from tasks.train import main
from utils.files import TEMP_GLOB

pytestmark = pytest.mark.slow


def _train_subprocess(args: list[str], cache: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    return run_train(args, cache, timeout=timeout)


def _summary(output: Path) -> dict:
    return json.loads((output / "summary.json").read_text(encoding="utf-8"))


def _wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16) / 32768.0
    return data, rate


@pytest.fixture(scope="module")
def cache(module_tmp_path_factory) -> Path:
    return module_tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def demo_run(module_tmp_path_factory, cache) -> tuple[Path, subprocess.CompletedProcess]:
    """The demo command (no --dataset) with a 3-batch schedule instead of 10, on the CPU whatever
    this machine has (the assertions below expect CPU and fp32)."""
    output = module_tmp_path_factory.mktemp("demo") / "out"
    done = _train_subprocess(["--output", str(output), "--max-steps", "3", "--accelerator", "cpu"], cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return output, done


def test_demo_run_leaves_a_voice_the_piper_runtime_speaks_with(demo_run, tmp_path):
    output, done = demo_run
    assert (output / "demo.onnx").stat().st_size > 1_000_000
    config = json.loads((output / "demo.onnx.json").read_text(encoding="utf-8"))
    # The demo is Piper's x_low tier, published at 16 kHz.
    assert config["audio"]["sample_rate"] == 16000 and config["espeak"]["voice"] == "en-us"
    text = "The piper runtime reads this sentence aloud from the exported voice."
    spoken = tmp_path / "spoken.wav"
    command = [sys.executable, "-m", "piper", "-m", str(output / "demo.onnx"), "-f", str(spoken), text]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    audio, rate = _wav(spoken)
    assert rate == 16000
    seconds = audio.size / rate
    # An untrained VITS still follows the duration predictor: roughly 0.02-0.5 s per character.
    assert 0.02 * len(text) < seconds < 0.5 * len(text)
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silence


def test_demo_run_writes_sample_plots_summary_config_and_logs(demo_run):
    output, done = demo_run
    summary = _summary(output)
    assert summary["steps"] == 3 and summary["device"]["accelerator"] == "cpu"
    # the policy's choice for this CPU: bf16-mixed where it computes bf16 natively, else 32-true
    from utils.machine import hardware, machine_profile
    from utils.machine.precision_policy import choose

    expected = choose(hardware.probe(), "cpu", measured=machine_profile.recorded_measurement()).precision
    assert summary["device"]["precision"] == expected
    sample, rate = _wav(output / "sample.wav")
    assert sample.size / rate == pytest.approx(summary["sample"]["seconds"], rel=1e-3)
    assert np.sqrt(np.mean(sample**2)) > 0.01
    for name in ("loss_curves.png", "sample_spectrogram.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resolved = json.loads((output / "train_config.json").read_text(encoding="utf-8"))
    assert resolved["trainer"]["max_steps"] == 6 and resolved["voice"]["quality"] == "x_low"
    assert list((output / "logs").glob("events.out.tfevents.*"))
    assert (output / "checkpoints" / "last.ckpt").is_file()
    assert not list(output.rglob("*.tmp")) and not list(output.rglob(TEMP_GLOB))
    assert "demo.onnx" in done.stdout and "cpu" in done.stdout  # the printed summary


def test_recorder_profile_at_48k_32bit_trains(tmp_path, cache, capsys):
    profile = make_recorder_profile(tmp_path, n=4)
    output = tmp_path / "out"
    code = main(["--dataset", str(profile), "--output", str(output), "--voice-name", "rec",
                 "--quality", "x_low", "--max-steps", "1", "--batch-size", "2", "--segment-size", "4096",
                 "--num-workers", "0", "--no-export", "--quiet", "--cache-dir", str(cache)])
    assert code == 0, capsys.readouterr().err[-3000:]
    summary = _summary(output)
    assert summary["dataset"]["layout"] == "recorder-profile" and summary["steps"] == 1
    assert (output / "checkpoints" / "last.ckpt").is_file()


def test_finetune_starts_from_a_previous_runs_checkpoint(demo_run, tmp_path, cache, capsys):
    import torch

    source = demo_run[0] / "checkpoints" / "last.ckpt"
    output = tmp_path / "ft"
    code = main(["--finetune", str(source), "--output", str(output), "--max-steps", "1", "--no-export",
                 "--quiet", "--cache-dir", str(cache)])
    assert code == 0, capsys.readouterr().err[-3000:]
    summary = _summary(output)
    keys = torch.load(source, weights_only=True, map_location="cpu")["state_dict"]
    assert summary["finetune"]["copied"] == len(keys) and summary["finetune"]["skipped"] == 0
    assert summary["steps"] == 1  # a fine-tune is a new run: fresh optimizer, step count from zero


@pytest.mark.skipif(sys.platform == "win32", reason="Windows terminates a process on SIGTERM without running "
                    "its handlers; there the checkpoint is saved on Ctrl+C")
def test_sigterm_saves_a_checkpoint_and_resume_continues_the_step_count(tmp_path, cache):
    output = tmp_path / "out"
    proc = start_train(["--output", str(output), "--max-steps", "50", "--checkpoint-every", "1", "--no-export"],
                       cache)
    ckpt = output / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ckpt.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "--resume" in err
    stopped = _summary(output)
    assert stopped["interrupted"] == "SIGTERM" and 1 <= stopped["steps"] < 50

    target = stopped["steps"] + 1
    code = main(["--output", str(output), "--resume", "--max-steps", str(target), "--no-export", "--quiet",
                 "--cache-dir", str(cache)])
    assert code == 0
    resumed = _summary(output)
    assert resumed["steps"] == target > stopped["steps"]
    assert resumed["steps_this_run"] == 1
    rows = (output / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, target + 1))


def test_two_process_ddp_run_on_cpu_completes(tmp_path, cache):
    output = tmp_path / "ddp"
    done = _train_subprocess(["--output", str(output), "--max-steps", "1", "--devices", "2",
                              "--accelerator", "cpu", "--no-export"], cache)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = _summary(output)
    assert summary["device"]["devices"] == 2 and summary["steps"] == 1
    assert "MEMBER: 2/2" in done.stderr  # both ranks joined the gloo process group
