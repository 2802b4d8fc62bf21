"""tasks/slurm/*.sbatch under a real one-node Slurm (``slurm_cluster``): submitted with ``sbatch``,
signalled by Slurm's own ``--signal=SIGUSR1@...`` timer, requeued with the real ``scontrol``, DDP
ranks started by the real ``srun``, stopped with the real ``scancel``. Only ``pixi`` is a stand-in
(where no pixi exists): its ``shell-hook`` puts this test's Python first on PATH.

Timing: every job is submitted with a 10-minute limit and ``--signal=SIGUSR1@150``; once the run
has saved its first checkpoint the test lowers the limit (``scontrol update TimeLimit``) so that
fewer than 150 s remain, and Slurm sends SIGUSR1 at its next time-limit check (at most ~30 s). A
requeued job would wait ~2.5 min pending (Slurm's requeue delay): ``StartTime=now`` skips that,
with the limit raised again so that the requeued job runs to the end.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from support.dataset_builders import make_piper_dataset
from support.slurm_cluster import SlurmCluster

from utils.voice.base.checkpoints import load_checkpoint_safely
from utils.voice.run.fit.history import read_history

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="Slurm runs on Linux")]

TRAIN = REPO_ROOT / "tasks" / "slurm" / "train.sbatch"
MULTINODE = REPO_ROOT / "tasks" / "slurm" / "train-multinode.sbatch"
STEPS = 12


@pytest.fixture(scope="module")
def cluster():
    reason = SlurmCluster.unavailable()
    if reason:
        pytest.skip(reason)
    slurm = SlurmCluster(cpus=2)
    try:
        slurm.start()
    except (RuntimeError, OSError) as exc:
        slurm.stop()
        pytest.skip(f"the real Slurm did not start here: {str(exc).splitlines()[0]}")
    yield slurm
    slurm.stop()


@pytest.fixture(scope="module")
def job_env(module_tmp_path_factory, cluster) -> dict:
    """What sbatch exports to the job: the cluster's SLURM_CONF, the stand-in pixi, one cache."""
    bin_dir = module_tmp_path_factory.mktemp("bin")
    stand_in = bin_dir / "pixi"
    stand_in.write_text("#!/bin/sh\n# STAND-IN for pixi (none on this machine): shell-hook activates this "
                        f"test's Python\n[ \"$1\" = shell-hook ] && echo 'export PATH=\"{Path(sys.executable).parent}"
                        ":$PATH\"'\n")
    stand_in.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    return cluster.env | {"PATH": path, "COAXIAL_CACHE": str(module_tmp_path_factory.mktemp("cache")),
                          "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def dataset(module_tmp_path_factory) -> Path:
    return make_piper_dataset(module_tmp_path_factory.mktemp("data"), 6)


def _submit(cluster, env, script: Path, log: Path, sbatch_options: list[str], train_args: list[str]) -> int:
    run = subprocess.run(["sbatch", "--parsable", "--time=10", "--signal=SIGUSR1@150", f"--output={log}",
                          *sbatch_options, str(script), *train_args], cwd=REPO_ROOT, env=os.environ | env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.strip().split(";")[0])


def _wait(cluster, job_id: int, condition, what: str, log: Path, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = cluster.job(job_id)
        if condition(job):
            return job
        time.sleep(1)
    text = log.read_text(errors="replace")[-3000:] if log.exists() else "(no job log)"
    pytest.fail(f"timed out waiting for {what}: {job}\n{text}\n{cluster.log_tail()}")


def _seconds(run_time: str) -> int:
    days, _, clock = run_time.rpartition("-")
    h, m, s = (int(part) for part in clock.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def _signal_soon(cluster, job_id: int, checkpoint: Path, log: Path) -> None:
    """Once training has saved a checkpoint, bring the time limit within the 150 s margin."""
    _wait(cluster, job_id, lambda job: job["JobState"] not in ("PENDING", "RUNNING") or
          (job["JobState"] == "RUNNING" and checkpoint.exists()), "the first checkpoint", log)
    elapsed = _seconds(cluster.job(job_id)["RunTime"])
    cluster.scontrol("update", f"JobId={job_id}", f"TimeLimit={math.ceil(elapsed / 60) + 2}")


def _release_requeued(cluster, job_id: int, log: Path) -> None:
    _wait(cluster, job_id, lambda job: int(job["Restarts"]) >= 1 and job["JobState"] == "PENDING",
          "the requeue", log)
    cluster.scontrol("update", f"JobId={job_id}", "StartTime=now", "TimeLimit=10")


def _steps_in_history(output: Path) -> list[int]:
    return [row["step"] for row in read_history(output / "metrics.csv")]


def _stopped_at(log_text: str, name: str) -> int:
    line = next((line for line in log_text.splitlines() if line.startswith(f"error: stopped by {name} after ")), None)
    if line is None:
        pytest.fail(f"no 'stopped by {name}' line in the job log:\n{log_text[-3000:]}")
    return int(line.split(" after ")[1].split()[0])


def test_train_sbatch_saves_on_slurms_sigusr1_requeues_resumes_and_exports(cluster, job_env, dataset, tmp_path):
    output, log = tmp_path / "out", tmp_path / "slurm.out"
    args = ["--dataset", str(dataset), "--output", str(output), "--quality", "x_low", "--max-steps", str(STEPS),
            "--batch-size", "2", "--segment-size", "4096", "--accelerator", "cpu", "--checkpoint-every", "1",
            "--sample-every", "0"]
    job_id = _submit(cluster, job_env, TRAIN, log, ["--cpus-per-task=2"], args)
    _signal_soon(cluster, job_id, output / "checkpoints" / "last.ckpt", log)
    _release_requeued(cluster, job_id, log)
    job = _wait(cluster, job_id, lambda job: job["JobState"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"),
                "the requeued job to finish", log)
    text = log.read_text()
    assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", text[-3000:]
    assert int(job["Restarts"]) == 1
    stopped = _stopped_at(text, "SIGUSR1")
    assert 1 <= stopped < STEPS
    assert f"Slurm job {job_id} requeued" in text
    assert f"job {job_id} on " in text and "restart 1" in text
    assert "--resume auto: continuing from" in text
    assert not list(output.glob("hpc_ckpt_*.ckpt"))  # Lightning's own mid-batch save did not run
    config = json.loads((output / "train_config.json").read_text())
    assert config["schedule"]["num_workers"] == 1  # the script's: SLURM_CPUS_PER_TASK - 1
    summary = json.loads((output / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["steps_this_run"] == STEPS - stopped
    assert summary["interrupted"] is None
    assert _steps_in_history(output) == list(range(1, STEPS + 1))  # every batch once, across the requeue
    assert list(output.glob("*.onnx")) and list(output.glob("*.onnx.json"))
    assert "not resumable" not in text  # the length-batch sampler's position went into last.ckpt
    assert "\r" not in text             # a batch log gets plain progress lines, no bars


def test_multinode_sbatch_runs_two_ddp_ranks_through_srun_that_stop_together_and_resume(
        cluster, job_env, dataset, tmp_path):
    output, log = tmp_path / "out", tmp_path / "slurm.out"
    checkpoint = output / "checkpoints" / "last.ckpt"
    args = ["--dataset", str(dataset), "--output", str(output), "--quality", "x_low", "--max-steps", "400",
            "--batch-size", "1", "--segment-size", "4096", "--accelerator", "cpu", "--checkpoint-every", "1",
            "--sample-every", "0", "--no-export"]
    job_id = _submit(cluster, job_env, MULTINODE, log,
                     ["--nodes=1", "--ntasks-per-node=2", "--gres=gpu:1", "--cpus-per-task=1"], args)
    # Here the SIGUSR1 comes from scancel at once (Slurm delivers it to every task of the step, as
    # its --signal timer does; train.sbatch's test waits for the timer) to keep this run short.
    _wait(cluster, job_id, lambda job: job["JobState"] not in ("PENDING", "RUNNING") or checkpoint.exists(),
          "the first checkpoint", log)
    cluster.command("scancel", "--signal=USR1", str(job_id))
    _release_requeued(cluster, job_id, log)
    text = log.read_text()
    stopped = _stopped_at(text, "SIGUSR1")
    assert text.count(f"latest state, batch {stopped}") == 1  # rank 0 saved the stop checkpoint once
    assert "1 nodes x 2 GPUs" in text
    config = json.loads((output / "train_config.json").read_text())
    assert config["trainer"]["devices"] == 2 and config["trainer"]["num_nodes"] == 1

    # The requeued job: both ranks resume (DDP would hang if one did not); it is then stopped
    # with scancel --signal=TERM, which Slurm sends to every task of the step.
    _wait(cluster, job_id, lambda job: job["JobState"] not in ("PENDING", "RUNNING") or
          (job["JobState"] == "RUNNING" and f"latest state, batch {stopped + 1}" in log.read_text()),
          "the resumed ranks to train", log)
    cluster.command("scancel", "--signal=TERM", str(job_id))
    job = _wait(cluster, job_id, lambda job: job["JobState"] not in ("RUNNING", "PENDING", "COMPLETING"),
                "the stop on SIGTERM", log)
    text = log.read_text()
    resumed_to = _stopped_at(text, "SIGTERM")
    assert job["JobState"] == "FAILED" and job["ExitCode"] == "1:0", text[-3000:]  # exit 1, as documented
    assert text.count("--resume auto: continuing from") == 1
    assert load_checkpoint_safely(checkpoint)["global_step"] == 2 * resumed_to
    assert _steps_in_history(output) == list(range(1, resumed_to + 1))
    assert "not resumable" not in text


def test_scancel_of_a_running_job_saves_before_slurm_kills_it(cluster, job_env, dataset, tmp_path):
    output, log = tmp_path / "out", tmp_path / "slurm.out"
    checkpoint = output / "checkpoints" / "last.ckpt"
    args = ["--dataset", str(dataset), "--output", str(output), "--quality", "x_low", "--max-steps", "400",
            "--batch-size", "2", "--segment-size", "4096", "--accelerator", "cpu", "--checkpoint-every", "1",
            "--sample-every", "0", "--no-export"]
    job_id = _submit(cluster, job_env, TRAIN, log, ["--cpus-per-task=2"], args)
    _wait(cluster, job_id, lambda job: job["JobState"] not in ("PENDING", "RUNNING") or checkpoint.exists(),
          "the first checkpoint", log)
    # SIGTERM to every process of the job, SIGKILL KillWait later (the test cluster's 120 s leaves a
    # slow shared machine time to finish the batch; Slurm's default is 30 s: see docs/stopping-and-clusters.md)
    cluster.command("scancel", str(job_id))
    job = _wait(cluster, job_id, lambda job: job["JobState"] not in ("RUNNING", "COMPLETING"), "the cancel", log)
    text = log.read_text()
    assert job["JobState"] == "CANCELLED", text[-3000:]
    stopped = _stopped_at(text, "SIGTERM")
    assert load_checkpoint_safely(checkpoint)["global_step"] == 2 * stopped
    assert json.loads((output / "summary.json").read_text())["interrupted"] == "SIGTERM"
