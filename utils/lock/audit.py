"""Audit of pixi.lock against pixi.toml and the promises each environment makes.

Checks (each names the environment/platform and the package at fault):
- hashes     every package record carries a sha256
- coverage   every environment x platform that pixi.toml implies is locked, and nothing else is
- urls       every package comes from https (no file:// or local paths, which only work on one machine)
- cuda       CUDA environments (a feature with system-requirements.cuda) hold a conda-forge CUDA
             build of pytorch for CUDA >= 12.8 (sm_120 / RTX 50-series) and cuda-version >= 12.8
- cpu-only   every other environment holds no CUDA library (cuda-*, libcu*, nccl, cudnn, CUDA
             pytorch builds, nvidia-* PyPI wheels)
- torch      torch comes from conda-forge only (no PyPI torch beside conda's pytorch); on osx-arm64
             it is conda-forge's osx-arm64 build, which includes MPS
- exports    environments/ equals what `pixi run export-envs` would write now

API: run_audit(lock_path, manifest_path, environments_dir) -> list[Check]; read_manifest_plan(path).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from utils.lock.lockfile import Lock, LockError, Package, load_lock

# CUDA 12.8 is the first toolkit with sm_120 kernels (Blackwell, RTX 50-series).
MIN_CUDA = (12, 8)
_CUDA_CONDA = re.compile(
    r"^(cuda-.*|libcu.*|libnvjitlink.*|libnpp.*|libnvjpeg.*|nccl|cudnn|libcudnn.*|"
    r"libcudss.*|libmagma.*|cutensor|libcutensor.*|cudatoolkit|nvidia-.*)$"
)
_CUDA_PYPI = re.compile(r"^(nvidia-.*|cupy-cuda.*|triton)$")

PASS, FAIL, SKIP = "pass", "fail", "skip"


class ManifestError(ValueError):
    """pixi.toml cannot be read as the audit needs it; the message names the file and the fix."""


@dataclass
class Check:
    name: str  # "hashes", "coverage", "urls", "cuda", "cpu-only", "torch", "exports"
    scope: str  # "cpu/linux-64", "pixi.lock", "environments/"
    status: str  # pass / fail / skip
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- manifest
@dataclass
class EnvPlan:
    platforms: list[str]
    cuda: str | None  # system-requirements.cuda of one of its features


def read_manifest_plan(path: Path) -> dict[str, EnvPlan]:
    """Environment -> platforms (workspace platforms ∩ each feature's platforms) and CUDA requirement."""
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
    features = data.get("feature") or {}

    def feature(name: str, env: str) -> dict:
        if name not in features:
            raise ManifestError(
                f"{path}: environment {env!r} uses feature {name!r}, which no [feature.{name}] "
                "table defines; add the table or remove the name"
            )
        return features[name]

    plan = {}
    envs = data.get("environments") or {}
    for env, spec in envs.items():
        names = spec if isinstance(spec, list) else (spec or {}).get("features", [])
        feats = [feature(n, env) for n in names]
        platforms = list(ws["platforms"])
        for f in feats:
            if f.get("platforms") is not None:
                platforms = [p for p in platforms if p in f["platforms"]]
        cuda = next(
            (
                (f.get("system-requirements") or {}).get("cuda")
                for f in feats
                if (f.get("system-requirements") or {}).get("cuda")
            ),
            None,
        )
        plan[env] = EnvPlan(platforms=platforms, cuda=cuda)
    plan.setdefault("default", EnvPlan(platforms=list(ws["platforms"]), cuda=None))
    return plan


# --------------------------------------------------------------------------- package classification
def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def torch_cuda_version(pkg: Package) -> tuple[int, int] | None:
    """(12, 9) for a conda-forge build string like 'cuda129_mkl_py313_...'; None for CPU builds."""
    m = re.match(r"cuda(\d+)(\d)_", pkg.build or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def is_cuda_library(pkg: Package) -> bool:
    if pkg.kind == "conda":
        if pkg.name in ("pytorch", "libtorch", "pytorch-gpu"):
            return (pkg.build or "").startswith("cuda") or pkg.name == "pytorch-gpu"
        return bool(_CUDA_CONDA.match(pkg.name)) or "cuda" in (pkg.build or "")
    return bool(_CUDA_PYPI.match(pkg.name.lower())) or (pkg.name.lower() == "torch" and "+cu" in pkg.version)


# --------------------------------------------------------------------------- checks
def _check_hashes(lock: Lock) -> list[Check]:
    bad = sorted(p.url.rsplit("/", 1)[-1] for p in lock.records.values() if not p.sha256)
    if bad:
        return [
            Check(
                "hashes",
                "pixi.lock",
                FAIL,
                f"{len(bad)} package(s) without sha256: {', '.join(bad[:8])}"
                f"{' ...' if len(bad) > 8 else ''}; re-lock with `pixi run lock`",
            )
        ]
    return [Check("hashes", "pixi.lock", PASS, f"all {len(lock.records)} packages carry a sha256")]


def _check_coverage(lock: Lock, plan: dict[str, EnvPlan], manifest: Path) -> list[Check]:
    out = []
    for env, ep in sorted(plan.items()):
        locked = lock.platforms(env) if env in lock.environments else []
        for plat in ep.platforms:
            if plat in locked and lock.environments[env]["packages"].get(plat):
                out.append(Check("coverage", f"{env}/{plat}", PASS, "locked"))
            else:
                out.append(
                    Check(
                        "coverage",
                        f"{env}/{plat}",
                        FAIL,
                        f"{manifest.name} implies {env} on {plat} but pixi.lock has no packages for it; "
                        "run `pixi run lock`",
                    )
                )
        for plat in sorted(set(locked) - set(ep.platforms)):
            out.append(
                Check(
                    "coverage",
                    f"{env}/{plat}",
                    FAIL,
                    f"locked but {manifest.name} does not list {plat} for {env}; run `pixi run lock`",
                )
            )
    for env in sorted(set(lock.environments) - set(plan)):
        out.append(
            Check(
                "coverage",
                env,
                FAIL,
                f"pixi.lock has environment {env!r} that {manifest.name} does not "
                "define; run `pixi run lock`",
            )
        )
    return out


def _check_urls(lock: Lock) -> list[Check]:
    bad = sorted(p.url for p in lock.records.values() if not p.url.startswith("https://"))
    if bad:
        return [
            Check(
                "urls",
                "pixi.lock",
                FAIL,
                f"{len(bad)} package(s) not fetched over https, e.g. {bad[0]}: "
                "a local path works on one machine only; publish the package or drop it",
            )
        ]
    return [Check("urls", "pixi.lock", PASS, "every package comes from an https URL (no file://)")]


def _check_env(lock: Lock, env: str, plat: str, ep: EnvPlan) -> list[Check]:
    scope = f"{env}/{plat}"
    pkgs = lock.packages(env, plat)
    out = []
    conda_torch = [p for p in pkgs if p.kind == "conda" and p.name == "pytorch"]
    pypi_torch = [p for p in pkgs if p.kind == "pypi" and p.name.lower() == "torch"]

    if pypi_torch or not conda_torch:
        problem = (
            f"PyPI torch {pypi_torch[0].version} installed beside conda packages"
            if pypi_torch
            else "no conda-forge pytorch"
        )
        out.append(
            Check(
                "torch",
                scope,
                FAIL,
                f"{problem}; torch must come from conda-forge only (pixi.toml "
                "features torch-portable / cuda12)",
            )
        )
    elif plat == "osx-arm64":
        torch = conda_torch[0]
        mps = (
            torch.subdir == "osx-arm64"
            and torch.url.startswith("https://conda.anaconda.org/conda-forge/")
            and not (torch.build or "").startswith("cuda")
        )
        out.append(
            Check(
                "torch",
                scope,
                PASS if mps else FAIL,
                f"pytorch {torch.version} {torch.build}: conda-forge osx-arm64 build (includes MPS)"
                if mps
                else f"pytorch {torch.build} from {torch.url} is not conda-forge's osx-arm64 build, so MPS "
                'is not guaranteed; pin `build = "cpu_generic*"` for osx-arm64',
            )
        )
    else:
        torch = conda_torch[0]
        out.append(Check("torch", scope, PASS, f"conda-forge pytorch {torch.version} {torch.build}"))

    if ep.cuda:
        want = ".".join(map(str, MIN_CUDA))
        problems = []
        cv = next((p for p in pkgs if p.kind == "conda" and p.name == "cuda-version"), None)
        if cv is None:
            problems.append("no cuda-version package")
        elif _version_tuple(cv.version) < MIN_CUDA:
            problems.append(f"cuda-version {cv.version} < {want}")
        for t in conda_torch:
            tv = torch_cuda_version(t)
            if tv is None:
                problems.append(f"pytorch {t.build} is a CPU build")
            elif tv < MIN_CUDA:
                problems.append(f"pytorch {t.build} is built for CUDA {tv[0]}.{tv[1]} (no sm_120 kernels)")
        if problems:
            out.append(
                Check(
                    "cuda",
                    scope,
                    FAIL,
                    "; ".join(problems) + f': require `pytorch = {{ build = "cuda*" }}` '
                    f'and `cuda-version = ">={want}"` in pixi.toml, then re-lock',
                )
            )
        else:
            tv = torch_cuda_version(conda_torch[0])
            out.append(
                Check(
                    "cuda",
                    scope,
                    PASS,
                    f"pytorch {conda_torch[0].build} (CUDA {tv[0]}.{tv[1]}), "
                    f"cuda-version {cv.version} >= {want}",
                )
            )
    else:
        cuda = sorted(
            {f"{p.name} {p.version}{' ' + p.build if p.build else ''}" for p in pkgs if is_cuda_library(p)}
        )
        if cuda:
            out.append(
                Check(
                    "cpu-only",
                    scope,
                    FAIL,
                    f"{len(cuda)} CUDA package(s) in a CPU environment: "
                    f"{', '.join(cuda[:6])}{' ...' if len(cuda) > 6 else ''}; pin a CPU torch build "
                    '(`build = "cpu_*"`) and re-lock',
                )
            )
        else:
            out.append(Check("cpu-only", scope, PASS, f"no CUDA libraries among {len(pkgs)} packages"))
    return out


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
        return [Check("exports", f"{environments_dir.name}/", FAIL, str(exc))]
    stale = stale_exports(expected, environments_dir, only=formats)
    out = []
    if stale:
        out.append(
            Check(
                "exports",
                f"{environments_dir.name}/",
                FAIL,
                "; ".join(str(d) for d in stale) + "; run `pixi run export-envs`",
            )
        )
    else:
        out.append(
            Check(
                "exports",
                f"{environments_dir.name}/",
                PASS,
                f"{len(expected)} files ({', '.join(formats)}) match pixi.lock",
            )
        )
    if "conda-lock" not in formats:
        out.append(
            Check(
                "exports",
                f"{environments_dir.name}/*.conda-lock.yml",
                SKIP,
                "conda-lock is not installed in this environment; run `pixi run audit-lock` "
                "(default environment) to check these",
            )
        )
    return out


def run_audit(lock_path: Path, manifest_path: Path, environments_dir: Path) -> list[Check]:
    """Every check, in a stable order. Raises LockError / ManifestError when an input cannot be read."""
    lock_path, manifest_path, environments_dir = Path(lock_path), Path(manifest_path), Path(environments_dir)
    plan = read_manifest_plan(manifest_path)
    lock = load_lock(lock_path)
    checks = _check_hashes(lock) + _check_urls(lock) + _check_coverage(lock, plan, manifest_path)
    for env in lock.environment_names():
        ep = plan.get(env, EnvPlan(platforms=[], cuda=None))
        for plat in lock.platforms(env):
            try:
                checks += _check_env(lock, env, plat, ep)
            except LockError as exc:
                checks.append(Check("coverage", f"{env}/{plat}", FAIL, str(exc)))
    checks += _check_exports(lock, environments_dir)
    return checks


def format_table(checks: list[Check]) -> str:
    rows = [("STATUS", "CHECK", "SCOPE", "DETAIL")] + [
        (c.status.upper(), c.name, c.scope, c.detail) for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)
