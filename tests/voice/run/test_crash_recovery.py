"""Real runs killed and starved: kill -9 during a checkpoint write, then --resume; a disk that
fills up during training. Tiny demo schedules, but real training."""

from __future__ import annotations

import json
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
from utils.voice.run.output import disk_space
from utils.voice.run.output.folder_lock import LOCK_NAME

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="kill -9 (SIGKILL) is POSIX")]


@pytest.fixture(scope="module")
def cache(module_tmp_path_factory) -> Path:
    return module_tmp_path_factory.mktemp("cache")


def _train(args: list[str], cache: Path) -> subprocess.Popen:
    return start_train(["--accelerator", "cpu", "--no-export", *args], cache)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def test_kill_9_during_a_checkpoint_write_then_resume_cleans_up_and_keeps_cadence_and_history(tmp_path, cache):
    output = tmp_path / "out"
    checkpoints, last = output / "checkpoints", output / "checkpoints" / "last.ckpt"

    # Run 1: a checkpoint every 2 batches; killed outright while it writes the second one.
    first = _train(["--output", str(output), "--max-steps", "6", "--checkpoint-every", "2"], cache)
    wait_for(last.exists, first, "the first checkpoint")
    wait_for(lambda: writing_a_checkpoint(checkpoints), first, "the second checkpoint write")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    debris = list(checkpoints.glob(TEMP_GLOB))
    assert debris and (output / LOCK_NAME).exists() and not (output / "metrics.csv").exists()
    debris_bytes = sum(p.stat().st_size for p in debris)
    assert load_checkpoint_safely(last)["global_step"] == 4  # batch 2: the last complete save

    # Run 2: --resume without repeating --checkpoint-every; a third run tries the same folder meanwhile.
    second = _train(["--output", str(output), "--resume", "--max-steps", "8"], cache)
    wait_for(lambda: f'"pid": {second.pid}' in _read(output / LOCK_NAME), second, "the resumed run's lock")
    third = _train(["--output", str(output), "--resume", "--max-steps", "9"], cache)
    inodes = {_inode(last)}
    while second.poll() is None:
        inodes.add(_inode(last))
        time.sleep(0.005)
    out, err = second.communicate()
    assert second.returncode == 0, err[-3000:]
    _, third_err = third.communicate(timeout=300)

    assert third.returncode == 2 and f"in use by another training run (pid {second.pid} on " in third_err
    assert f"was locked by a run that is no longer running (pid {first.pid} on " in err
    assert f"removed {len(debris)} temp file(s) left by an interrupted run" in err
    summary = json.loads((output / "summary.json").read_text())
    assert summary["crash_debris"] == {"files": len(debris), "bytes": debris_bytes}
    assert not list(output.rglob(TEMP_GLOB)) and not (output / LOCK_NAME).exists()
    # Saved at batches 4, 6 and 8 (--checkpoint-every 2 restored), not only at the end.
    assert len(inodes - {None}) >= 1 + 3
    config = json.loads((output / "train_config.json").read_text())
    assert config["checkpoint_every"] == 2
    # Every batch is in metrics.csv, the two before the checkpoint included (run 1 never wrote it).
    history = read_history(output / "metrics.csv")
    assert [row["step"] for row in history] == list(range(1, 9))
    assert summary["epochs"] == history[-1]["epoch"]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_a_disk_that_fills_up_during_training_stops_with_disk_full_and_keeps_the_last_checkpoint(
        tmp_path, cache, capsys, monkeypatch):
    real_free = disk_space.free_bytes
    calls = []

    def fake_disk_filling_up_after_the_first_checkpoint(folder):
        # A disk filling up is hardware state this machine lacks: room for the start-up check and
        # the first checkpoint, then 1 MB.
        calls.append(folder)
        return real_free(folder) if len(calls) <= 2 else 1 * disk_space.MB

    monkeypatch.setattr(disk_space, "free_bytes", fake_disk_filling_up_after_the_first_checkpoint)
    output = tmp_path / "out"
    code = main(["--output", str(output), "--max-steps", "3", "--checkpoint-every", "1", "--no-export", "--quiet",
                 "--accelerator", "cpu", "--cache-dir", str(cache)])
    err = capsys.readouterr().err
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: disk full: 1 MB free in {output / 'checkpoints'}, a checkpoint needs ")
    assert "Traceback" not in err and "inline_container" not in err
    assert load_checkpoint_safely(output / "checkpoints" / "last.ckpt")["global_step"] == 2  # batch 1, intact
    assert not list(output.rglob(TEMP_GLOB)) and not (output / LOCK_NAME).exists()
