"""`pixi run postinstall`: kernel warm-up, hardware probe, deterministic profile written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import postinstall
from utils.machine import hardware, machine_profile, precision_probe

REPO = Path(__file__).resolve().parents[2]


def test_writes_a_profile_with_a_working_kernel_and_the_policy(tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert postinstall.main(["--output", str(out), "--no-measure"]) == 0
    profile = json.loads(out.read_text())
    assert profile["kernel"]["ok"] is True and profile["kernel"]["frames_aligned"] == [60, 45]
    assert profile["policy"]["precision"] and profile["hardware"]["torch_version"]
    assert "(written)" in capsys.readouterr().out


def test_running_twice_changes_nothing(tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert postinstall.main(["--output", str(out), "--no-measure"]) == 0
    first = (out.read_bytes(), out.stat().st_mtime_ns)
    assert postinstall.main(["--output", str(out), "--no-measure"]) == 0
    assert (out.read_bytes(), out.stat().st_mtime_ns) == first
    assert "(unchanged)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json"]  # no temp files left


def test_two_concurrent_runs_leave_one_whole_profile(tmp_path):
    out = tmp_path / "profile.json"
    cmd = [sys.executable, "-m", "tasks.postinstall", "--output", str(out), "--no-measure"]
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


@pytest.mark.slow
def test_measures_the_precisions_once_and_training_uses_the_choice(tmp_path, capsys):
    """Real steps in each candidate precision on this machine (none to time on an AVX2-only CPU)."""
    hw = hardware.probe()
    out = tmp_path / "profile.json"
    assert postinstall.main(["--output", str(out)]) == 0
    profile = json.loads(out.read_text())
    record = profile["precision_measurement"]
    if not precision_probe.candidates(hw, profile["policy"]["accelerator"]):
        assert record is None
        return
    assert set(record["steps_per_s"]) == {"32-true", "bf16-mixed"} and all(record["loss_g"].values())
    assert "measured   steps/s" in capsys.readouterr().out
    if record["busy"]:  # timed beside other work: kept for the reader, the flags decide
        assert precision_probe.describe(record) not in profile["policy"]["reason"]
        return
    assert profile["policy"]["precision"] == record["choice"]
    assert precision_probe.describe(record) in profile["policy"]["reason"]
    # The second run keeps the measurement: same bytes, no new timing.
    before = out.read_bytes()
    assert postinstall.main(["--output", str(out)]) == 0
    assert out.read_bytes() == before
    assert machine_profile.recorded_measurement(out) == record
