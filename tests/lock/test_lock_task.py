"""tasks.lock: which solver it runs, and what it does when the solver is missing or fails."""

from __future__ import annotations

import stat

from tasks import lock as lock_task


def _solver(path, body: str):
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_missing_offline_locker_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "no-such-lock"
    assert lock_task.main(["--offline", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_without_pixi_on_path_it_exits_2_with_the_way_out(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert lock_task.main([]) == 2
    err = capsys.readouterr().err
    assert "pixi" in err and "--offline" in err


def test_a_failing_solver_exits_1_and_skips_the_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lock_task, "REPO_ROOT", tmp_path)
    (tmp_path / "pixi.lock").write_text("version: 7\n", encoding="utf-8")
    solver = _solver(tmp_path / "lock", "echo solving >&2; exit 3")
    assert lock_task.main(["--offline", str(solver)]) == 1
    captured = capsys.readouterr()
    assert "solver failed" in captured.err and "export_envs" not in captured.out
    assert (tmp_path / "pixi.lock").read_text(encoding="utf-8") == "version: 7\n"
