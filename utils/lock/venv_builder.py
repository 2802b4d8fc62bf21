"""Build a plain virtual environment from pixi.lock: the path without pixi.

The pins are never written down twice: they come from the lock's environment for this platform,
PyPI records as they are, conda records through the PyPI name they provide (their purls, e.g.
numpy, or conda-forge's naming for records without purls, e.g. pytorch -> torch).

The lock is solved for the Python in pixi.toml (3.13); a venv may run another. Where the venv's
Python cannot install a pin, the newest release at or below it that it can install is taken, and a
backport that no package needs on this Python (audioop-lts on < 3.13) is skipped. Every such change
is a *deviation*: printed, and recorded in `<venv>/coaxial-venv.json`, which `tasks.verify` reads.

Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import venv
from dataclasses import asdict, dataclass
from pathlib import Path

from utils.files import atomic_write_text
from utils.lock.lockfile import Lock, current_platform, normalize_name

RECORD_NAME = "coaxial-venv.json"

# Evaluated by the venv's own interpreter, so markers and Requires-Python are judged for the
# Python that will run the code. pip vendors `packaging`, so nothing has to be installed first.
_PLANNER = r"""
import json, sys
from pip._vendor.packaging.markers import Marker
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.utils import canonicalize_name

pins = json.load(sys.stdin)
py = "%d.%d.%d" % sys.version_info[:3]
needed_by = {}  # name -> requirers whose requirement applies on this interpreter
for pin in pins:
    for raw in pin["requires_dist"]:
        req = Requirement(raw)
        marker = req.marker
        if marker is not None:
            text = str(marker)
            extras = [""] + sorted({p.split("'")[1] for p in text.split("extra == ")[1:] if "'" in p})
            if not any(marker.evaluate({"extra": e}) for e in extras):
                continue
        needed_by.setdefault(canonicalize_name(req.name), []).append(pin["name"])
out = {}
for pin in pins:
    rp = pin["requires_python"]
    admits = rp is None or SpecifierSet(rp).contains(py, prereleases=True)
    out[pin["name"]] = {"admits": admits, "needed_by": needed_by.get(pin["name"], [])}
print(json.dumps({"python": py, "pins": out}))
"""


@dataclass
class Pin:
    name: str  # normalised PyPI name
    version: str
    source: str  # "pypi" or "conda:<record name>"
    requires_python: str | None
    requires_dist: list


@dataclass
class Deviation:
    name: str
    locked: str
    installed: str | None  # None: not installed
    reason: str


def lock_pins(lock: Lock, env: str, platform: str) -> dict[str, Pin]:
    """PyPI requirements that reproduce `env` on `platform`, keyed by normalised name."""
    pins: dict[str, Pin] = {}
    for pkg in lock.packages(env, platform):
        name = pkg.pypi_name
        if name is None:
            continue
        source = "pypi" if pkg.kind == "pypi" else f"conda:{pkg.name}"
        pins[name] = Pin(name, pkg.version, source, pkg.requires_python, pkg.requires_dist)
    return pins


def lock_python_version(lock: Lock, env: str, platform: str) -> str | None:
    for pkg in lock.packages(env, platform):
        if pkg.kind == "conda" and pkg.name == "python":
            return pkg.version
    return None


def venv_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(path: Path) -> Path:
    py = venv_python(path)
    if not py.exists():
        print(f"creating virtual environment {path} with {sys.executable}", flush=True)
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(path)
    return py


def plan(py: Path, pins: dict[str, Pin]) -> dict:
    payload = json.dumps([asdict(p) for p in pins.values()])
    proc = subprocess.run([str(py), "-c", _PLANNER], input=payload, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"could not evaluate the lock's markers with {py}:\n{proc.stderr}")
    return json.loads(proc.stdout)


def resolve_requirements(pins: dict[str, Pin], verdicts: dict, torch_spec: str | None):
    """-> (requirement lines, deviations known before installing)."""
    lines, deviations = [], []
    for name, pin in sorted(pins.items()):
        verdict = verdicts[name]
        if name == "torch" and torch_spec:
            spec = f"=={torch_spec}" if torch_spec[:1].isdigit() else torch_spec
            lines.append(f"torch{spec}")
            deviations.append(Deviation(name, pin.version, None, f"--torch {torch_spec} overrides the lock"))
        elif verdict["admits"]:
            lines.append(f"{name}=={pin.version}")
        elif not verdict["needed_by"]:
            deviations.append(Deviation(name, pin.version, None,
                                        f"skipped: requires Python {pin.requires_python} and no locked package "
                                        "needs it on this Python (a backport for newer Pythons)"))
        else:
            lines.append(f"{name}<={pin.version}")
            deviations.append(Deviation(name, pin.version, None,
                                        f"requires Python {pin.requires_python}: took the newest release "
                                        f"<= {pin.version} that this Python can install"))
    return lines, deviations


def installed_versions(py: Path) -> dict[str, str]:
    code = ("import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version "
            "for d in m.distributions() if d.metadata['Name']}))")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout
    return {normalize_name(k): v for k, v in json.loads(out).items()}


def write_record(path: Path, record: dict) -> None:
    atomic_write_text(path / RECORD_NAME, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _pip_install(py: Path, args: list[str], pip_args: list[str] | None) -> None:
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", *args, *(pip_args or [])]
    subprocess.run(cmd, check=True)


def _install_locked(py: Path, lines: list[str], pip_args: list[str] | None) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
        req_file = fh.name
    try:
        # --no-deps: the lock is the complete set; pip must not pull anything it does not list.
        _pip_install(py, ["--no-deps", "-r", req_file], pip_args)
    finally:
        os.unlink(req_file)


def _install_torch(py: Path, requirement: str, index: str | None, pip_args: list[str] | None) -> dict[str, str]:
    """PyPI's torch in place of the lock's conda pytorch, with torch's own requirements at the versions
    its metadata pins (PyPI's Linux x86_64 build needs its nvidia-* CUDA runtime wheels and triton).
    Everything already installed is held at its version by a constraints file, so this only adds.
    -> the distributions it added, name -> version."""
    before = installed_versions(py)
    held = [f"{name}=={version}" for name, version in sorted(before.items()) if name not in ("torch", "pip")]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(held) + "\n")
        constraints = fh.name
    where = f" from {index}" if index else ""
    print(f"installing {requirement}{where} with its own requirements (PyPI's Linux x86_64 torch brings "
          "its CUDA runtime, about 3.4 GB; --torch-index "
          "https://download.pytorch.org/whl/cpu takes the CPU-only build instead)", flush=True)
    try:
        _pip_install(py, ["-c", constraints, requirement, *(["--index-url", index] if index else [])], pip_args)
    finally:
        os.unlink(constraints)
    after = installed_versions(py)
    changed = sorted(n for n, v in before.items() if n != "torch" and after.get(n) != v)
    if changed:
        raise RuntimeError(f"installing {requirement} changed locked packages ({', '.join(changed)}); "
                           "report this, with pip's output above")
    return {n: v for n, v in sorted(after.items()) if n not in before and n != "torch"}


def build(path: Path, lock: Lock, env: str = "default", platform: str | None = None,
          torch_spec: str | None = None, pip_args: list[str] | None = None,
          torch_index: str | None = None) -> dict:
    """Create or update the venv at `path`; returns the record written beside it.

    `platform` is a subdir (default: this machine's) or a lock platform name; the record keeps the
    subdir, and the lock's name for it where that differs (cuda12's "p1"). Where torch comes from
    PyPI in place of the lock's conda pytorch (or --torch / --torch-index ask for another build), it is
    installed after the lock's pins, with its own requirements."""
    lock_platform = lock.resolve_platform(env, platform or current_platform())
    platform = lock.platform(lock_platform).subdir
    pins = lock_pins(lock, env, lock_platform)
    py = ensure_venv(path)
    verdict = plan(py, pins)
    lines, deviations = resolve_requirements(pins, verdict["pins"], torch_spec)
    torch = pins.get("torch")
    separate = torch is not None and (torch.source != "pypi" or torch_spec or torch_index)
    torch_line = next((ln for ln in lines if ln.startswith("torch")), None) if separate else None
    lines = [ln for ln in lines if ln != torch_line]

    lock_py = lock_python_version(lock, env, lock_platform)
    print(f"installing {len(lines)} pins from {lock.path.name} [{env} / {platform}] into {path} "
          f"(Python {verdict['python']}; the lock was solved for {lock_py})", flush=True)
    _install_locked(py, lines, pip_args)
    added = _install_torch(py, torch_line, torch_index, pip_args) if torch_line else {}

    installed = installed_versions(py)
    for dev in deviations:
        dev.installed = installed.get(dev.name)
    known = {d.name for d in deviations}
    for name, pin in sorted(pins.items()):
        # "2.8.0+cpu" is the locked 2.8.0 in another build (--torch-index): the record names the index
        if name not in known and (installed.get(name) or "").split("+", 1)[0] != pin.version:
            deviations.append(Deviation(name, pin.version, installed.get(name), "installed version differs"))
    record = {
        "environment": env,
        "platform": platform,
        "lock_platform": lock_platform,
        "lock": str(lock.path.resolve()),
        "python": verdict["python"],
        "lock_python": lock_py,
        "installed": {n: installed[n] for n in sorted(pins) if n in installed},
        "deviations": [asdict(d) for d in deviations],
        # not in the lock: what PyPI's torch needs that conda's pytorch did not (CUDA runtime, triton)
        "torch_requirements": added,
        "torch_index": torch_index,
    }
    write_record(path, record)
    return record


def format_summary(record: dict) -> str:
    lines = [f"installed {len(record['installed'])} packages pinned by the lock "
             f"[{record['environment']} / {record['platform']}], Python {record['python']}"]
    for name, version in record["installed"].items():
        lines.append(f"  {name}=={version}")
    if record.get("torch_requirements"):
        reqs = record["torch_requirements"]
        lines.append(f"{len(reqs)} package(s) torch needs that the lock's conda pytorch did not (torch's own pins):")
        lines += [f"  {name}=={version}" for name, version in reqs.items()]
    if record["deviations"]:
        lines.append(f"{len(record['deviations'])} deviation(s) from the lock:")
        for d in record["deviations"]:
            got = d["installed"] or "not installed"
            lines.append(f"  {d['name']}: locked {d['locked']}, here {got} — {d['reason']}")
    else:
        lines.append("no deviations from the lock")
    return "\n".join(lines)
