"""The audit's per environment x platform checks: where torch comes from, CUDA or none, virtual packages.

A platform pairs what pixi.toml declares (ManifestPlatform: subdir, cuda) with the lock's platform
name ("p1"), so each rule can compare the promise with what was locked. Rules:

- torch             conda-forge pytorch, and no PyPI torch beside it; on linux-aarch64 (no conda-forge
                    pytorch in the snapshot we solve from) a PyPI CPU wheel built for aarch64 instead;
                    on osx-arm64 conda-forge's osx-arm64 build, which includes MPS
- cuda              a platform declaring CUDA holds a CUDA >= 12.8 pytorch build and cuda-version >= 12.8
- cpu-only          every other platform holds no CUDA library (conda cuda-*, libcu*, ...; PyPI nvidia-*)
- virtual-packages  the locked platform was solved with __cuda >= 12.8 exactly where pixi.toml declares
                    CUDA, and without __cuda everywhere else
"""

from __future__ import annotations

import re

from utils.checks import FAIL, PASS, Check
from utils.lock.lockfile import Lock, Package
from utils.lock.manifest_plan import ManifestPlatform

# CUDA 12.8 is the first toolkit with sm_120 kernels (Blackwell, RTX 50-series).
MIN_CUDA = (12, 8)
# Subdirs whose torch may be a PyPI wheel: conda-forge pytorch for them is not in the snapshot the
# offline locker solves from, and PyPI publishes CPU wheels (pixi.toml's torch-portable feature).
PYPI_TORCH_SUBDIRS = {"linux-aarch64": "aarch64"}
_CUDA_CONDA = re.compile(
    r"^(cuda-.*|libcu.*|libnvjitlink.*|libnpp.*|libnvjpeg.*|nccl|cudnn|libcudnn.*|"
    r"libcudss.*|libmagma.*|cutensor|libcutensor.*|cudatoolkit|nvidia-.*)$"
)
_CUDA_PYPI = re.compile(r"^(nvidia-.*|cupy-cuda.*|triton)$")



def rule(name: str, scope: str, status: str, detail: str) -> Check:
    """The outcome of one audit rule on one scope (an environment x platform, a solve group, ...)."""
    return Check(name=name, status=status, detail=detail, scope=scope)


def version_tuple(text: str) -> tuple[int, ...]:
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


def _torch_check(scope: str, subdir: str, pkgs: list[Package]) -> Check:
    conda_torch = [p for p in pkgs if p.kind == "conda" and p.name == "pytorch"]
    pypi_torch = [p for p in pkgs if p.kind == "pypi" and p.name.lower() == "torch"]
    arch = PYPI_TORCH_SUBDIRS.get(subdir)
    if arch and pypi_torch and not conda_torch:
        wheel = pypi_torch[0]
        if arch in wheel.filename and "+cu" not in wheel.version:
            return rule("torch", scope, PASS, f"PyPI torch {wheel.version} CPU wheel for {arch} ({wheel.filename}); "
                         f"conda-forge has no {subdir} pytorch to solve from")
        return rule("torch", scope, FAIL, f"PyPI torch {wheel.filename} is not a CPU wheel for {arch}; pin "
                     f"`torch = \"==X.Y.Z\"` (PyPI's CPU build) for {subdir} in pixi.toml and re-lock")
    if pypi_torch or not conda_torch:
        problem = (f"PyPI torch {pypi_torch[0].version} installed beside conda packages" if pypi_torch
                   else "no conda-forge pytorch")
        allowed = f" (a PyPI wheel is allowed only on {', '.join(PYPI_TORCH_SUBDIRS)})"
        return rule("torch", scope, FAIL, f"{problem}; torch must come from conda-forge{allowed}: pixi.toml "
                     "features torch-portable / cuda12")
    torch = conda_torch[0]
    if subdir != "osx-arm64":
        return rule("torch", scope, PASS, f"conda-forge pytorch {torch.version} {torch.build}")
    mps = (torch.subdir == "osx-arm64" and torch.url.startswith("https://conda.anaconda.org/conda-forge/")
           and not (torch.build or "").startswith("cuda"))
    if mps:
        return rule("torch", scope, PASS,
                     f"pytorch {torch.version} {torch.build}: conda-forge osx-arm64 build (includes MPS)")
    return rule("torch", scope, FAIL, f"pytorch {torch.build} from {torch.url} is not conda-forge's osx-arm64 "
                 'build, so MPS is not guaranteed; pin `build = "cpu_generic*"` for osx-arm64')


def _cuda_check(scope: str, pkgs: list[Package]) -> Check:
    want = ".".join(map(str, MIN_CUDA))
    conda_torch = [p for p in pkgs if p.kind == "conda" and p.name == "pytorch"]
    problems = []
    cv = next((p for p in pkgs if p.kind == "conda" and p.name == "cuda-version"), None)
    if cv is None:
        problems.append("no cuda-version package")
    elif version_tuple(cv.version) < MIN_CUDA:
        problems.append(f"cuda-version {cv.version} < {want}")
    if not conda_torch:
        problems.append("no conda-forge pytorch")
    for t in conda_torch:
        tv = torch_cuda_version(t)
        if tv is None:
            problems.append(f"pytorch {t.build} is a CPU build")
        elif tv < MIN_CUDA:
            problems.append(f"pytorch {t.build} is built for CUDA {tv[0]}.{tv[1]} (no sm_120 kernels)")
    if problems:
        return rule("cuda", scope, FAIL, "; ".join(problems) + f': require `pytorch = {{ build = "cuda*" }}` '
                     f'and `cuda-version = ">={want}"` in pixi.toml, then re-lock')
    tv = torch_cuda_version(conda_torch[0])
    return rule("cuda", scope, PASS,
                 f"pytorch {conda_torch[0].build} (CUDA {tv[0]}.{tv[1]}), cuda-version {cv.version} >= {want}")


def _cpu_only_check(scope: str, pkgs: list[Package]) -> Check:
    cuda = sorted({f"{p.name} {p.version}{' ' + p.build if p.build else ''}" for p in pkgs if is_cuda_library(p)})
    if cuda:
        return rule("cpu-only", scope, FAIL, f"{len(cuda)} CUDA package(s) on a CPU platform: "
                     f"{', '.join(cuda[:6])}{' ...' if len(cuda) > 6 else ''}; pin a CPU torch build "
                     '(`build = "cpu_*"`, or PyPI\'s CPU wheel where torch comes from PyPI) and re-lock')
    return rule("cpu-only", scope, PASS, f"no CUDA libraries among {len(pkgs)} packages")


def _virtual_packages_check(scope: str, lock: Lock, name: str, declared: ManifestPlatform) -> Check:
    entry = lock.platform(name)
    want = ".".join(map(str, MIN_CUDA))
    where = f"locked platform {entry.label}"
    if declared.cuda is None:
        if entry.cuda is not None:
            return rule("virtual-packages", scope, FAIL, f"{where} was solved with __cuda={entry.cuda}, but "
                         f"pixi.toml's {declared.name} declares no CUDA; re-lock")
        return rule("virtual-packages", scope, PASS, f"{where}: no __cuda (CPU)")
    if version_tuple(declared.cuda) < MIN_CUDA:
        return rule("virtual-packages", scope, FAIL, f"pixi.toml's {declared.name} declares cuda = "
                     f"{declared.cuda!r}; CUDA builds before {want} lack sm_120 kernels: declare \"{want}\"")
    if entry.cuda is None:
        return rule("virtual-packages", scope, FAIL, f"{where} declares no __cuda, but pixi.toml's "
                     f"{declared.name} declares cuda = {declared.cuda!r}; re-lock")
    if version_tuple(entry.cuda) < MIN_CUDA:
        return rule("virtual-packages", scope, FAIL, f"{where} was solved with __cuda={entry.cuda} < {want}; "
                     "re-lock")
    return rule("virtual-packages", scope, PASS, f"{where}: __cuda={entry.cuda} >= {want}")


def check_platform(lock: Lock, env: str, name: str, declared: ManifestPlatform) -> list[Check]:
    """Every rule for `env` on the lock platform `name`, which pixi.toml declares as `declared`."""
    scope = f"{env}/{declared.name}"
    pkgs = lock.packages(env, name)
    out = [_torch_check(scope, declared.subdir, pkgs)]
    out.append(_cuda_check(scope, pkgs) if declared.cuda else _cpu_only_check(scope, pkgs))
    out.append(_virtual_packages_check(scope, lock, name, declared))
    return out
