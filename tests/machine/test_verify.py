"""`python -m tasks.verify`: drift against pixi.lock, device promises, patches, a real training step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tasks import verify
from utils.lock.lockfile import DEFAULT_LOCK, current_platform, load_lock, normalize_name
from utils.lock.venv_builder import lock_pins
from utils.machine import verify_checks
from utils.machine.hardware import Hardware

PLATFORM = current_platform()
needs_locked_platform = pytest.mark.skipif(PLATFORM not in load_lock(DEFAULT_LOCK).subdirs("default"),
                                           reason=f"pixi.lock has no default environment for {PLATFORM}")


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = verify.main(["--json", *argv])
    return code, {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}


def venv_record(tmp_path: Path, exclude: str) -> Path:
    """A tasks.venv record for THIS interpreter, listing every current difference from the lock as
    a deviation except for `exclude` (as tasks.venv would after installing)."""
    installed = verify_checks.installed_distributions()
    deviations = [{"name": n, "locked": p.version, "installed": installed.get(n), "reason": "test record"}
                  for n, p in lock_pins(load_lock(DEFAULT_LOCK), "default", PLATFORM).items()
                  if installed.get(n) != p.version and n != exclude]
    path = tmp_path / "coaxial-venv.json"
    path.write_text(json.dumps({"environment": "default", "platform": PLATFORM, "installed": installed,
                                "deviations": deviations}))
    return path


def test_quick_verify_passes_on_this_machine(capsys):
    code, checks = run_json(capsys, "--quick")
    failed = {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert code == 0 and not failed, failed
    assert {"versions", "accelerator", "cuda arch in torch build", "patches active in this process",
            "precision", "alignment kernel"} <= set(checks)
    assert "training step" not in checks
    assert all(c["status"] in ("pass", "warn") and c["detail"] for c in checks.values())


@pytest.mark.slow
def test_full_verify_runs_one_real_training_step(capsys):
    code, checks = run_json(capsys)
    assert code == 0, {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert checks["training step"]["status"] == "pass"
    assert "loss_g" in checks["training step"]["detail"]


@needs_locked_platform
def test_recorded_deviations_warn_and_exact_pins_pass(tmp_path, capsys):
    record = venv_record(tmp_path, exclude="")
    code, checks = run_json(capsys, "--quick", "--record", str(record))
    assert checks["packages match pixi.lock"]["status"] == "pass"
    assert code == 0


@needs_locked_platform
def test_a_pin_changed_in_a_copy_of_the_lock_fails_and_names_the_package(tmp_path, capsys):
    lock = tmp_path / "pixi.lock"
    text = DEFAULT_LOCK.read_text()
    assert "name: piper-tts\n  version: 1.8.0\n" in text
    lock.write_text(text.replace("name: piper-tts\n  version: 1.8.0\n",
                                 "name: piper-tts\n  version: 0.0.1\n"))
    record = venv_record(tmp_path, exclude="piper-tts")
    code, checks = run_json(capsys, "--quick", "--record", str(record), "--lock", str(lock))
    drift = checks["packages match pixi.lock"]
    assert code == 1 and drift["status"] == "fail"
    assert "piper-tts: locked 0.0.1, installed 1.8.0" in drift["detail"]
    assert "tasks.venv" in drift["remedy"]


def test_table_prints_the_remedy_under_each_failure(tmp_path, capsys):
    lock = tmp_path / "pixi.lock"
    shutil.copy(DEFAULT_LOCK, lock)
    record = tmp_path / "coaxial-venv.json"
    record.write_text(json.dumps({"environment": "no-such-env", "platform": PLATFORM, "installed": {},
                                  "deviations": []}))
    assert verify.main(["--quick", "--record", str(record), "--lock", str(lock)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  lock readable" in out and "no environment 'no-such-env'" in out
    assert "-> run `pixi run lock`" in out


def _fake_pixi_prefix(prefix: Path, env_name: str, platform: str) -> verify_checks.Environment:
    """A FAKE pixi prefix (pixi is not installable here) populated exactly as the lock says."""
    packages = load_lock(DEFAULT_LOCK).packages(env_name, platform)
    meta = prefix / "conda-meta"
    site = prefix / "lib" / "python3.13" / "site-packages"
    meta.mkdir()
    site.mkdir(parents=True)
    for pkg in packages:
        if pkg.kind == "conda":
            (meta / f"{pkg.name}-{pkg.version}-{pkg.build}.json").write_text(
                json.dumps({"name": pkg.name, "version": pkg.version, "build": pkg.build}))
        else:
            info = site / f"{normalize_name(pkg.name)}-{pkg.version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {pkg.name}\nVersion: {pkg.version}\n\n")
    env = verify_checks.detect_environment(environ={"PIXI_ENVIRONMENT_NAME": env_name, "CONDA_PREFIX": str(prefix)})
    assert env.kind == "pixi"
    return env


@pytest.mark.parametrize("env_name,platform", [("cuda12", "linux-64"), ("cpu", "linux-aarch64")])
def test_drift_finds_the_lock_platform_behind_the_machine_subdir(tmp_path, env_name, platform):
    # cuda12's linux-64 is "p1" in the lock; linux-aarch64's torch is a PyPI wheel.
    env = _fake_pixi_prefix(tmp_path, env_name, platform)
    [ok] = verify_checks.check_drift(env, DEFAULT_LOCK, platform)
    assert ok.status == "pass" and f"[{env_name} / {platform}]" in ok.detail, ok.detail
    torch = next(tmp_path.glob("conda-meta/pytorch-*.json"), None) or next(tmp_path.rglob("torch-*.dist-info"))
    shutil.rmtree(torch) if torch.is_dir() else torch.unlink()
    [bad] = verify_checks.check_drift(env, DEFAULT_LOCK, platform)
    assert bad.status == "fail" and ("pytorch (conda)" in bad.detail or "torch (pypi)" in bad.detail)


@needs_locked_platform
def test_pixi_environment_is_compared_package_by_package(tmp_path):
    env = _fake_pixi_prefix(tmp_path, "default", PLATFORM)
    meta = tmp_path / "conda-meta"
    [ok] = verify_checks.check_drift(env, DEFAULT_LOCK, PLATFORM)
    assert ok.status == "pass", ok.detail

    numpy_meta = next(meta.glob("numpy-*.json"))
    numpy_meta.write_text(json.dumps({"name": "numpy", "version": "1.0.0", "build": "fake_0"}))
    [bad] = verify_checks.check_drift(env, DEFAULT_LOCK, PLATFORM)
    assert bad.status == "fail" and "numpy (conda): locked" in bad.detail
    assert "installed 1.0.0 fake_0" in bad.detail
    assert "pixi install --locked -e default" in bad.remedy


def _fake_venv_prefix(prefix: Path, torch_version: str, cuda: str | None, deviations=()) -> verify_checks.Environment:
    """A FAKE tasks.venv prefix (metadata only, nothing importable) holding every pin of the lock at its
    locked release, and a torch whose own version.py says `torch_version` / `cuda`: builds we cannot
    install here (PyPI's CUDA wheels) next to the lock's conda-forge pytorch."""
    pins = lock_pins(load_lock(DEFAULT_LOCK), "default", PLATFORM)
    site = prefix / "lib" / "python3.13" / "site-packages"
    (site / "torch").mkdir(parents=True)
    for name, pin in pins.items():
        version = torch_version.split("+")[0] if name == "torch" else pin.version  # PyPI's dist drops +cu128
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    (site / "torch" / "version.py").write_text(
        f"__version__ = '{torch_version}'\ncuda: Optional[str] = {repr(cuda)}\n")
    record = {"environment": "default", "platform": PLATFORM, "installed": {}, "deviations": list(deviations)}
    (prefix / "coaxial-venv.json").write_text(json.dumps(record))
    return verify_checks.detect_environment(prefix=prefix, environ={})


@needs_locked_platform
def test_the_locked_torch_release_in_another_build_passes_with_the_build_named(tmp_path):
    locked = next(p for p in load_lock(DEFAULT_LOCK).packages("default", PLATFORM) if p.pypi_name == "torch")
    env = _fake_venv_prefix(tmp_path, f"{locked.version}+cu128", "12.8")
    checks = {c.name: c for c in verify_checks.check_drift(env, DEFAULT_LOCK, PLATFORM)}
    assert checks["packages match pixi.lock"].status == "pass", checks["packages match pixi.lock"].detail
    build = checks["torch build"]
    assert build.status == "pass"
    assert f"PyPI torch {locked.version}+cu128 (CUDA 12.8)" in build.detail and locked.build in build.detail


@needs_locked_platform
def test_another_torch_release_fails_unless_tasks_venv_recorded_it(tmp_path):
    env = _fake_venv_prefix(tmp_path / "a", "2.99.0+cu128", "12.8")
    checks = {c.name: c for c in verify_checks.check_drift(env, DEFAULT_LOCK, PLATFORM)}
    assert checks["packages match pixi.lock"].status == "fail" and "torch: locked" in checks[
        "packages match pixi.lock"].detail
    assert checks["torch build"].status == "fail" and "2.99.0+cu128" in checks["torch build"].detail
    dev = {"name": "torch", "locked": "2.8.0", "installed": "2.99.0", "reason": "--torch 2.99.0 overrides the lock"}
    env = _fake_venv_prefix(tmp_path / "b", "2.99.0+cpu", None, [dev])
    checks = {c.name: c for c in verify_checks.check_drift(env, DEFAULT_LOCK, PLATFORM)}
    assert checks["packages match pixi.lock"].status == "pass"
    assert checks["torch build"].status == "warn" and "CPU only" in checks["torch build"].detail


def _fake_hw(cuda=None, arch=(), smi=(), cuda_build=False) -> Hardware:
    """FAKE probe results for GPUs this machine does not have."""
    return Hardware(torch_version="2.8.0", torch_cuda_version="12.8" if cuda or cuda_build else None,
                    cuda_available=cuda is not None, device_count=int(cuda is not None),
                    device_name="FAKE GPU" if cuda else None, capability=cuda, arch_list=arch,
                    mps_available=False, nvidia_smi_gpus=smi, machine="x86_64", system="Linux", cpu_count=4)


def test_cuda12_environment_without_a_visible_gpu_fails_with_remedy():
    env = verify_checks.Environment("pixi", "cuda12", Path("/fake"))
    check = verify_checks.check_accelerator(env, _fake_hw(cuda_build=True))
    assert check.status == "fail" and "nvidia-smi" in check.remedy
    cpu_torch = verify_checks.check_accelerator(env, _fake_hw())
    assert cpu_torch.status == "fail" and "CPU torch" in cpu_torch.remedy


def test_cpu_environment_with_a_visible_nvidia_gpu_warns():
    env = verify_checks.Environment("pixi", "cpu", Path("/fake"))
    check = verify_checks.check_accelerator(env, _fake_hw(smi=("FAKE RTX 5060 Ti",)))
    assert check.status == "warn" and "cuda12" in check.remedy


def test_fake_sm120_device_missing_from_the_arch_list_fails():
    check = verify_checks.check_arch(_fake_hw(cuda=(12, 0), arch=("sm_80", "sm_86", "sm_90")))
    assert check.status == "fail" and "sm_120" in check.detail and "12.8" in check.remedy
    assert verify_checks.check_arch(_fake_hw(cuda=(12, 0), arch=("sm_90", "sm_120"))).status == "pass"


def test_unlocked_interpreter_is_reported_honestly(tmp_path):
    env = verify_checks.detect_environment(prefix=tmp_path, environ={})
    [check] = verify_checks.check_drift(env, DEFAULT_LOCK)
    assert env.kind == "none" and check.status == "warn" and "tasks.venv" in check.remedy


@pytest.mark.parametrize("argv, message", [
    (["--lock", "/no/such/pixi.lock"], "no such file"),
    (["--precision", "half"], "use one of"),
    (["--accelerator", "tpu"], "use one of"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    assert verify.main(argv) == 2
    assert message in capsys.readouterr().err
