"""tasks.venv installs what pixi.lock pins, and says where this Python cannot."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from tasks import venv as venv_task
from utils.lock.lockfile import current_platform, load_lock, normalize_name
from utils.lock.venv_builder import RECORD_NAME, Pin, lock_pins, plan, resolve_requirements

LOCK = load_lock(REPO_ROOT / "pixi.lock")


def _installed() -> dict[str, str]:
    return {normalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def _record() -> dict:
    path = Path(sys.prefix) / RECORD_NAME
    if not path.exists():
        pytest.skip(f"not running in a tasks.venv environment ({path} missing); CI always is")
    return json.loads(path.read_text())


def test_this_environment_holds_every_lock_pin_or_a_recorded_deviation():
    record = _record()
    pins = lock_pins(LOCK, record["environment"], current_platform())
    installed = _installed()
    deviations = {d["name"]: d for d in record["deviations"]}
    assert pins, "the lock pins nothing for this platform"
    for name, pin in pins.items():
        if name in deviations:
            dev = deviations[name]
            assert dev["locked"] == pin.version and dev["reason"]
            assert installed.get(name) == dev["installed"], f"{name}: record says {dev['installed']}"
        else:
            assert installed.get(name) == pin.version, f"{name}: lock {pin.version}, installed {installed.get(name)}"


def test_deviations_are_only_torch_override_or_python_too_old():
    record = _record()
    for dev in record["deviations"]:
        if dev["name"] == "torch":
            assert "--torch" in dev["reason"]
        elif dev["installed"] is None:
            assert dev["reason"].startswith("skipped: requires Python")
        else:
            assert dev["reason"].startswith("requires Python")
            assert tuple(map(int, dev["installed"].split(".")[:2])) <= tuple(map(int, dev["locked"].split(".")[:2]))


def test_planner_skips_backports_and_relaxes_pins_this_python_cannot_install():
    pins = {
        "app": Pin("app", "1.0", "pypi", None, ["backport ; python_version >= '99'", "newlib>=2"]),
        "backport": Pin("backport", "0.2", "pypi", ">=99", []),
        "newlib": Pin("newlib", "3.0", "pypi", ">=99", []),
        "plain": Pin("plain", "1.2.3", "pypi", ">=3.8", []),
        "torch": Pin("torch", "2.8.0", "conda:pytorch", None, []),
    }
    verdict = plan(Path(sys.executable), pins)
    assert verdict["python"] == ".".join(map(str, sys.version_info[:3]))
    lines, deviations = resolve_requirements(pins, verdict["pins"], torch_spec="2.13.0")
    assert lines == ["app==1.0", "newlib<=3.0", "plain==1.2.3", "torch==2.13.0"]
    reasons = {d.name: d.reason for d in deviations}
    assert set(reasons) == {"backport", "newlib", "torch"}
    assert reasons["backport"].startswith("skipped")


def test_pins_come_from_the_lock_platform_behind_a_subdir():
    # cuda12's linux-64 is "p1" in the lock; its torch is conda's CUDA pytorch.
    cuda = lock_pins(LOCK, "cuda12", "linux-64")
    assert cuda["torch"].source == "conda:pytorch" and cuda["torch"].version == "2.8.0"
    # linux-aarch64 takes PyPI's CPU wheel, and nothing from NVIDIA.
    arm = lock_pins(LOCK, "default", "linux-aarch64")
    assert arm["torch"].source == "pypi" and arm["torch"].version == "2.8.0"
    assert not [n for n in arm if n.startswith(("nvidia-", "triton"))]


def test_platform_not_locked_for_the_environment_exits_2_naming_what_is(tmp_path, capsys):
    assert venv_task.main([str(tmp_path / "v"), "--environment", "cuda12", "--platform", "osx-arm64"]) == 2
    assert "locked: linux-64 (p1), win-64 (p2)" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_unreadable_lock_exits_2_and_names_it(tmp_path, capsys):
    bad = tmp_path / "pixi.lock"
    bad.write_text("version: 6\nenvironments:\n  default\n")
    assert venv_task.main([str(tmp_path / "v"), "--lock", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_new_venv_from_a_lock_installs_its_pins_and_records_them(tmp_path):
    # A one-package environment cut from the real lock: python plus a dependency-free pure wheel.
    plat = current_platform()
    packages = LOCK.packages("default", plat)
    python = next(p for p in packages if p.kind == "conda" and p.name == "python")
    wheel = next(p for p in packages if p.kind == "pypi" and not p.requires_dist and p.url.endswith("py3-none-any.whl"))
    lock_text = "\n".join([
        "version: 7", "platforms:", f"- name: {plat}", "environments:", "  default:", "    packages:", f"      {plat}:",
        f"      - conda: {python.url}", f"      - pypi: {wheel.url}", "packages:",
        f"- conda: {python.url}", f"  sha256: {python.sha256}", "  depends:", "  - libzlib",
        f"- pypi: {wheel.url}", f"  name: {wheel.name}", f"  version: {wheel.version}", f"  sha256: {wheel.sha256}",
    ]) + "\n"
    (tmp_path / "pixi.lock").write_text(lock_text)
    target = tmp_path / "env"
    assert venv_task.main([str(target), "--lock", str(tmp_path / "pixi.lock")]) == 0
    record = json.loads((target / RECORD_NAME).read_text())
    assert record["installed"] == {normalize_name(wheel.name): wheel.version}
    assert (record["platform"], record["lock_platform"]) == (plat, plat)
    assert record["deviations"] == []
    # a second run updates in place and changes nothing
    assert venv_task.main([str(target), "--lock", str(tmp_path / "pixi.lock")]) == 0
    assert json.loads((target / RECORD_NAME).read_text()) == record


def test_torch_index_that_cannot_be_reached_exits_1_before_anything_is_written(tmp_path, capsys):
    # Nothing listens on the loopback's discard port: the connection is refused at once.
    code = venv_task.main([str(tmp_path / "v"), "--torch-index", "http://127.0.0.1:9/whl/cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "--torch-index http://127.0.0.1:9/whl/cpu: cannot be reached" in err
    assert "leave --torch-index out" in err
    assert not (tmp_path / "v").exists()


def test_torch_index_that_is_no_address_exits_2(tmp_path, capsys):
    assert venv_task.main([str(tmp_path / "v"), "--torch-index", "download.pytorch.org/whl/cpu"]) == 2
    assert "https://download.pytorch.org/whl/cpu" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_torch_index_must_list_torch(tmp_path):
    from support.loopback_server import LoopbackServer, ServedFiles

    from utils.lock.venv_checks import IndexUnreachable, check_torch_index

    page = tmp_path / "torch.html"
    page.write_text('<a href="torch-2.8.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl">torch</a>\n')
    with LoopbackServer(ServedFiles({"/whl/cpu/torch/": page})) as server:
        check_torch_index(server.url("/whl/cpu"))  # a PEP 503 index listing torch: accepted
        with pytest.raises(IndexUnreachable, match="HTTP 404"):
            check_torch_index(server.url("/simple"))
    (tmp_path / "local" / "torch").mkdir(parents=True)
    check_torch_index((tmp_path / "local").as_uri())
    with pytest.raises(IndexUnreachable, match="is not a folder"):
        check_torch_index((tmp_path / "nothing").as_uri())


def test_import_check_passes_here_and_names_what_fails(tmp_path):
    from utils.lock.venv_checks import import_failures

    training = {"torch", "lightning", "onnxruntime", "piper-tts"}
    checked, failures = import_failures(Path(sys.executable), training)
    assert failures == [] and checked == ["torch", "lightning", "onnxruntime", "piper.train",
                                          "piper's espeak-ng bridge"]
    assert import_failures(Path(sys.executable), {"numpy"}) == ([], [])  # nothing of training locked
    # A FAKE torch that fails as PyPI's CUDA build does without its nvidia-* wheels, put first on the
    # path of a wrapper interpreter.
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ValueError('libcublas.so.*[0-9] not found in the system path')\n")
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    checked, failures = import_failures(wrapper, {"torch", "onnxruntime"})
    assert checked == ["torch", "onnxruntime"]
    assert failures == ["torch: ValueError: libcublas.so.*[0-9] not found in the system path"]


def test_torch_here_has_its_own_requirements_installed():
    # tasks.venv installs PyPI's torch with what its metadata requires (CUDA runtime wheels included).
    from packaging.requirements import Requirement
    from packaging.version import Version

    missing = []
    for text in importlib.metadata.requires("torch") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        have = _installed().get(normalize_name(req.name))
        if have is None or not req.specifier.contains(Version(have), prereleases=True):
            missing.append(f"{req} (installed: {have})")
    assert missing == []
