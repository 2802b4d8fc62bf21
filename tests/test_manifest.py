"""pixi.toml says what the README and the issues promise, and pixi.lock covers all of it."""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT
from manifest import all_tasks, environment_features, environment_platforms, load_manifest

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
    assert set(plats) == {"default", "cpu", "cuda12", "osx-arm64"}
    assert plats["cuda12"] == ["linux-64", "win-64"]
    assert plats["cpu"] == ["linux-64", "win-64"]
    assert plats["osx-arm64"] == ["osx-arm64"]
    # default runs `pixi run train` without -e on every platform the workspace lists
    assert plats["default"] == MANIFEST["workspace"]["platforms"]


def test_cuda12_requires_cuda_12_8_or_newer_for_rtx_50_series():
    cuda = MANIFEST["feature"]["cuda12"]
    major, minor = map(int, cuda["system-requirements"]["cuda"].split(".")[:2])
    assert (major, minor) >= (12, 8)
    assert cuda["dependencies"]["cuda-version"].startswith(">=12.8")
    assert cuda["dependencies"]["pytorch"]["build"].startswith("cuda")


def test_every_environment_gets_python_pip_and_the_training_engine():
    assert MANIFEST["dependencies"]["python"].startswith("3.13")
    assert "pip" in MANIFEST["dependencies"]
    engine = MANIFEST["pypi-dependencies"]["piper-tts"]
    assert engine == {"version": "==1.8.0", "extras": ["train"]}
    for env, feats in environment_features(MANIFEST).items():
        assert "default" in feats, f"{env} drops the default feature (python, pip, piper-tts)"


def test_torch_is_declared_only_as_conda_pytorch():
    def pypi_tables(table):
        yield table.get("pypi-dependencies", {})
        for target in table.get("target", {}).values():
            yield target.get("pypi-dependencies", {})

    tables = list(pypi_tables(MANIFEST))
    for feature in MANIFEST["feature"].values():
        tables += list(pypi_tables(feature))
    assert all("torch" not in t for t in tables)


@pytest.mark.parametrize("env", sorted(environment_platforms(MANIFEST)))
def test_every_environment_and_platform_is_locked_with_pytorch(env):
    locked = set(LOCK.platforms(env))
    assert locked == set(environment_platforms(MANIFEST)[env])
    for plat in locked:
        names = {p.name for p in LOCK.packages(env, plat)}
        assert {"python", "pip", "pytorch", "piper-tts"} <= names, (env, plat)


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
    for name, task in all_tasks(MANIFEST).items():
        for module in re.findall(r"python -m ([\w.]+)", task.get("cmd", "")):
            if module.startswith(("tasks.", "benchmarks.")):
                assert (REPO_ROOT / (module.replace(".", "/") + ".py")).exists(), f"task {name}: {module}"


def test_every_task_appears_in_the_readme():
    for name in all_tasks(MANIFEST):
        assert f"pixi run {name}" in README or f"pixi run -e cuda12 {name}" in README, name
