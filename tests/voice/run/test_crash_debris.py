"""A checkpoint write killed with kill -9 leaves a temp file; the next start removes exactly ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from utils.files import TEMP_GLOB, TEMP_SUFFIX
from utils.voice.base.checkpoints import load_checkpoint_safely
from utils.voice.run.output.ownership import remove_crash_debris

# Saves a good last.ckpt, says so, then keeps rewriting it (a ~64 MB checkpoint) until killed.
WRITER = """
import sys, torch
from utils.voice.run.output.checkpoint_files import make_checkpoint_io
io = make_checkpoint_io()
path = sys.argv[1]
io.save_checkpoint({"state_dict": {"model_g.w": torch.full((4,), 1.0)}, "global_step": 2}, path)
print("saved", flush=True)
big = {"state_dict": {"model_g.w": torch.full((16 * 1024 * 1024,), 2.0)}, "global_step": 4}
while True:
    io.save_checkpoint(big, path)
"""


def _kill_during_a_write(checkpoints: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(checkpoints / "last.ckpt")], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saved"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(p.stat().st_size > 0 for p in checkpoints.glob(TEMP_GLOB) if p.exists()):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        else:
            pytest.fail("never saw the checkpoint being written")
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 (SIGKILL) is POSIX")
def test_kill_9_during_a_checkpoint_write_keeps_the_last_good_one_and_the_next_start_removes_the_debris(tmp_path):
    checkpoints = tmp_path / "out" / "checkpoints"
    checkpoints.mkdir(parents=True)
    _kill_during_a_write(checkpoints)

    debris = sorted(checkpoints.glob(TEMP_GLOB))
    assert debris, "the killed write left no temp file"
    leftover = sum(p.stat().st_size for p in debris)
    # What earlier releases left (".last.ckpt.*.tmp", hundreds of MB each) goes too.
    legacy = checkpoints / ".last.ckpt.k3j_x9q2.tmp"
    legacy.write_bytes(b"\0" * 4096)
    # Look-alikes that are not ours stay.
    strangers = [tmp_path / "out" / "notes.tmp", checkpoints / "my.ckpt.tmp", checkpoints / ".last.ckpt.tmp",
                 tmp_path / "out" / ".last.ckpt.k3j_x9q2.tmp"]
    for path in strangers:
        path.write_text("keep me")

    last = load_checkpoint_safely(checkpoints / "last.ckpt")  # the last complete save, intact
    assert float(last["state_dict"]["model_g.w"][0]) in (1.0, 2.0)

    found = remove_crash_debris(tmp_path / "out")
    assert sorted(found.removed) == sorted([*debris, legacy])
    assert found.bytes == leftover + 4096
    assert "reclaimed" in found.describe()
    assert all(path.read_text() == "keep me" for path in strangers)
    assert not list(checkpoints.glob(TEMP_GLOB))
    assert (checkpoints / "last.ckpt").is_file()


def test_another_runs_output_inside_ours_is_left_alone(tmp_path):
    nested = tmp_path / "other-voice" / "checkpoints"
    nested.mkdir(parents=True)
    live = nested / f".last.ckpt.x1y2z3{TEMP_SUFFIX}"  # another run may be writing it right now
    live.write_bytes(b"\0" * 10)
    assert remove_crash_debris(tmp_path).removed == []
    assert live.exists()


def test_an_output_folder_without_debris_reports_nothing_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "train_config.json").write_text("{}")
    found = remove_crash_debris(tmp_path)
    assert (found.removed, found.bytes) == ([], 0)
    assert (tmp_path / "train_config.json").exists()
