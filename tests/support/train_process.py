"""Watching a real ``tasks.train`` process from a test: wait for a condition while it runs, and
see a checkpoint being written (its temp file growing) so a signal or a kill can land mid-write."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from utils.files import TEMP_GLOB


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
