"""Real runs stopped from outside (issue 19): a signal to the whole process group (data-loader
workers included), one during a checkpoint write, and Slurm's SIGUSR1 with a fake ``scontrol``;
each then continued. Tiny demo schedules (x_low, a few batches), real training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from train_process import wait_for, writing_a_checkpoint

from tasks.train import main
from utils.files import TEMP_GLOB
from utils.voice.base.checkpoints import load_checkpoint_safely
from utils.voice.run.history import read_history

REPO = REPO_ROOT
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGHUP/SIGUSR1 are POSIX")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _start(args: list[str], cache: Path, env: dict | None = None) -> subprocess.Popen:
    """tasks.train in a process group of its own, as a terminal, ``timeout`` or Slurm would start it."""
    env = os.environ | {"COAXIAL_CACHE": str(cache), "PYTHONUNBUFFERED": "1"} | (env or {})
    return subprocess.Popen([sys.executable, "-m", "tasks.train", "--quiet", "--accelerator", "cpu", "--no-export",
                             "--num-workers", "2", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


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


def _fake_slurm(tmp_path: Path) -> tuple[dict, Path]:
    """SLURM_* of a one-node, one-task job with 3 CPUs; on PATH a fake ``scontrol`` that records its
    arguments, a fake ``srun`` that runs its command, and a fake ``pixi`` whose shell-hook puts
    this interpreter first on PATH."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol-calls.txt"
    bin_dir.mkdir()
    fakes = {"scontrol": f'echo "$@" >> "{calls}"',
             "srun": 'exec "$@"',
             "pixi": f'[ "$1" = shell-hook ] && echo \'export PATH="{Path(sys.executable).parent}:$PATH"\''}
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NAME": "coaxial-train", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1",
           "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
           "SLURM_CPUS_PER_TASK": "3", "SLURM_SUBMIT_DIR": str(REPO)}
    return env, calls


def _sbatch(args: list[str], cache: Path, env: dict) -> subprocess.Popen:
    """tasks/slurm/train.sbatch as the batch job runs it (``exec srun python ...``: one process)."""
    env = os.environ | {"COAXIAL_CACHE": str(cache), "PYTHONUNBUFFERED": "1"} | env
    return subprocess.Popen(["bash", str(REPO / "tasks" / "slurm" / "train.sbatch"), *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_slurm_sigusr1_saves_requeues_and_the_same_job_script_resumes(tmp_path, cache):
    env, calls = _fake_slurm(tmp_path)
    output = tmp_path / "out"
    args = ["--quiet", "--accelerator", "cpu", "--no-export", "--output", str(output), "--max-steps", "6",
            "--checkpoint-every", "2"]

    first = _sbatch(args, cache, env)
    wait_for((output / "checkpoints" / "last.ckpt").exists, first, "the first checkpoint (batch 2)", poll=0.05)
    os.killpg(first.pid, signal.SIGUSR1)  # Slurm's --signal=SIGUSR1@90, to every process of the step
    steps, err = _stopped_cleanly(first, output, "SIGUSR1")
    assert "--resume auto: no " in err and "starting a new run" in err
    assert "Slurm job 4242 requeued" in err.strip().splitlines()[-1]
    assert calls.read_text().split("\n") == ["requeue 4242", ""]
    assert not list(output.glob("hpc_ckpt_*.ckpt"))  # Lightning's own mid-batch save did not run
    config = json.loads((output / "train_config.json").read_text())
    assert config["schedule"]["num_workers"] == 2  # the script's: SLURM_CPUS_PER_TASK - 1
    assert 2 <= steps < 6

    second = _sbatch(args, cache, env)  # the requeued job: the same script, the same options
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert f"--resume auto: continuing from {output / 'checkpoints' / 'last.ckpt'}" in err
    summary = json.loads((output / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["steps_this_run"] == 6 - steps and summary["interrupted"] is None
    assert [row["step"] for row in read_history(output / "metrics.csv")] == list(range(1, 7))
    assert calls.read_text().count("requeue") == 1  # nothing to requeue when the run ends by itself
