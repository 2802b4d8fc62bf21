"""Real runs stopped from outside: a signal to the whole process group (data-loader
workers included) and one during a checkpoint write; each then continued. Tiny demo schedules
(x_low, a few batches), real training. Slurm's SIGUSR1, requeue and scancel run under a real Slurm
in tests/slurm/test_sbatch_scripts.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.train_process import start_train, wait_for, writing_a_checkpoint

from tasks.train import main
from utils.files import TEMP_GLOB
from utils.voice.base.checkpoints import load_checkpoint_safely
from utils.voice.run.fit.history import read_history

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGHUP/SIGUSR1 are POSIX")]


@pytest.fixture(scope="module")
def cache(module_tmp_path_factory) -> Path:
    return module_tmp_path_factory.mktemp("cache")


def _start(args: list[str], cache: Path, env: dict | None = None) -> subprocess.Popen:
    """tasks.train in a process group of its own, as a terminal, ``timeout`` or Slurm would start it."""
    return start_train(["--accelerator", "cpu", "--no-export", "--num-workers", "2", *args], cache, env,
                       own_session=True)


def _group_is_gone(pgid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _stopped_cleanly(proc: subprocess.Popen, output: Path, name: str) -> tuple[int, str]:
    """Exit 1, no traceback, a last line naming the signal and how to continue, a loadable
    last.ckpt holding the batch the summary reports, no temp file, no process left in the group."""
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in err and "DataLoader worker" not in err, err[-3000:]
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"error: stopped by {name} after ") and "--resume" in last_line, last_line
    summary = json.loads((output / "summary.json").read_text())
    assert summary["interrupted"] == name
    steps = summary["steps"]
    # the printed summary is headed by what happened
    assert out.splitlines()[0].startswith(f"STOPPED by {name} after {steps} batches: training of Piper voice")
    assert load_checkpoint_safely(output / "checkpoints" / "last.ckpt")["global_step"] == 2 * steps
    assert not list(output.rglob(TEMP_GLOB))
    assert _group_is_gone(proc.pid), "data-loader workers outlived the run"
    return steps, err


def _resume_one_more(output: Path, cache: Path, steps: int) -> None:
    code = main(["--output", str(output), "--resume", "--max-steps", str(steps + 1), "--no-export", "--quiet",
                 "--cache-dir", str(cache)])
    assert code == 0
    summary = json.loads((output / "summary.json").read_text())
    assert summary["steps"] == steps + 1 and summary["steps_this_run"] == 1 and summary["interrupted"] is None
    assert [row["step"] for row in read_history(output / "metrics.csv")] == list(range(1, steps + 2))
    config = json.loads((output / "train_config.json").read_text())
    assert config["schedule"]["num_workers"] == 2  # the same options as the stopped run


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_to_the_whole_process_group_a_few_batches_in_saves_and_resume_continues(tmp_path, cache, name):
    output = tmp_path / "out"
    proc = _start(["--output", str(output), "--max-steps", "30", "--checkpoint-every", "2"], cache)
    wait_for((output / "checkpoints" / "last.ckpt").exists, proc, "the first checkpoint (batch 2)", poll=0.05)
    os.killpg(proc.pid, getattr(signal, name))
    steps, err = _stopped_cleanly(proc, output, name)
    assert 2 <= steps < 30
    assert f"{name} received" in err
    _resume_one_more(output, cache, steps)


def test_sighup_to_the_group_during_a_checkpoint_write_keeps_a_complete_checkpoint(tmp_path, cache):
    output = tmp_path / "out"
    checkpoints = output / "checkpoints"
    proc = _start(["--output", str(output), "--max-steps", "30", "--checkpoint-every", "1"], cache)
    wait_for((checkpoints / "last.ckpt").exists, proc, "the first checkpoint", poll=0.05)
    wait_for(lambda: writing_a_checkpoint(checkpoints), proc, "a checkpoint write")
    os.killpg(proc.pid, signal.SIGHUP)
    steps, _ = _stopped_cleanly(proc, output, "SIGHUP")
    assert 2 <= steps < 30
    _resume_one_more(output, cache, steps)
