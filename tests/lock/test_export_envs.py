"""environments/ is pixi.lock in conda-lock and pip form, and `export-envs --check` notices drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from packaging.requirements import Requirement

from tasks import export_envs
from utils.files import TEMP_GLOB
from utils.lock.exports import (
    conda_lock_filename,
    render_exports,
    requirements_filename,
)
from utils.lock.lockfile import DEFAULT_LOCK, load_lock, normalize_name

conda_lock = pytest.importorskip("conda_lock")  # the default (dev) environment carries it
from conda_lock.lockfile import parse_conda_lock_file  # noqa: E402


@pytest.fixture(scope="module")
def lock():
    return load_lock(DEFAULT_LOCK)


def _render_explicit(lockfile: Path, template: str, cwd: Path, *extra: str) -> None:
    """`conda-lock render --kind explicit` as a user runs it; files land in cwd named by template."""
    command = [
        sys.executable,
        "-m",
        "conda_lock",
        "render",
        "--kind",
        "explicit",
        *extra,
        "--filename-template",
        template,
        str(lockfile),
    ]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def exported(lock, module_tmp_path_factory) -> Path:
    out = module_tmp_path_factory.mktemp("environments")
    assert export_envs.main(["--output", str(out)]) == 0
    return out


def _env_platforms(lock):
    """(environment, real subdir) for every locked pair: exports are keyed by subdir, never by "p1"."""
    return [(env, plat) for env in lock.environment_names() for plat in lock.subdirs(env)]


def test_committed_environments_match_the_lock():
    assert export_envs.main(["--check"]) == 0, "environments/ is stale: run `pixi run export-envs`"


_RENDER_DIGEST = """
import hashlib, json
from utils.lock.exports import render_exports
from utils.lock.lockfile import DEFAULT_LOCK, load_lock
files = render_exports(load_lock(DEFAULT_LOCK))
print(json.dumps({name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}))
"""


def test_export_is_byte_for_byte_deterministic_across_processes(lock):
    # Set iteration order changes with the string hash seed, which is per process: two renders in
    # one process would agree even if the output followed a set's order.
    digests = []
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run([sys.executable, "-c", _RENDER_DIGEST], env=env, cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True)
        digests.append(json.loads(done.stdout))
    assert digests[0] and digests[0] == digests[1]
    assert set(digests[0]) == set(render_exports(lock))


def test_conda_lock_parses_every_export_with_the_locked_packages(lock, exported):
    assert lock.environment_names()
    for env in lock.environment_names():
        parsed = parse_conda_lock_file(exported / conda_lock_filename(env))
        assert sorted(parsed.metadata.platforms) == sorted(lock.subdirs(env))
        for plat in lock.subdirs(env):
            ours = {(p.kind.replace("pypi", "pip"), p.url, p.sha256) for p in lock.packages(env, plat)}
            theirs = {(d.manager, d.url, d.hash.sha256) for d in parsed.package if d.platform == plat}
            assert theirs == ours, f"{env}/{plat}"
            conda_md5 = {p.url: p.md5 for p in lock.packages(env, plat) if p.kind == "conda"}
            assert {
                d.url: d.hash.md5 for d in parsed.package if d.platform == plat and d.manager == "conda"
            } == conda_md5


@pytest.mark.slow
def test_conda_lock_render_explicit_gives_a_full_file_for_every_platform(lock, exported, tmp_path):
    assert lock.environment_names()
    for env in lock.environment_names():
        _render_explicit(exported / conda_lock_filename(env), f"{env}-{{platform}}", tmp_path)
        for plat in lock.subdirs(env):
            lines = (tmp_path / f"{env}-{plat}").read_text().splitlines()
            assert "@EXPLICIT" in lines
            packages = lock.packages(env, plat)
            conda_lines = [ln for ln in lines if ln.startswith("https://")]
            pip_lines = [ln for ln in lines if ln.startswith("# pip ")]
            assert sorted(conda_lines) == sorted(f"{p.url}#{p.md5}" for p in packages if p.kind == "conda")
            assert len(pip_lines) == sum(p.kind == "pypi" for p in packages) > 0


def test_explicit_render_installs_pip_dependencies_before_their_dependents(lock, exported, tmp_path):
    # conda-lock orders pip lines from the exported dependency edges; piper-tts needs lightning first.
    _render_explicit(exported / conda_lock_filename("cpu"), "cpu-{platform}", tmp_path, "--platform", "linux-64")
    order = [ln.split()[2] for ln in (tmp_path / "cpu-linux-64").read_text().splitlines() if ln.startswith("# pip ")]
    assert order.index("lightning") < order.index("piper-tts")
    assert order.index("torchmetrics") < order.index("pytorch-lightning")


def test_pip_files_parse_and_pin_exactly_the_locked_wheels(lock, exported):
    assert _env_platforms(lock)
    for env, plat in _env_platforms(lock):
        text = (exported / requirements_filename(env, plat)).read_text()
        assert text.startswith("# Generated from pixi.lock by `pixi run export-envs`")
        pins = set()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            spec, _, digest = line.partition(" --hash=sha256:")
            req = Requirement(spec)
            (specifier,) = req.specifier
            assert specifier.operator == "==" and len(digest) == 64
            pins.add((normalize_name(req.name), specifier.version, digest))
        want = {(normalize_name(p.name), p.version, p.sha256) for p in lock.packages(env, plat) if p.kind == "pypi"}
        assert pins == want, f"{env}/{plat}"


def test_pip_files_pin_torch_only_on_linux_aarch64_where_conda_has_none(lock, exported):
    for env, plat in _env_platforms(lock):
        names = {
            ln.split("==")[0]
            for ln in (exported / requirements_filename(env, plat)).read_text().splitlines()
            if ln and not ln.startswith("#")
        }
        assert ("torch" in names) == (plat == "linux-aarch64") and "piper-tts" in names, (env, plat)
    assert (exported / requirements_filename("cpu", "linux-aarch64")).exists()
    assert (exported / requirements_filename("default", "linux-aarch64")).exists()


def test_cuda12_exports_use_the_real_subdirs_and_name_the_virtual_package(lock, exported, tmp_path):
    # The lock calls cuda12's platforms p1/p2; conda users ask for linux-64 (docs/environments.md's command).
    assert sorted(lock.subdirs("cuda12")) == ["linux-64", "win-64"] != sorted(lock.platforms("cuda12"))
    export = exported / conda_lock_filename("cuda12")
    _render_explicit(export, "cuda12-{platform}", tmp_path, "--platform", "linux-64")
    lines = (tmp_path / "cuda12-linux-64").read_text().splitlines()
    conda = sorted(f"{p.url}#{p.md5}" for p in lock.packages("cuda12", "linux-64") if p.kind == "conda")
    assert sorted(ln for ln in lines if ln.startswith("https://")) == conda
    assert any("/linux-64/pytorch-2.8.0-cuda12" in ln for ln in lines)
    for text in (export.read_text(), (exported / requirements_filename("cuda12", "win-64")).read_text()):
        assert "__cuda >= 12.8" in text and "CONDA_OVERRIDE_CUDA=12.8" in text
    assert "__cuda" not in (exported / conda_lock_filename("cpu")).read_text()


def test_linux_aarch64_renders_conda_python_and_the_pypi_torch_wheel(lock, exported, tmp_path):
    _render_explicit(exported / conda_lock_filename("cpu"), "cpu-{platform}", tmp_path, "--platform", "linux-aarch64")
    lines = (tmp_path / "cpu-linux-aarch64").read_text().splitlines()
    conda = [ln for ln in lines if ln.startswith("https://")]
    assert conda and all("/linux-aarch64/" in ln or "/noarch/" in ln for ln in conda)
    assert any("/linux-aarch64/python-3.13" in ln for ln in conda)
    torch = [ln for ln in lines if ln.startswith("# pip torch @ ")]
    assert len(torch) == 1 and "manylinux_2_28_aarch64.whl" in torch[0]
    assert not [ln for ln in lines if ln.startswith("# pip nvidia-")]


def test_check_names_each_stale_file_and_exits_1(exported, tmp_path, capsys):
    out = tmp_path / "environments"
    shutil.copytree(exported, out)
    edited = out / requirements_filename("cpu", "linux-64")
    edited.write_text(edited.read_text().replace("piper-tts==1.8.0", "piper-tts==1.7.0"))
    (out / conda_lock_filename("cuda12")).unlink()
    (out / "gone.linux-64.requirements.txt").write_text("x==1\n")
    assert export_envs.main(["--check", "--output", str(out)]) == 1
    printed = capsys.readouterr().out
    for name in (edited.name, conda_lock_filename("cuda12"), "gone.linux-64.requirements.txt"):
        assert name in printed


def test_export_repairs_stale_files_and_removes_orphans(exported, tmp_path):
    out = tmp_path / "environments"
    shutil.copytree(exported, out)
    (out / requirements_filename("cpu", "win-64")).write_text("edited\n")
    (out / "gone.linux-64.requirements.txt").write_text("x==1\n")
    (out / "notes.md").write_text("not ours\n")
    assert export_envs.main(["--output", str(out)]) == 0
    assert export_envs.main(["--check", "--output", str(out)]) == 0
    assert not (out / "gone.linux-64.requirements.txt").exists()
    assert (out / "notes.md").read_text() == "not ours\n"
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in exported.iterdir()), "notes.md"])
    assert not list(out.glob(TEMP_GLOB))


def test_old_format_lock_exits_2_naming_it_and_the_relock_command_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "pixi.lock"
    text = DEFAULT_LOCK.read_text()
    assert text.startswith("version: 7\n")
    bad.write_text(text.replace("version: 7", "version: 6", 1))
    out = tmp_path / "environments"
    assert export_envs.main(["--lock", str(bad), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "pixi lock" in err
    assert not out.exists()


def _exported_packages(exported, env):
    """{subdir: {name: LockedDependency}} of one conda-lock export, as conda-lock parses it."""
    by_platform: dict[str, dict] = {}
    for dep in parse_conda_lock_file(exported / conda_lock_filename(env)).package:
        by_platform.setdefault(dep.platform, {})[dep.name] = dep
    return by_platform


def test_every_exported_dependency_names_a_package_of_the_same_export(lock, exported):
    assert lock.environment_names()
    for env in lock.environment_names():
        for plat, packages in _exported_packages(exported, env).items():
            outside = [
                f"{dep.name} -> {name}"
                for dep in packages.values()
                for name in dep.dependencies
                if name not in packages and not name.startswith("__")  # __glibc, __cuda: the machine's
            ]
            assert outside == [], f"{env}/{plat}: {outside[:5]}"
            selfish = [dep.name for dep in packages.values() if dep.name in dep.dependencies]
            assert selfish == [], f"{env}/{plat}: depends on itself: {selfish}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle in `graph` (name -> names), or None; iterative depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [], [(root, iter(sorted(graph[root])))]
        state[root] = 1
        path.append(root)
        while stack:
            name, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                state[name] = 2
                path.pop()
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path, nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(graph[nxt]))))
    return None


def test_pip_edges_form_no_cycle(lock, exported):
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the checker works
    for env in lock.environment_names():
        for plat, packages in _exported_packages(exported, env).items():
            pip = {
                n: {x for x in d.dependencies if packages[x].manager == "pip"}
                for n, d in packages.items()
                if d.manager == "pip"
            }
            assert _find_cycle(pip) is None, f"{env}/{plat}: cycle {_find_cycle(pip)}"


def test_extra_requirements_count_only_where_an_extra_is_requested(lock, exported):
    packages = _exported_packages(exported, "default")["linux-64"]
    # piper-tts is requested with extras ["train"] in pixi.toml: its training requirements are edges.
    assert "lightning" in packages["piper-tts"].dependencies
    # conda's pytorch provides `torch`: the edge points at the record that is in the export.
    assert "pytorch" in packages["lightning"].dependencies
    # audioread's `test` extra (pytest) and cycler's `tests` extra (matplotlib) are requested by nobody.
    assert "pytest" not in packages["audioread"].dependencies
    assert "matplotlib" not in packages["cycler"].dependencies


def test_requested_extras_follow_requirements_in_force():
    from utils.lock.exports import requested_extras
    from utils.lock.lockfile import Package

    def pypi(name, *requires):
        return Package("pypi", f"https://example.invalid/{name}.whl", name, "1.0", requires_dist=list(requires))

    pkgs = {
        "app": pypi("app", "lib[fast]>=1", "tool ; extra == 'dev'"),
        "lib": pypi("lib", "speedups ; extra == 'fast'", "lib[extra2] ; extra == 'fast'"),
        "tool": pypi("tool"),
        "speedups": pypi("speedups"),
    }
    env = {"sys_platform": "linux", "python_version": "3.13", "python_full_version": "3.13.9"}
    assert requested_extras(pkgs, {"app": set()}, env) == {"app": set(), "lib": {"fast", "extra2"}, "speedups": set()}
    assert requested_extras(pkgs, {"app": {"dev"}}, env)["tool"] == set()
