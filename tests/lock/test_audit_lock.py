"""`audit-lock` passes on the project's lock and names the problem in each broken copy of it."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tasks import audit_lock
from utils.lock.audit import ManifestError, run_audit
from utils.lock.exports import ENVIRONMENTS_DIR, requirements_filename
from utils.lock.lockfile import DEFAULT_LOCK, load_lock

MANIFEST = DEFAULT_LOCK.parent / "pixi.toml"


@pytest.fixture(scope="module")
def lock():
    return load_lock(DEFAULT_LOCK)


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A copy of pixi.toml, pixi.lock and environments/ that a test may break."""
    shutil.copy(MANIFEST, tmp_path / "pixi.toml")
    shutil.copy(DEFAULT_LOCK, tmp_path / "pixi.lock")
    shutil.copytree(ENVIRONMENTS_DIR, tmp_path / "environments")
    return tmp_path


def _audit(ws: Path):
    return run_audit(ws / "pixi.lock", ws / "pixi.toml", ws / "environments")


def _failures(checks, name: str) -> list:
    return [c for c in checks if c.name == name and c.status == "fail"]


def _edit_env_list(text: str, env: str, platform: str, edit) -> str:
    """Apply `edit` to the package-URL list of one environment/platform in pixi.lock text."""
    env_at = re.search(rf"^  {re.escape(env)}:\n", text, re.M).end()
    plat_at = text.index(f"      {platform}:\n", env_at) + len(f"      {platform}:\n")
    end = re.compile(r"^(?!      - )", re.M).search(text, plat_at).start()
    return text[:plat_at] + edit(text[plat_at:end]) + text[end:]


def _url(lock, env, platform, name) -> str:
    return next(p.url for p in lock.packages(env, platform) if p.name == name)


def test_audit_passes_on_the_project_lock(capsys):
    assert audit_lock.main([]) == 0
    out = capsys.readouterr().out
    for name in ("hashes", "coverage", "urls", "cuda", "cpu-only", "torch", "exports"):
        assert re.search(rf"^PASS\s+{name}\s", out, re.M), name
    assert "FAIL" not in out


def test_every_manifest_environment_and_platform_is_checked():
    checks = run_audit(DEFAULT_LOCK, MANIFEST, ENVIRONMENTS_DIR)
    scopes = {c.scope for c in checks if c.name == "coverage"}
    assert {
        "cuda12/linux-64",
        "cuda12/win-64",
        "cpu/linux-64",
        "cpu/win-64",
        "osx-arm64/osx-arm64",
        "default/linux-64",
        "default/osx-arm64",
        "default/win-64",
    } <= scopes
    assert {c.scope for c in checks if c.name == "cuda"} == {"cuda12/linux-64", "cuda12/win-64"}


def test_json_output_lists_every_check(capsys):
    assert audit_lock.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and all(set(c) == {"name", "scope", "status", "detail"} for c in data)
    assert {c["status"] for c in data} <= {"pass", "skip"}


def test_removed_hash_fails_naming_the_package(workspace, lock, capsys):
    url = _url(lock, "cpu", "linux-64", "zstd")
    text = (workspace / "pixi.lock").read_text()
    rec = re.search(rf"^- conda: {re.escape(url)}\n", text, re.M).end()
    sha_line = re.compile(r"^  sha256: [0-9a-f]+\n", re.M).search(text, rec)
    (workspace / "pixi.lock").write_text(text[: sha_line.start()] + text[sha_line.end() :])
    (fail,) = _failures(_audit(workspace), "hashes")
    assert url.rsplit("/", 1)[-1] in fail.detail
    assert (
        audit_lock.main(
            [
                "--lock",
                str(workspace / "pixi.lock"),
                "--manifest",
                str(workspace / "pixi.toml"),
                "--environments",
                str(workspace / "environments"),
            ]
        )
        == 1
    )
    assert "hashes (pixi.lock)" in capsys.readouterr().out


def test_cpu_pytorch_in_cuda12_fails_the_cuda_check(workspace, lock):
    text = (workspace / "pixi.lock").read_text()
    for name in ("pytorch", "libtorch"):
        cuda_url, cpu_url = _url(lock, "cuda12", "linux-64", name), _url(lock, "cpu", "linux-64", name)
        text = _edit_env_list(text, "cuda12", "linux-64", lambda s, a=cuda_url, b=cpu_url: s.replace(a, b))
    (workspace / "pixi.lock").write_text(text)
    checks = _audit(workspace)
    (fail,) = _failures(checks, "cuda")
    assert fail.scope == "cuda12/linux-64" and "CPU build" in fail.detail
    assert [c.status for c in checks if c.name == "cuda" and c.scope == "cuda12/win-64"] == ["pass"]


def test_old_cuda_build_in_cuda12_fails_the_cuda_check(workspace, lock):
    # A cuda126 build has no sm_120 kernels; rename the record's build in place.
    url = _url(lock, "cuda12", "win-64", "pytorch")
    old = url.replace("cuda128", "cuda126").replace("cuda129", "cuda126")
    (workspace / "pixi.lock").write_text((workspace / "pixi.lock").read_text().replace(url, old))
    (fail,) = _failures(_audit(workspace), "cuda")
    assert fail.scope == "cuda12/win-64" and "CUDA 12.6" in fail.detail


def test_cuda_library_in_cpu_fails_naming_it(workspace, lock):
    nccl = _url(lock, "cuda12", "linux-64", "nccl")
    text = _edit_env_list(
        (workspace / "pixi.lock").read_text(), "cpu", "linux-64", lambda s: s + f"      - conda: {nccl}\n"
    )
    (workspace / "pixi.lock").write_text(text)
    (fail,) = _failures(_audit(workspace), "cpu-only")
    assert fail.scope == "cpu/linux-64" and "nccl" in fail.detail


def test_nvidia_pypi_wheel_in_cpu_fails(workspace, lock):
    text = (workspace / "pixi.lock").read_text()
    wheel = "https://files.pythonhosted.org/packages/00/00/nvidia_nccl_cu12-2.27.3-py3-none-manylinux_2_18_x86_64.whl"
    text = _edit_env_list(text, "cpu", "win-64", lambda s: s + f"      - pypi: {wheel}\n")
    text += f"- pypi: {wheel}\n  name: nvidia-nccl-cu12\n  version: 2.27.3\n  sha256: {'0f' * 32}\n"
    (workspace / "pixi.lock").write_text(text)
    (fail,) = _failures(_audit(workspace), "cpu-only")
    assert fail.scope == "cpu/win-64" and "nvidia-nccl-cu12" in fail.detail


def test_edited_export_fails_naming_the_file(workspace):
    edited = workspace / "environments" / requirements_filename("cuda12", "linux-64")
    edited.write_text(edited.read_text() + "extra-package==1.0 --hash=sha256:" + "0" * 64 + "\n")
    (fail,) = _failures(_audit(workspace), "exports")
    assert edited.name in fail.detail and "export-envs" in fail.detail


def test_file_url_fails(workspace, lock):
    url = _url(lock, "default", "linux-64", "pyyaml")
    local = "file:///home/someone/wheels/" + url.rsplit("/", 1)[-1]
    (workspace / "pixi.lock").write_text((workspace / "pixi.lock").read_text().replace(url, local))
    (fail,) = _failures(_audit(workspace), "urls")
    assert local in fail.detail


def test_platform_in_manifest_but_not_locked_fails(workspace):
    manifest = workspace / "pixi.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'platforms = ["linux-64", "osx-arm64", "win-64"]',
            'platforms = ["linux-64", "osx-arm64", "win-64", "osx-64"]',
            1,
        )
    )
    fails = _failures(_audit(workspace), "coverage")
    # osx-64 reaches only the environments whose features do not restrict platforms.
    assert {c.scope for c in fails} == {"default/osx-64"}


def test_unreadable_manifest_exits_2(workspace, capsys):
    (workspace / "pixi.toml").write_text("[workspace\n")
    with pytest.raises(ManifestError):
        _audit(workspace)
    assert audit_lock.main(["--manifest", str(workspace / "pixi.toml")]) == 2
    assert "pixi.toml" in capsys.readouterr().err


def test_without_conda_lock_the_pip_pins_are_still_checked(workspace, monkeypatch):
    # cpu/cuda12 environments lack conda-lock; a None entry in sys.modules makes its import fail the same way.
    monkeypatch.setitem(sys.modules, "conda_lock", None)
    checks = _audit(workspace)
    skipped = [c for c in checks if c.status == "skip"]
    assert [c.scope for c in skipped] == ["environments/*.conda-lock.yml"]
    assert not _failures(checks, "exports")
    edited = workspace / "environments" / requirements_filename("cpu", "linux-64")
    edited.write_text(edited.read_text().replace("piper-tts==", "piper-tts==0", 1))
    (fail,) = _failures(_audit(workspace), "exports")
    assert edited.name in fail.detail
