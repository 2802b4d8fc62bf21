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
    """Apply `edit` to the package-URL list of one environment/platform (subdir) in pixi.lock text."""
    platform = load_lock(DEFAULT_LOCK).resolve_platform(env, platform)  # cuda12's linux-64 is "p1"
    env_at = re.search(rf"^  {re.escape(env)}:\n", text, re.M).end()
    plat_at = text.index(f"      {platform}:\n", env_at) + len(f"      {platform}:\n")
    end = re.compile(r"^(?!      - )", re.M).search(text, plat_at).start()
    return text[:plat_at] + edit(text[plat_at:end]) + text[end:]


def _url(lock, env, platform, name) -> str:
    return next(p.url for p in lock.packages(env, platform) if p.name == name)


def test_audit_passes_on_the_project_lock(capsys):
    assert audit_lock.main([]) == 0
    out = capsys.readouterr().out
    for name in ("lock-version", "hashes", "coverage", "urls", "purls", "solve-group", "cuda", "cpu-only",
                 "torch", "virtual-packages", "exports"):
        assert re.search(rf"^PASS\s+{name}\s", out, re.M), name
    assert "FAIL" not in out


def test_every_manifest_environment_and_platform_is_checked():
    checks = run_audit(DEFAULT_LOCK, MANIFEST, ENVIRONMENTS_DIR)
    scopes = {c.scope for c in checks if c.name == "coverage"}
    assert scopes == {
        "cuda12/linux-64-cuda",
        "cuda12/win-64-cuda",
        "cpu/linux-64",
        "cpu/linux-aarch64",
        "cpu/win-64",
        "osx-arm64/osx-arm64",
        "default/linux-64",
        "default/linux-aarch64",
        "default/osx-arm64",
        "default/win-64",
    }
    assert {c.scope for c in checks if c.name == "cuda"} == {"cuda12/linux-64-cuda", "cuda12/win-64-cuda"}
    assert {c.scope for c in checks if c.name == "virtual-packages"} == scopes
    assert {c.scope for c in checks if c.name == "solve-group"} == {"solve-group default"}


def test_json_output_lists_every_check(capsys):
    assert audit_lock.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and all(set(c) == {"name", "scope", "status", "detail", "remedy"} for c in data)
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
    assert fail.scope == "cuda12/linux-64-cuda" and "CPU build" in fail.detail
    assert [c.status for c in checks if c.name == "cuda" and c.scope == "cuda12/win-64-cuda"] == ["pass"]


def test_old_cuda_build_in_cuda12_fails_the_cuda_check(workspace, lock):
    # A cuda126 build has no sm_120 kernels; rename the record's build in place.
    url = _url(lock, "cuda12", "win-64", "pytorch")
    old = url.replace("cuda128", "cuda126").replace("cuda129", "cuda126")
    (workspace / "pixi.lock").write_text((workspace / "pixi.lock").read_text().replace(url, old))
    (fail,) = _failures(_audit(workspace), "cuda")
    assert fail.scope == "cuda12/win-64-cuda" and "CUDA 12.6" in fail.detail


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
    text = manifest.read_text()
    text = text.replace('  "linux-aarch64",\n', '  "linux-aarch64",\n  "osx-64",\n', 1)
    portable = 'platforms = ["linux-64", "linux-aarch64", "osx-arm64", "win-64"]'
    assert portable in text
    manifest.write_text(text.replace(portable, portable.replace('"win-64"', '"win-64", "osx-64"'), 1))
    fails = _failures(_audit(workspace), "coverage")
    # osx-64 reaches only the environments whose features all allow it: default (torch-portable, dev).
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


# --- lock format 7 rules ------------------------------------------------------------------------


def _record_span(text: str, url: str) -> tuple[int, int]:
    """Start and end of the package record of `url` in pixi.lock text."""
    start = re.search(rf"^- (conda|pypi): {re.escape(url)}\n", text, re.M).start()
    nxt = re.compile(r"^- (conda|pypi): ", re.M).search(text, start + 1)
    return start, (nxt.start() if nxt else len(text))


def _main(ws: Path) -> int:
    args = ["--lock", str(ws / "pixi.lock"), "--manifest", str(ws / "pixi.toml"), "--environments"]
    return audit_lock.main(args + [str(ws / "environments")])


def test_lock_version_6_fails_the_lock_version_rule_and_nothing_else_is_read(workspace, capsys):
    lock_file = workspace / "pixi.lock"
    lock_file.write_text(lock_file.read_text().replace("version: 7\n", "version: 6\n", 1))
    checks = _audit(workspace)
    assert [(c.name, c.status) for c in checks] == [("lock-version", "fail")]
    assert "format 6" in checks[0].detail and "pixi lock" in checks[0].detail
    assert _main(workspace) == 1
    assert "lock-version (pixi.lock)" in capsys.readouterr().out


def test_pytorch_without_its_torch_purl_fails_the_purls_rule(workspace, lock):
    url = _url(lock, "cuda12", "linux-64", "pytorch")
    text = (workspace / "pixi.lock").read_text()
    start, end = _record_span(text, url)
    record = re.sub(r"^  purls:\n(  - .*\n)+", "  purls: []\n", text[start:end], flags=re.M)
    assert record != text[start:end]
    (workspace / "pixi.lock").write_text(text[:start] + record + text[end:])
    (fail,) = _failures(_audit(workspace), "purls")
    assert "pkg:pypi/torch" in fail.detail and url.rsplit("/", 1)[-1] in fail.detail


def test_conda_record_without_a_purls_key_fails_the_purls_rule(workspace, lock):
    url = _url(lock, "cpu", "linux-64", "numpy")
    text = (workspace / "pixi.lock").read_text()
    start, end = _record_span(text, url)
    record = re.sub(r"^  purls:\n(  - .*\n)+|^  purls: \[\]\n", "", text[start:end], flags=re.M)
    assert record != text[start:end]
    (workspace / "pixi.lock").write_text(text[:start] + record + text[end:])
    (fail,) = _failures(_audit(workspace), "purls")
    assert "without a `purls` key" in fail.detail and url.rsplit("/", 1)[-1] in fail.detail


def test_two_files_for_one_package_in_a_solve_group_fail_the_solve_group_rule(workspace, lock):
    # cpu gets another build of zstd than default on linux-64: a record that differs only in its build hash.
    url = _url(lock, "cpu", "linux-64", "zstd")
    other = re.sub(r"-h[0-9a-f]+_(\d+)\.conda$", r"-h0000000_\1.conda", url)
    text = (workspace / "pixi.lock").read_text()
    start, end = _record_span(text, url)
    text = _edit_env_list(text, "cpu", "linux-64", lambda s: s.replace(url, other))
    text += text[start:end].replace(url, other)
    (workspace / "pixi.lock").write_text(text)
    (fail,) = _failures(_audit(workspace), "solve-group")
    assert fail.scope == "solve-group default"
    assert "zstd on linux-64" in fail.detail and other.rsplit("/", 1)[-1] in fail.detail


def test_cuda12_platform_without_cuda_fails_the_virtual_packages_rule(workspace):
    text = (workspace / "pixi.lock").read_text()
    alias = re.search(r"^- name: (p\d+)\n  subdir: linux-64\n  virtual-packages:\n  - __cuda=12\.8\n", text, re.M)
    (workspace / "pixi.lock").write_text(text[: alias.end() - len("  - __cuda=12.8\n")] + text[alias.end() :])
    fails = _failures(_audit(workspace), "virtual-packages")
    assert [c.scope for c in fails] == ["cuda12/linux-64-cuda"]
    assert "declares no __cuda" in fails[0].detail


def test_cpu_platform_with_cuda_fails_the_virtual_packages_rule(workspace):
    text = (workspace / "pixi.lock").read_text()
    plain = "- name: win-64\n  virtual-packages:\n"
    assert plain in text
    (workspace / "pixi.lock").write_text(text.replace(plain, plain + "  - __cuda=12.8\n", 1))
    fails = _failures(_audit(workspace), "virtual-packages")
    assert {c.scope for c in fails} == {"cpu/win-64", "default/win-64"}


def test_nvidia_wheel_on_linux_aarch64_fails_the_cpu_only_rule(workspace):
    text = (workspace / "pixi.lock").read_text()
    wheel = ("https://files.pythonhosted.org/packages/00/00/"
             "nvidia_cublas_cu12-12.8.4.1-py3-none-manylinux_2_27_aarch64.whl")
    text = _edit_env_list(text, "cpu", "linux-aarch64", lambda s: s + f"      - pypi: {wheel}\n")
    text += f"- pypi: {wheel}\n  name: nvidia-cublas-cu12\n  version: 12.8.4.1\n  sha256: {'0f' * 32}\n"
    (workspace / "pixi.lock").write_text(text)
    (fail,) = _failures(_audit(workspace), "cpu-only")
    assert fail.scope == "cpu/linux-aarch64" and "nvidia-cublas-cu12" in fail.detail


def test_linux_aarch64_takes_a_pypi_cpu_torch_and_other_platforms_may_not(workspace, lock):
    checks = _audit(workspace)
    aarch64 = [c for c in checks if c.name == "torch" and c.scope.endswith("/linux-aarch64")]
    assert [c.status for c in aarch64] == ["pass", "pass"] and all("aarch64" in c.detail for c in aarch64)
    wheel = _url(lock, "cpu", "linux-aarch64", "torch")
    text = _edit_env_list((workspace / "pixi.lock").read_text(), "cpu", "linux-64",
                          lambda s: s + f"      - pypi: {wheel}\n")
    (workspace / "pixi.lock").write_text(text)
    (fail,) = _failures(_audit(workspace), "torch")
    assert fail.scope == "cpu/linux-64" and "PyPI torch 2.8.0" in fail.detail


def test_deprecated_system_requirements_are_refused_with_the_modern_form(workspace, capsys):
    manifest = workspace / "pixi.toml"
    manifest.write_text(manifest.read_text() + '\n[feature.cuda12.system-requirements]\ncuda = "12.8"\n')
    with pytest.raises(ManifestError, match=r"deprecated since pixi 0\.71.*cuda = \"12\.8\""):
        _audit(workspace)
    assert _main(workspace) == 2
    assert "system-requirements" in capsys.readouterr().err


def test_planted_malicious_lightning_fails_the_known_bad_rule(workspace, lock):
    # lightning 2.6.3 was a malicious upload (GHSA-w37p-236h-pfx3): a lock that has it must not pass.
    text = (workspace / "pixi.lock").read_text()
    record = re.search(r"^- pypi: (\S+/lightning-2\.6\.6-py3-none-any\.whl)\n  name: lightning\n  version: 2\.6\.6\n",
                       text, re.M)
    planted = record.group(0).replace("2.6.6", "2.6.3")
    (workspace / "pixi.lock").write_text(text.replace(record.group(0), planted).replace(
        record.group(1), record.group(1).replace("2.6.6", "2.6.3")))
    (fail,) = _failures(_audit(workspace), "known-bad")
    assert "lightning 2.6.3" in fail.detail and "GHSA-w37p-236h-pfx3" in fail.detail and "pixi.toml" in fail.detail


def test_known_bad_table_names_releases_not_neighbours():
    from utils.lock.known_bad import KNOWN_BAD, known_bad

    assert [row.source for row in known_bad("lightning", "2.6.2")][0] == "GHSA-w37p-236h-pfx3"
    assert known_bad("Lightning", "2.6.3") and known_bad("lightning", "2.6.5")
    assert known_bad("lightning", "2.6.6") == [] and known_bad("lightning", "2.7.0") == []
    assert known_bad("pytorch-lightning", "2.6.3") == []  # the rows name one distribution each
    assert all(row.reason and row.source for row in KNOWN_BAD)
