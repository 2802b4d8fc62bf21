"""pixi.toml says what the README and the issues promise, and pixi.lock covers all of it."""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT
from support.manifest import all_tasks, environment_features, environment_platforms, load_manifest, workspace_platforms

from utils.lock.lockfile import load_lock

MANIFEST = load_manifest()
LOCK = load_lock(REPO_ROOT / "pixi.lock")
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_workspace_is_conda_forge_only_with_matching_schema_and_pixi_floor():
    ws = MANIFEST["workspace"]
    assert ws["name"] == "coaxial-train"
    assert ws["channels"] == ["conda-forge"]
    floor = re.fullmatch(r">=(\d+\.\d+\.\d+)", ws["requires-pixi"]).group(1)
    assert f"/v{floor}/schema/manifest/schema.json" in MANIFEST["$schema"]


def test_environments_are_the_ones_users_know_with_their_platforms():
    plats = environment_platforms(MANIFEST)
    subdirs = {env: [workspace_platforms(MANIFEST)[p]["subdir"] for p in names] for env, names in plats.items()}
    assert set(plats) == {"default", "cpu", "cuda12", "osx-arm64"}
    assert subdirs["cuda12"] == ["linux-64", "win-64"]
    assert subdirs["cpu"] == ["linux-64", "linux-aarch64", "win-64"]
    assert subdirs["osx-arm64"] == ["osx-arm64"]
    # default runs `pixi run train` without -e on every subdir the workspace lists, without CUDA
    assert sorted(subdirs["default"]) == sorted({p["subdir"] for p in workspace_platforms(MANIFEST).values()})
    assert not any(workspace_platforms(MANIFEST)[p]["cuda"] for p in plats["default"])


def test_cuda12_runs_only_on_platforms_declaring_cuda_12_8_or_newer_for_rtx_50_series():
    platforms = workspace_platforms(MANIFEST)
    for name in environment_platforms(MANIFEST)["cuda12"]:
        major, minor = map(int, platforms[name]["cuda"].split(".")[:2])
        assert (major, minor) >= (12, 8), name
    cuda = MANIFEST["feature"]["cuda12"]
    assert cuda["dependencies"]["cuda-version"].startswith(">=12.8")
    assert cuda["dependencies"]["pytorch"]["build"].startswith("cuda")


def test_manifest_uses_no_key_pixi_0_77_deprecates():
    # [system-requirements] is deprecated since pixi 0.71 (CUDA is declared on the platform).
    tables = [MANIFEST] + list(MANIFEST["feature"].values())
    assert not [t for t in tables if "system-requirements" in t]
    assert "project" not in MANIFEST, "[project] is the deprecated name of [workspace]"


def test_every_environment_gets_python_pip_and_the_training_engine():
    assert MANIFEST["dependencies"]["python"].startswith("3.13")
    assert "pip" in MANIFEST["dependencies"]
    engine = MANIFEST["pypi-dependencies"]["piper-tts"]
    assert engine == {"version": "==1.8.0", "extras": ["train"]}
    for env, feats in environment_features(MANIFEST).items():
        assert "default" in feats, f"{env} drops the default feature (python, pip, piper-tts)"


def test_torch_is_a_pypi_dependency_only_for_linux_aarch64():
    def pypi_tables(table, where):
        yield where, table.get("pypi-dependencies", {})
        for selector, target in table.get("target", {}).items():
            yield f"{where}.target.{selector}", target.get("pypi-dependencies", {})

    tables = list(pypi_tables(MANIFEST, "workspace"))
    for name, feature in MANIFEST["feature"].items():
        tables += list(pypi_tables(feature, f"feature.{name}"))
    assert [where for where, t in tables if "torch" in t] == ["feature.torch-portable.target.linux-aarch64"]


@pytest.mark.parametrize("env", sorted(environment_platforms(MANIFEST)))
def test_every_environment_and_platform_is_locked_with_one_torch(env):
    declared = [workspace_platforms(MANIFEST)[p] for p in environment_platforms(MANIFEST)[env]]
    assert sorted(LOCK.subdirs(env)) == sorted(p["subdir"] for p in declared)
    for plat in declared:
        lock_platform = LOCK.platform(LOCK.resolve_platform(env, plat["subdir"]))
        assert lock_platform.cuda == plat["cuda"], (env, lock_platform)
        names = {(p.kind, p.name) for p in LOCK.packages(env, plat["subdir"])}
        assert {("conda", "python"), ("conda", "pip"), ("pypi", "piper-tts")} <= names, (env, plat)
        torch = {n for n in names if n in {("conda", "pytorch"), ("pypi", "torch")}}
        want = ("pypi", "torch") if plat["subdir"] == "linux-aarch64" else ("conda", "pytorch")
        assert torch == {want}, (env, plat, torch)


def test_linux_aarch64_is_locked_with_an_aarch64_cpu_torch_wheel_and_no_cuda():
    for env in ("cpu", "default"):
        packages = LOCK.packages(env, "linux-aarch64")
        torch = [p for p in packages if p.kind == "pypi" and p.name == "torch"]
        assert len(torch) == 1 and torch[0].version == "2.8.0"
        assert re.fullmatch(r"torch-2\.8\.0-cp313-cp313-manylinux_\d+_\d+_aarch64\.whl", torch[0].filename)
        cuda = [p.name for p in packages if re.match(r"(nvidia-|cuda-|libcu|triton|cudnn)", p.name.lower())]
        assert not cuda, (env, cuda)
        assert all(p.subdir in ("linux-aarch64", "noarch") for p in packages if p.kind == "conda"), env


def test_every_locked_package_has_a_sha256_and_a_remote_url():
    for pkg in LOCK.records.values():
        assert pkg.sha256 and re.fullmatch(r"[0-9a-f]{64}", pkg.sha256), pkg.url
        assert pkg.url.startswith("https://"), pkg.url
    assert "file://" not in (REPO_ROOT / "pixi.lock").read_text(encoding="utf-8")


EXPECTED_TASKS = {"postinstall", "train", "verify", "test", "lint", "lock", "bench"}


def test_tasks_exist_with_descriptions_and_order():
    tasks = all_tasks(MANIFEST)
    assert EXPECTED_TASKS <= set(tasks)
    for name, task in tasks.items():
        assert isinstance(task, dict) and task.get("description"), f"task {name} has no description"
    for name in ("train", "verify"):
        assert "postinstall" in tasks[name].get("depends-on", []), name


def test_every_task_module_exists():
    modules = [(name, module) for name, task in all_tasks(MANIFEST).items()
               for module in re.findall(r"python -m ([\w.]+)", task.get("cmd", ""))
               if module.startswith(("tasks.", "benchmarks."))]
    assert modules
    for name, module in modules:
        assert (REPO_ROOT / (module.replace(".", "/") + ".py")).exists(), f"task {name}: {module}"


def test_every_task_appears_in_the_readme():
    for name in all_tasks(MANIFEST):
        assert f"pixi run {name}" in README or f"pixi run -e cuda12 {name}" in README, name
