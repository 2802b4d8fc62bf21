"""The pieces of a stop from outside, without training: data-loader workers ignore the
stop signals, the handler turns a signal into a request, ``--resume auto`` decides, Slurm's job id
and ``scontrol``, and which Slurm task is the main process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from tasks.train import build_parser, main
from utils.errors import BadInput
from utils.voice.console import is_worker_process
from utils.voice.options import BaseRequest
from utils.voice.run.configure.resume_mode import settle_resume
from utils.voice.run.fit.signals import StopRequest, requeue_slurm_job, slurm_job_id, stopped_message
from utils.voice.run.plan.resume_checks import resume_folder

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@posix
def test_a_data_loader_worker_ignores_the_stop_signals_of_its_group():
    """A real DataLoader worker process (fork), signalled the way a group signal reaches it."""
    code = ("import os, signal, sys, time\n"
            "from torch.utils.data import DataLoader\n"
            "from utils.voice.run.fit.signals import worker_init\n"
            "class Slow:\n"
            "    def __len__(self): return 1\n"
            "    def __getitem__(self, i):\n"
            "        print(os.getpid(), flush=True); time.sleep(3); return i\n"
            "print(list(DataLoader(Slow(), num_workers=1, worker_init_fn=worker_init)), flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        os.kill(worker, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == "[tensor([0])]"  # the worker survived all four and delivered its item


@pytest.fixture
def sighup_default():
    """SIGHUP's default action for the test, whatever started pytest (nohup ignores it)."""
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, before)


@posix
def test_the_handler_records_the_first_signal_and_a_second_ctrl_c_aborts(sighup_default):
    with StopRequest(requeue_signal=signal.SIGUSR1) as stop:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.05)
        assert stop.signal_name == "SIGHUP" and not stop.requeue
        os.kill(os.getpid(), signal.SIGTERM)  # a later SIGTERM (Slurm after a requeue) keeps the reason
        time.sleep(0.05)
        assert stop.signal_name == "SIGHUP"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # restored on the way out


@posix
def test_sigusr1_is_the_requeue_request_only_under_slurm():
    with StopRequest(requeue_signal=signal.SIGUSR1) as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
    assert stop.signal_name == "SIGUSR1" and stop.requeue
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    with StopRequest() as plain:
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # not ours outside Slurm
    assert plain.signal_name is None


def test_resume_auto_starts_without_a_checkpoint_and_continues_with_one(tmp_path, capsys):
    folder, base = tmp_path / "out", BaseRequest(finetune="base.ckpt")
    assert settle_resume("auto", folder, base) == (False, base)
    assert "starting a new run" in capsys.readouterr().err
    checkpoint = folder / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"x")
    # The base is in the checkpoint already: resuming drops it (--resume and --finetune exclude each other).
    assert settle_resume("auto", folder, base) == (True, BaseRequest())
    assert f"continuing from {checkpoint} (--finetune already applied" in capsys.readouterr().err
    assert settle_resume("yes", folder, base) == (True, base)
    assert settle_resume(None, folder, base) == (False, base)
    with pytest.raises(BadInput, match="--resume later"):
        settle_resume("later", folder, base)
    assert resume_folder(None, None, demo=True) == Path("outputs") / "demo"


def test_resume_flag_forms_on_the_command_line(tmp_path, capsys):
    parser = build_parser()
    assert parser.parse_args([]).resume is None
    assert parser.parse_args(["--resume"]).resume == "yes"
    assert parser.parse_args(["--resume", "auto"]).resume == "auto"
    assert parser.parse_args(["--resume", "--quiet"]).resume == "yes"
    assert main(["--resume", "maybe", "--output", str(tmp_path / "o")]) == 2
    assert "invalid choice: 'maybe'" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_plain_resume_still_refuses_a_folder_without_a_checkpoint(tmp_path, capsys):
    assert main(["--resume", "--output", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_slurm_job_id_of_a_plain_and_an_array_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    assert slurm_job_id() == "77"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert slurm_job_id() == "70_3"


@posix
def test_a_failing_scontrol_is_reported_with_the_resume_command(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\necho 'Requeue not allowed for job 77' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    done, note = requeue_slurm_job()
    assert not done and note == "could not requeue Slurm job 77: scontrol exit 1 (Requeue not allowed for job 77)"
    line = stopped_message("SIGUSR1", 5, "out/checkpoints/last.ckpt", "out", note)
    assert line.endswith("(Requeue not allowed for job 77) — continue with: python -m tasks.train --output out "
                         "--resume")


def test_only_the_first_slurm_task_is_the_main_process(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_JOB_NAME", "coaxial-train")
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert not is_worker_process()
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert is_worker_process()
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")  # Lightning ignores Slurm there; so do we
    assert not is_worker_process()


@posix
def test_a_signal_ignored_before_the_run_stays_ignored():
    # `nohup pixi run train &`: closing the terminal must not stop the run.
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with StopRequest() as stop:
            stop.install()  # the run installs again once Lightning has started
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert stop.signal_name is None
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)  # the others still stop the run
            time.sleep(0.05)
            assert stop.signal_name == "SIGTERM"
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
