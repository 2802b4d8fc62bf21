"""What pixi.toml promises per environment: its platforms (with their CUDA) and its solve group.

pixi 0.77 declares CUDA on the platform itself:
``platforms = [..., { name = "linux-64-cuda", platform = "linux-64", cuda = "12.8" }]``; a feature
lists platform *names*, and an environment gets the workspace platforms every one of its features
allows. The lock writes such a platform under an alias (``p1``) with ``__cuda=12.8``, so the audit
matches lock and manifest platforms by subdir and CUDA, as pixi matches them by identity.

The deprecated ``system-requirements`` table (pixi < 0.71) is refused with the modern spelling.

API: read_manifest_plan(path) -> {env: EnvPlan}; ManifestPlatform; ManifestError.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


class ManifestError(ValueError):
    """pixi.toml cannot be read as the audit needs it; the message names the file and the fix."""


@dataclass(frozen=True)
class ManifestPlatform:
    name: str  # as features and the user write it: "linux-64", "linux-64-cuda"
    subdir: str  # "linux-64"
    cuda: str | None  # declared CUDA version ("12.8"), None for a plain subdir


@dataclass
class EnvPlan:
    platforms: list[ManifestPlatform]
    solve_group: str | None = None


def _cuda_of(entry: dict, where: str) -> str | None:
    cuda = entry.get("cuda")
    if isinstance(cuda, dict):
        cuda = cuda.get("driver")
    if cuda is None:
        return None
    if not isinstance(cuda, str):
        raise ManifestError(f'{where}: cuda = {cuda!r} must be a version string such as "12.8"')
    return cuda


def _platform(entry, path: Path, n: int) -> ManifestPlatform:
    where = f"{path}: workspace.platforms[{n}]"
    if isinstance(entry, str):
        return ManifestPlatform(entry, entry, None)
    if not isinstance(entry, dict) or not isinstance(entry.get("platform"), str):
        raise ManifestError(f'{where}: expected a subdir string or {{ name, platform = "linux-64", ... }}')
    cuda = _cuda_of(entry, where)
    # pixi derives a missing name from the subdir and what the entry adds ("linux-64-cuda-12-8").
    name = entry.get("name") or (entry["platform"] + (f"-cuda-{cuda.replace('.', '-')}" if cuda else ""))
    return ManifestPlatform(str(name), entry["platform"], cuda)


def _refuse_system_requirements(data: dict, path: Path) -> None:
    tables = [("system-requirements", data.get("system-requirements"))]
    tables += [
        (f"feature.{n}.system-requirements", f.get("system-requirements"))
        for n, f in (data.get("feature") or {}).items()
        if isinstance(f, dict)
    ]
    for where, table in tables:
        if table:
            raise ManifestError(
                f"{path}: [{where}] is deprecated since pixi 0.71; declare CUDA on a platform instead, "
                '`platforms = [..., { name = "linux-64-cuda", platform = "linux-64", cuda = "12.8" }]`, '
                "and list that name in the feature's platforms"
            )


def read_manifest_plan(path: Path) -> dict[str, EnvPlan]:
    """Environment -> its platforms (workspace platforms every feature allows) and solve group."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file; pass --manifest PATH to the pixi.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    ws = data.get("workspace") or data.get("project")
    if not isinstance(ws, dict) or not isinstance(ws.get("platforms"), list):
        raise ManifestError(f"{path}: needs [workspace] with `platforms = [...]`")
    _refuse_system_requirements(data, path)
    workspace = [_platform(entry, path, n) for n, entry in enumerate(ws["platforms"])]
    features = data.get("feature") or {}

    def feature(name: str, env: str) -> dict:
        if name not in features:
            raise ManifestError(
                f"{path}: environment {env!r} uses feature {name!r}, which no [feature.{name}] "
                "table defines; add the table or remove the name"
            )
        return features[name]

    plan = {}
    for env, spec in (data.get("environments") or {}).items():
        names = spec if isinstance(spec, list) else (spec or {}).get("features", [])
        platforms = list(workspace)
        for f in (feature(n, env) for n in names):
            if f.get("platforms") is not None:
                platforms = [p for p in platforms if p.name in f["platforms"]]
        group = None if isinstance(spec, list) else (spec or {}).get("solve-group")
        plan[env] = EnvPlan(platforms=platforms, solve_group=group)
    plan.setdefault("default", EnvPlan(platforms=list(workspace)))
    return plan


def _selector_applies(selector: str, platform: ManifestPlatform) -> bool:
    """pixi's target selectors: a subdir, a platform name, or a family (linux, unix, win, osx)."""
    family = platform.subdir.split("-")[0]
    if selector in (platform.subdir, platform.name, family):
        return True
    return selector == "unix" and family in ("linux", "osx")


def _extras_of(spec) -> set[str]:
    extras = spec.get("extras") if isinstance(spec, dict) else None
    return {str(e).lower() for e in extras or []}


def requested_pypi_extras(path: Path, env: str, subdir: str, cuda: str | None = None) -> dict[str, set[str]]:
    """PyPI names `env` asks for directly on one platform, each with the extras it requests.

    pixi.lock keeps no record of requested extras, so this reads them from the manifest (the one
    place they are declared): top-level and feature `pypi-dependencies`, and the `target` tables whose
    selector fits the platform (`piper-tts = { extras = ["train"] }` -> {"piper-tts": {"train"}}).
    """
    from utils.lock.lockfile import normalize_name

    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    plan = read_manifest_plan(path)
    if env not in plan:
        raise ManifestError(f"{path}: no environment {env!r}; environments: {', '.join(sorted(plan))}")
    platform = next((p for p in plan[env].platforms if p.subdir == subdir and p.cuda == cuda), None)
    platform = platform or ManifestPlatform(subdir, subdir, cuda)
    spec = (data.get("environments") or {}).get(env, {})
    names = spec if isinstance(spec, list) else (spec or {}).get("features", [])
    tables = [] if (isinstance(spec, dict) and spec.get("no-default-feature")) else [data]
    tables += [(data.get("feature") or {}).get(n) or {} for n in names]
    out: dict[str, set[str]] = {}
    for table in tables:
        sources = [table.get("pypi-dependencies") or {}]
        sources += [
            t.get("pypi-dependencies") or {}
            for sel, t in (table.get("target") or {}).items()
            if _selector_applies(sel, platform)
        ]
        for deps in sources:
            for name, dep in deps.items():
                out.setdefault(normalize_name(name), set()).update(_extras_of(dep))
    return out
