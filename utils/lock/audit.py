"""Audit of pixi.lock against pixi.toml and the promises each environment makes.

Checks (each names the environment/platform and the package at fault):
- lock-version      the lock is format 7 (what pixi 0.77 reads and writes; `pixi lock --check` rewrites
                    any other); nothing else is read from an older lock
- hashes            every package record carries a sha256
- urls              every package comes from https (no file:// or local paths, which only work on one machine)
- purls             every conda record has a `purls` key and every pytorch build says pkg:pypi/torch; without
                    them pixi takes the conda name as the PyPI name and finds `torch` unmet
- coverage          every environment x platform that pixi.toml implies is locked, and nothing else is
                    (lock platforms matched to pixi.toml's by subdir and CUDA, as pixi matches aliases)
- solve-group       the environments of one solve group lock the same URL for a package on a platform
- torch, cuda, cpu-only, virtual-packages: per environment x platform, see utils.lock.audit_checks
- known-bad         no locked package is a release listed in utils.lock.known_bad (malicious uploads,
                    known exploits: lightning 2.6.2 and 2.6.3, ...)
- exports           environments/ equals what `pixi run export-envs` would write now

API: run_audit(lock_path, manifest_path, environments_dir) -> list[Check]; format_table(checks).
"""

from __future__ import annotations

from pathlib import Path

from utils.checks import FAIL, PASS, SKIP, Check, format_table
from utils.lock.audit_checks import check_platform, rule
from utils.lock.lockfile import LOCK_VERSION, RELOCK, Lock, LockError, LockVersionError, load_lock
from utils.lock.manifest_plan import EnvPlan, ManifestError, ManifestPlatform, read_manifest_plan

__all__ = ["Check", "ManifestError", "format_table", "read_manifest_plan", "run_audit"]


def _listed(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _check_hashes(lock: Lock) -> list[Check]:
    bad = sorted(p.url.rsplit("/", 1)[-1] for p in lock.records.values() if not p.sha256)
    if bad:
        return [
            rule(
                "hashes",
                "pixi.lock",
                FAIL,
                f"{len(bad)} package(s) without sha256: {', '.join(bad[:8])}"
                f"{' ...' if len(bad) > 8 else ''}; re-lock with `pixi run lock`",
            )
        ]
    return [rule("hashes", "pixi.lock", PASS, f"all {len(lock.records)} packages carry a sha256")]


def _check_urls(lock: Lock) -> list[Check]:
    bad = sorted(p.url for p in lock.records.values() if not p.url.startswith("https://"))
    if bad:
        return [
            rule(
                "urls",
                "pixi.lock",
                FAIL,
                f"{len(bad)} package(s) not fetched over https, e.g. {bad[0]}: "
                "a local path works on one machine only; publish the package or drop it",
            )
        ]
    return [rule("urls", "pixi.lock", PASS, "every package comes from an https URL (no file://)")]


def _check_purls(lock: Lock) -> list[Check]:
    conda = [p for p in lock.records.values() if p.kind == "conda"]
    missing = sorted(p.filename for p in conda if p.purls is None)
    torch = sorted(p.filename for p in conda if p.name == "pytorch"
                   and not any(u.startswith("pkg:pypi/torch") for u in p.purls or []))
    out = []
    if missing:
        out.append(rule("purls", "pixi.lock", FAIL, f"{len(missing)} conda record(s) without a `purls` key: "
                         f"{_listed(missing)}; pixi would take their conda names as PyPI names; {RELOCK}"))
    if torch:
        out.append(rule("purls", "pixi.lock", FAIL, f"pytorch build(s) without pkg:pypi/torch: {_listed(torch)}; "
                         f"the `torch` requirement of piper-tts / lightning looks unmet to pixi; {RELOCK}"))
    if not out:
        n_torch = sum(p.name == "pytorch" for p in conda)
        out.append(rule("purls", "pixi.lock", PASS, f"all {len(conda)} conda records carry purls; "
                         f"{n_torch} pytorch builds provide pkg:pypi/torch"))
    return out


def _match_platforms(lock: Lock, env: str, declared: list[ManifestPlatform]):
    """-> ([(manifest platform, lock platform name)], [manifest platforms not locked], [lock names not declared])."""
    locked = lock.platforms(env) if env in lock.environments else []
    pairs, missing, used = [], [], set()
    for mp in declared:
        same = [n for n in locked if n not in used and lock.platform(n).subdir == mp.subdir]
        if len(same) > 1:
            same = [n for n in same if lock.platform(n).cuda == mp.cuda] or same
        if same and lock.environments[env]["packages"].get(same[0]):
            pairs.append((mp, same[0]))
            used.add(same[0])
        else:
            missing.append(mp)
    return pairs, missing, [n for n in locked if n not in used]


def _check_coverage(lock: Lock, plan: dict[str, EnvPlan], manifest: Path):
    """-> (checks, [(env, manifest platform, lock platform name)] to check further)."""
    out, pairs = [], []
    for env, ep in sorted(plan.items()):
        matched, missing, extra = _match_platforms(lock, env, ep.platforms)
        for mp, name in matched:
            out.append(rule("coverage", f"{env}/{mp.name}", PASS, f"locked as {lock.platform(name).label}"))
            pairs.append((env, mp, name))
        for mp in missing:
            out.append(rule("coverage", f"{env}/{mp.name}", FAIL, f"{manifest.name} implies {env} on {mp.name} "
                             f"but pixi.lock has no packages for it; {RELOCK}"))
        for name in extra:
            out.append(rule("coverage", f"{env}/{name}", FAIL, f"locked for {lock.platform(name).label} but "
                             f"{manifest.name} does not list that platform for {env}; {RELOCK}"))
    for env in sorted(set(lock.environments) - set(plan)):
        out.append(rule("coverage", env, FAIL,
                         f"pixi.lock has environment {env!r} that {manifest.name} does not define; {RELOCK}"))
    return out, pairs


def _check_solve_groups(lock: Lock, plan: dict[str, EnvPlan]) -> list[Check]:
    groups: dict[str, list[str]] = {}
    for env, ep in plan.items():
        if env in lock.environments:
            groups.setdefault(ep.solve_group or env, []).append(env)
    out = []
    for group, envs in sorted(groups.items()):
        if len(envs) < 2:
            continue
        seen: dict[tuple, dict[str, list[str]]] = {}  # (platform identity, kind, name) -> url -> envs
        for env in sorted(envs):
            for name in lock.platforms(env):
                entry = lock.platform(name)
                for p in lock.packages(env, name):
                    key = (entry.subdir, entry.virtual_packages, p.kind, p.pypi_name if p.kind == "pypi" else p.name)
                    seen.setdefault(key, {}).setdefault(p.url, []).append(env)
        split = [f"{key[3]} on {key[0]}: " + " vs ".join(f"{'/'.join(e)} {u.rsplit('/', 1)[-1]}"
                                                     for u, e in urls.items())
                 for key, urls in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][3])) if len(urls) > 1]
        scope = f"solve-group {group}"
        if split:
            out.append(rule("solve-group", scope, FAIL, f"{len(split)} package(s) locked to different files in "
                             f"one solve group: {_listed(split, 3)}; one solve group is one solve: {RELOCK}"))
        else:
            out.append(rule("solve-group", scope, PASS, f"{', '.join(sorted(envs))}: one file per package on "
                             "each platform"))
    return out


def _check_known_bad(lock: Lock) -> list[Check]:
    from utils.lock.known_bad import KNOWN_BAD, known_bad

    found = []
    for pkg in sorted(lock.records.values(), key=lambda p: p.url):
        name = pkg.pypi_name or pkg.name
        for row in known_bad(name, pkg.version):
            found.append(f"{name} {pkg.version} ({row.reason}; {row.source})")
    if found:
        return [rule("known-bad", "pixi.lock", FAIL, f"{_listed(sorted(set(found)), 4)}; raise the floor in "
                     f"pixi.toml above these versions and re-lock: {RELOCK}")]
    names = sorted({row.name for row in KNOWN_BAD})
    return [rule("known-bad", "pixi.lock", PASS, f"none of {len(KNOWN_BAD)} known-bad releases "
                 f"({', '.join(names)}) is locked")]


def _check_exports(lock: Lock, environments_dir: Path) -> list[Check]:
    from utils.lock.exports import ExportError, render_exports, stale_exports

    formats: tuple[str, ...] = ("conda-lock", "pip")
    try:
        import conda_lock  # noqa: F401
    except ImportError:
        formats = ("pip",)  # minimal environments (cpu, cuda12) still check the pip pins
    try:
        expected = render_exports(lock, only=formats)
    except ExportError as exc:
        return [rule("exports", f"{environments_dir.name}/", FAIL, str(exc))]
    stale = stale_exports(expected, environments_dir, only=formats)
    out = []
    if stale:
        out.append(
            rule(
                "exports",
                f"{environments_dir.name}/",
                FAIL,
                "; ".join(str(d) for d in stale) + "; run `pixi run export-envs`",
            )
        )
    else:
        out.append(
            rule(
                "exports",
                f"{environments_dir.name}/",
                PASS,
                f"{len(expected)} files ({', '.join(formats)}) match pixi.lock",
            )
        )
    if "conda-lock" not in formats:
        out.append(
            rule(
                "exports",
                f"{environments_dir.name}/*.conda-lock.yml",
                SKIP,
                "conda-lock is not installed in this environment; run `pixi run audit-lock` "
                "(default environment) to check these",
            )
        )
    return out


def run_audit(lock_path: Path, manifest_path: Path, environments_dir: Path) -> list[Check]:
    """Every check, in a stable order. Raises LockError / ManifestError when an input cannot be read.

    A lock of another format version is one failed `lock-version` check: nothing else in it is read."""
    lock_path, manifest_path, environments_dir = Path(lock_path), Path(manifest_path), Path(environments_dir)
    plan = read_manifest_plan(manifest_path)
    try:
        lock = load_lock(lock_path)
    except LockVersionError as exc:
        return [rule("lock-version", lock_path.name, FAIL, str(exc))]
    checks = [rule("lock-version", lock_path.name, PASS, f"format {LOCK_VERSION} (pixi >= 0.68)")]
    checks += _check_hashes(lock) + _check_urls(lock) + _check_purls(lock)
    coverage, pairs = _check_coverage(lock, plan, manifest_path)
    checks += coverage + _check_solve_groups(lock, plan)
    for env, declared, name in pairs:
        try:
            checks += check_platform(lock, env, name, declared)
        except LockError as exc:
            checks.append(rule("coverage", f"{env}/{declared.name}", FAIL, str(exc)))
    checks += _check_known_bad(lock)
    checks += _check_exports(lock, environments_dir)
    return checks
