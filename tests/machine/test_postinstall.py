"""`pixi run postinstall`: kernel warm-up, hardware probe, deterministic profile written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tasks import postinstall
from utils.machine import machine_profile

REPO = Path(__file__).resolve().parents[2]


def test_writes_a_profile_with_a_working_kernel_and_the_policy(tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert postinstall.main(["--output", str(out)]) == 0
    profile = json.loads(out.read_text())
    assert profile["kernel"]["ok"] is True and profile["kernel"]["frames_aligned"] == [60, 45]
    assert profile["policy"]["precision"] and profile["hardware"]["torch_version"]
    assert "(written)" in capsys.readouterr().out


def test_running_twice_changes_nothing(tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert postinstall.main(["--output", str(out)]) == 0
    first = (out.read_bytes(), out.stat().st_mtime_ns)
    assert postinstall.main(["--output", str(out)]) == 0
    assert (out.read_bytes(), out.stat().st_mtime_ns) == first
    assert "(unchanged)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json"]  # no temp files left


def test_two_concurrent_runs_leave_one_whole_profile(tmp_path):
    out = tmp_path / "profile.json"
    cmd = [sys.executable, "-m", "tasks.postinstall", "--output", str(out)]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert json.loads(out.read_text())["kernel"]["ok"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json"]


def test_profile_goes_under_dot_pixi_inside_pixi_and_to_the_user_cache_otherwise(tmp_path, monkeypatch):
    (tmp_path / ".pixi").mkdir()
    env = {"PIXI_PROJECT_ROOT": str(tmp_path), "PIXI_ENVIRONMENT_NAME": "cuda12"}
    assert machine_profile.default_profile_path(env) == tmp_path / ".pixi" / "coaxial-profile-cuda12.json"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outside = machine_profile.default_profile_path({})
    if sys.platform.startswith("linux"):
        assert outside.parent == tmp_path / "cache" / "coaxial-train"
    assert outside.name.startswith("profile-") and outside.suffix == ".json"


def test_output_that_is_a_directory_is_bad_input(tmp_path, capsys):
    assert postinstall.main(["--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
