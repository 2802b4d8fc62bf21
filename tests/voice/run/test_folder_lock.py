"""One run per output folder: a second live run is refused, a dead run's lock is taken over."""

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

from utils.voice.run.output.folder_lock import LOCK_NAME, RunLock, RunLocked, this_host

# A real second process that takes the lock, says so, then waits to be told to leave.
HOLDER = """
import sys, time
from utils.voice.run.output.folder_lock import RunLock
with RunLock(sys.argv[1], command=["holder"]) as lock:
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _start_holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_is_refused_naming_the_pid_host_and_start_of_the_first(tmp_path):
    holder = _start_holder(tmp_path / "out")
    try:
        with pytest.raises(RunLocked) as refused, RunLock(tmp_path / "out"):
            pass
        message = str(refused.value)
        assert f"pid {holder.pid} on {this_host()}" in message
        assert "running since" in message and "holder" in message
        # The refused run left the owner's lock exactly as it was.
        assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == holder.pid
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert not (tmp_path / "out" / LOCK_NAME).exists()  # released on a clean exit
    with RunLock(tmp_path / "out") as lock:
        assert lock.taken_over is None


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 (SIGKILL) is POSIX")
def test_the_lock_of_a_killed_run_is_taken_over_and_reported(tmp_path):
    holder = _start_holder(tmp_path / "out")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert (tmp_path / "out" / LOCK_NAME).exists()  # kill -9 leaves the file behind
    with RunLock(tmp_path / "out") as lock:
        assert lock.taken_over is not None and lock.taken_over.pid == holder.pid
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


@pytest.fixture(params=["flock", "no-flock"])
def lock_mode(request, monkeypatch):
    """Both ways of judging a lock: flock (POSIX) and, as on Windows or a lockless file system,
    the recorded pid alone (flock switched off: a platform this machine is not)."""
    if request.param == "no-flock":
        from utils.voice.run.output import folder_lock

        monkeypatch.setattr(folder_lock, "fcntl", None)
    return request.param


def test_a_lock_file_naming_a_dead_pid_on_this_host_is_stale(tmp_path, lock_mode):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": this_host(), "started": "x"}))
    with RunLock(tmp_path) as lock:
        assert lock.taken_over.pid == dead.pid


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 4242, "host": "other-machine", "started": "yesterday"}))
    with pytest.raises(RunLocked, match=f"pid 4242 on other-machine.*delete {tmp_path / LOCK_NAME}"), \
            RunLock(tmp_path):
        pass


def test_without_flock_a_live_pid_on_this_host_still_refuses(tmp_path, lock_mode):
    holder = _start_holder(tmp_path)
    try:
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"), RunLock(tmp_path):
            pass
    finally:
        holder.communicate("\n", timeout=30)


def test_two_processes_racing_for_one_folder_get_exactly_one_lock(tmp_path):
    racer = ("import sys, time\nfrom utils.voice.run.output.folder_lock import RunLock, RunLocked\n"
             "try:\n    lock = RunLock(sys.argv[1]).acquire()\nexcept RunLocked:\n    print('refused'); sys.exit(0)\n"
             "print('locked', flush=True); time.sleep(3); lock.release()\n")
    procs = [subprocess.Popen([sys.executable, "-c", racer, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["locked", "refused", "refused", "refused"]


def test_the_lock_file_is_only_ours_while_the_run_lasts(tmp_path):
    lock = RunLock(tmp_path / "new" / "folder").acquire()
    started = time.time()
    data = json.loads(lock.path.read_text())
    assert data["pid"] == os.getpid() and data["host"] == this_host()
    lock.release()
    assert not lock.path.exists() and time.time() - started < 5
