"""``tasks.train`` (or any task's ``main``) as a test runs it: the one command line, environment and
folder for a training subprocess, started to completion or left running to be watched; waiting for
a condition while it runs, and seeing a checkpoint being written (its temp file growing) so a
signal or a kill can land mid-write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from utils.files import TEMP_GLOB

REPO = Path(__file__).resolve().parents[2]


def train_command(args: Sequence[str], quiet: bool = True, under: Sequence[str] = ()) -> list[str]:
    """``python [under ...] -m tasks.train [--quiet] args``; ``under`` runs it inside a wrapper module
    (``-m utils.machine.host_syncs OUT``)."""
    return [sys.executable, *under, "-m", "tasks.train", *(["--quiet"] if quiet else []), *args]


def train_env(cache: Path | None = None, extra: dict | None = None) -> dict:
    """This process's environment, unbuffered output, the run's cache folder when given."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    if cache is not None:
        env["COAXIAL_CACHE"] = str(cache)
    return env | (extra or {})


def run_train(args: Sequence[str], cache: Path | None = None, env: dict | None = None, timeout: float = 600,
              quiet: bool = True, under: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Train to the end in a subprocess from the repository root; output captured as text."""
    return subprocess.run(train_command(args, quiet, under), cwd=REPO, env=train_env(cache, env),
                          capture_output=True, text=True, timeout=timeout)


def start_train(args: Sequence[str], cache: Path | None = None, env: dict | None = None,
                own_session: bool = False) -> subprocess.Popen:
    """Start training and return at once (pipes for stdout and stderr); ``own_session`` puts it in a
    process group of its own, as a terminal, ``timeout`` or Slurm would start it."""
    return subprocess.Popen(train_command(args), cwd=REPO, env=train_env(cache, env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=own_session)


def call_main(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """A task's ``main(argv)`` in this process: its exit code, stdout and stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 600, poll: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(poll)
    pytest.fail(f"timed out waiting for {what}")


def writing_a_checkpoint(checkpoints: Path) -> bool:
    try:
        return any(p.stat().st_size > 0 for p in checkpoints.glob(TEMP_GLOB))
    except OSError:  # renamed between glob and stat
        return False
