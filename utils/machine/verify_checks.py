"""Checks behind ``python -m tasks.verify``: does this machine run what pixi.lock promised?

Each check returns ``Check(name, status, detail, remedy)`` with status ``pass``, ``warn`` or
``fail``; every non-pass carries the command or action that fixes it.

Environment kinds, detected in this order:

- pixi: ``$PIXI_ENVIRONMENT_NAME`` and ``$CONDA_PREFIX`` set. Every conda record of the lock must
  match ``$CONDA_PREFIX/conda-meta`` and every PyPI record the installed distributions, exactly.
- tasks.venv: ``<sys.prefix>/coaxial-venv.json`` exists. The pins ``tasks.venv`` installed must
  match the lock; Python and the deviations it recorded are warnings, the locked release in another
  build (PyPI's torch 2.8.0+cu128 for conda-forge's pytorch 2.8.0 cpu_mkl) passes with the build named,
  anything else fails.
- anything else: "not a locked environment" (warn): versions are reported, nothing is promised.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from utils.checks import Check
from utils.lock.lockfile import DEFAULT_LOCK, LockError, current_platform, load_lock, normalize_name
from utils.machine.versions import same_release

VENV_RECORD = "coaxial-venv.json"
VENV_REMEDY = ("recreate it: `python3 -m tasks.venv .venv` (add --torch X.Y.Z as in CI), "
               "or use `pixi install --locked`")
PIXI_REMEDY = "run `pixi install --locked -e {env}` (or delete .pixi/envs/{env} and run it again)"


@dataclasses.dataclass
class Environment:
    kind: str  # "pixi" | "venv" | "none"
    name: str | None  # lock environment name
    prefix: Path
    record: dict | None = None
    record_path: Path | None = None


def detect_environment(prefix: Path | None = None, environ: dict | None = None,
                       record_path: Path | None = None) -> Environment:
    environ = os.environ if environ is None else environ
    if record_path is None and environ.get("PIXI_ENVIRONMENT_NAME") and environ.get("CONDA_PREFIX"):
        return Environment("pixi", environ["PIXI_ENVIRONMENT_NAME"], Path(environ["CONDA_PREFIX"]))
    prefix = Path(sys.prefix if prefix is None else prefix)
    path = Path(record_path) if record_path is not None else prefix / VENV_RECORD
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable tasks.venv record ({exc}); {VENV_REMEDY}") from exc
        missing = [k for k in ("environment", "platform", "installed", "deviations") if k not in record]
        if missing:
            raise ValueError(f"{path}: tasks.venv record lacks {', '.join(missing)}; {VENV_REMEDY}")
        return Environment("venv", record["environment"], prefix, record, path)
    return Environment("none", None, prefix)


# -- what is installed --------------------------------------------------------------------------

def _site_packages(prefix: Path) -> list[Path]:
    candidates = [*prefix.glob("lib/python3*/site-packages"), prefix / "Lib" / "site-packages"]
    return [p for p in candidates if p.is_dir()]


def installed_distributions(prefix: Path | None = None) -> dict[str, str]:
    """PEP 503 name -> version of the Python distributions installed in ``prefix`` (default: this one)."""
    if prefix is None or Path(prefix).resolve() == Path(sys.prefix).resolve():
        import importlib.metadata as md

        dists = md.distributions()
        return {normalize_name(d.metadata["Name"]): d.version for d in dists if d.metadata["Name"]}
    found: dict[str, str] = {}
    for site in _site_packages(Path(prefix)):
        for meta in site.glob("*.dist-info/METADATA"):
            name = version = None
            for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Name: "):
                    name = line[6:].strip()
                elif line.startswith("Version: "):
                    version = line[9:].strip()
                elif not line:
                    break
            if name and version:
                found[normalize_name(name)] = version
    return found


def installed_conda(prefix: Path) -> dict[str, tuple[str, str]]:
    """conda package name -> (version, build) from ``prefix/conda-meta``."""
    out = {}
    for meta in sorted((Path(prefix) / "conda-meta").glob("*.json")):
        try:
            rec = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if "name" in rec and "version" in rec:
            out[rec["name"]] = (str(rec["version"]), str(rec.get("build", "")))
    return out


def _join(items: list[str], limit: int = 8) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


# -- drift --------------------------------------------------------------------------------------

def check_drift(env: Environment, lock_path: Path, platform: str | None = None) -> list[Check]:
    platform = platform or current_platform()
    if env.kind == "none":
        return [Check("locked environment", "warn",
                      f"{sys.prefix} is neither a pixi environment nor made by tasks.venv: "
                      "nothing to compare with pixi.lock",
                      "use `pixi run verify`, or `python3 -m tasks.venv .venv` and "
                      "`.venv/bin/python -m tasks.verify`")]
    if env.kind == "venv":
        platform = env.record.get("platform") or platform
    try:
        lock = load_lock(lock_path)
        # `platform` is this machine's subdir; the lock may name it otherwise (cuda12's linux-64 is "p1").
        packages = lock.packages(env.name, platform)
    except LockError as exc:
        return [Check("lock readable", "fail", str(exc), "run `pixi run lock` or pass --lock PATH")]
    if env.kind == "pixi":
        return _drift_pixi(env, packages, platform, lock_path)
    return _drift_venv(env, lock, platform, lock_path)


def _drift_pixi(env: Environment, packages, platform: str, lock_path: Path) -> list[Check]:
    conda = installed_conda(env.prefix)
    dists = installed_distributions(env.prefix)
    wrong = []
    for pkg in packages:
        if pkg.kind == "conda":
            have = conda.get(pkg.name)
            if have is None:
                wrong.append(f"{pkg.name} (conda): locked {pkg.version}, not installed")
            elif have[0] != pkg.version or (pkg.build and have[1] != pkg.build):
                wrong.append(f"{pkg.name} (conda): locked {pkg.version} {pkg.build or ''}".rstrip()
                             + f", installed {have[0]} {have[1]}".rstrip())
        else:
            name = normalize_name(pkg.name)
            have = dists.get(name)
            if have != pkg.version:
                wrong.append(f"{name} (pypi): locked {pkg.version}, installed {have or 'nothing'}")
    where = f"{env.prefix} vs {lock_path} [{env.name} / {platform}]"
    if wrong:
        return [Check("packages match pixi.lock", "fail", f"{len(wrong)} differ in {where}: {_join(wrong)}",
                      PIXI_REMEDY.format(env=env.name))]
    return [Check("packages match pixi.lock", "pass", f"{len(packages)} packages as locked in {where}")]


def _drift_venv(env: Environment, lock, platform: str, lock_path: Path) -> list[Check]:
    from utils.lock.venv_builder import lock_pins, lock_python_version

    pins = lock_pins(lock, env.name, platform)
    dists = installed_distributions(env.prefix)
    recorded = {normalize_name(d["name"]): d for d in env.record.get("deviations", [])}
    fails, warns, builds = [], [], []
    for name, pin in sorted(pins.items()):
        have = dists.get(name)
        if have == pin.version:
            continue
        dev = recorded.get(name)
        line = f"{name}: locked {pin.version}, installed {have or 'nothing'}"
        if dev is not None and dev.get("installed") == have:
            warns.append(line + f" ({dev['reason']})")
        elif same_release(have, pin.version):
            builds.append(f"{name} {have}")  # the locked release, another build ("+cpu" from an index)
        else:
            fails.append(line + (" (recorded as " + str(dev.get("installed")) + ")" if dev else ""))
    checks = []
    where = f"{env.prefix} vs {lock_path} [{env.name} / {platform}]"
    if fails:
        checks.append(Check("packages match pixi.lock", "fail",
                            f"{len(fails)} differ in {where}: {_join(fails)}", VENV_REMEDY))
    else:
        other = f"; the locked release in another build: {', '.join(builds)}" if builds else ""
        checks.append(Check("packages match pixi.lock", "pass",
                            f"{len(pins) - len(warns)} of {len(pins)} pins at the locked release in {where}"
                            + other))
    torch_check = _check_torch_build(env, lock, platform, recorded)
    if torch_check is not None:
        checks.append(torch_check)
    if warns:
        checks.append(Check("recorded deviations", "warn", _join(warns, 12),
                            "expected where this Python cannot install the locked pin; use pixi for an exact "
                            "environment"))
    lock_py = lock_python_version(lock, env.name, platform)
    py = "{}.{}.{}".format(*sys.version_info[:3])
    if lock_py and py != lock_py:
        checks.append(Check("python matches lock", "warn", f"Python {py}, lock solved for {lock_py}",
                            "use pixi for the locked interpreter"))
    else:
        checks.append(Check("python matches lock", "pass", f"Python {py}"))
    return checks


def _check_torch_build(env: Environment, lock, platform: str, recorded: dict) -> Check | None:
    """Which torch build runs here, next to the one the lock names. A venv takes PyPI's torch where
    the lock has conda-forge's pytorch: the same release in another build passes, the build named."""
    from utils.machine.versions import torch_build

    locked = next((p for p in lock.packages(env.name, platform) if p.pypi_name == "torch"), None)
    if locked is None:
        return None
    built = torch_build(_site_packages(env.prefix))
    if built is None or not built["version"]:
        return Check("torch build", "fail", f"no torch in {env.prefix}", VENV_REMEDY)
    here = f"PyPI torch {built['version']} ({'CUDA ' + built['cuda'] if built['cuda'] else 'CPU only'})"
    there = (f"conda-forge pytorch {locked.version} {locked.build}" if locked.kind == "conda"
             else f"PyPI torch {locked.version}")
    if same_release(built["version"], locked.version):
        if locked.kind == "pypi" and built["version"] == locked.version:
            return Check("torch build", "pass", f"{here}, as locked")
        return Check("torch build", "pass", f"the locked release in another build: here {here}; the lock has "
                     f"{there} (pixi installs that one)")
    dev = recorded.get("torch")
    detail = f"here {here}; the lock has {there}"
    if dev is not None and same_release(dev.get("installed"), built["version"]):
        return Check("torch build", "warn", f"{detail} ({dev['reason']})",
                     "`python3 -m tasks.venv .venv` without --torch installs the lock's release")
    return Check("torch build", "fail", detail, VENV_REMEDY)


# -- versions, device, patches ------------------------------------------------------------------

def check_versions() -> Check:
    from utils.machine.piper_patching import SUPPORTED_PIPER
    from utils.machine.versions import stack_versions

    found = stack_versions(("torch", "lightning", "piper-tts"))
    detail = ", ".join(f"{k} {v or 'MISSING'}" for k, v in found.items())
    missing = [k for k, v in found.items() if v is None]
    if missing:
        return Check("versions", "fail", detail,
                     f"install the environment again ({', '.join(missing)} missing)")
    if found["piper-tts"] != SUPPORTED_PIPER:
        return Check("versions", "warn", detail,
                     f"utils/machine/piper_compat.py was written for piper-tts {SUPPORTED_PIPER}; "
                     "pin it in pixi.toml")
    return Check("versions", "pass", detail)


def check_accelerator(env: Environment, hw) -> Check:
    name = env.name or "unlocked"
    seen = f"torch {hw.torch_version} (CUDA build {hw.torch_cuda_version or 'none'})"
    if hw.cuda_available:
        seen += f", {hw.device_name} capability {hw.capability[0]}.{hw.capability[1]}"
    if name.startswith("cuda"):
        if hw.torch_cuda_version is None:
            return Check("accelerator", "fail", f"environment {name} promises CUDA but {seen}",
                         f"`pixi install --locked -e {name}`: a CPU torch is installed here")
        if not hw.cuda_available:
            gpus = ", ".join(hw.nvidia_smi_gpus) or "nvidia-smi sees no GPU"
            return Check("accelerator", "fail",
                         f"environment {name} promises an NVIDIA GPU; torch sees none ({gpus})",
                         "install an NVIDIA driver supporting CUDA 12.8 (>= 570) and check `nvidia-smi`; "
                         "in Docker run with `--gpus all`; without an NVIDIA GPU use `pixi run -e cpu ...`")
        return Check("accelerator", "pass", seen)
    if name == "osx-arm64" or (name == "default" and sys.platform == "darwin"):
        if not hw.mps_available:
            status = "fail" if name == "osx-arm64" else "warn"
            return Check("accelerator", status,
                         f"environment {name} promises Apple MPS; {seen}, MPS unavailable",
                         "needs Apple Silicon and macOS >= 12.3 with the osx-arm64 environment")
        return Check("accelerator", "pass", seen + ", MPS available")
    if hw.nvidia_smi_gpus and not hw.cuda_available:
        return Check("accelerator", "warn",
                     f"NVIDIA GPU visible ({', '.join(hw.nvidia_smi_gpus)}) "
                     f"but environment {name} is CPU-only",
                     "train on the GPU with `pixi run -e cuda12 ...`")
    return Check("accelerator", "pass", f"environment {name}: {seen}")


def check_arch(hw) -> Check:
    from utils.machine.hardware import arch_supported
    from utils.machine.precision_policy import CUDA_ARCH_REMEDY

    if not hw.cuda_available:
        return Check("cuda arch in torch build", "pass", "no CUDA device in use (not applicable)")
    if arch_supported(hw.capability, hw.arch_list):
        return Check("cuda arch in torch build", "pass", f"{hw.sm} runs with {', '.join(hw.arch_list)}")
    return Check("cuda arch in torch build", "fail",
                 f"{hw.device_name} is {hw.sm}; torch.cuda.get_arch_list() = {list(hw.arch_list)}: "
                 "'no kernel image is available for execution on the device'", CUDA_ARCH_REMEDY)


def check_patches(runtime: dict) -> Check:
    import torch

    from utils.machine import piper_compat
    from utils.machine.runtime_patches import active_patches
    from utils.machine.step_patches import STEP_PATCHES

    live = active_patches()

    need = ["mas-kernel"] + (["onnx-torchscript-exporter"] if piper_compat.onnx_export_kwargs() else [])
    need += list(STEP_PATCHES)
    flags = ", ".join(f"{k}={v}" for k, v in runtime["applied"].items()) or "no torch flags (CPU)"
    missing = [n for n in need if n not in live]
    if runtime["applied"].get("cudnn.benchmark") and not torch.backends.cudnn.benchmark:
        missing.append("cudnn.benchmark")
    if missing:
        return Check("patches active in this process", "fail", f"missing: {', '.join(missing)}; live: {live}",
                     "call utils.machine.runtime_patches.apply_runtime_patches() in the training process")
    return Check("patches active in this process", "pass", f"{', '.join(live)}; {flags}")


def check_precision(runtime: dict) -> Check:
    detail = f"{runtime['accelerator']} x{runtime['devices']}, {runtime['precision']} ({runtime['reason']})"
    if runtime["warnings"]:
        return Check("precision", "warn", detail + "; " + "; ".join(runtime["warnings"]),
                     "see the warning; override with --accelerator/--precision")
    return Check("precision", "pass", detail)


def check_precision_measurement(hw, quick: bool, say) -> Check:
    """Where more than one precision may train well here: the measured choice, measured now if need be."""
    from utils.machine import machine_profile, precision_policy, precision_probe

    accelerator = precision_policy.choose(hw).accelerator
    if len(precision_probe.candidates(hw, accelerator)) < 2:
        return Check("precision measurement", "pass", f"nothing to measure on {accelerator}: the rule decides")
    path = machine_profile.default_profile_path()
    record = machine_profile.recorded_measurement(path)
    if not precision_probe.matches(record, hw, accelerator):
        if quick:
            return Check("precision measurement", "warn", "not measured on this device with this torch: "
                         "the CPU flags decide", "run `pixi run verify` without --quick, or "
                         "`pixi run postinstall --remeasure`")
        say("timing the precisions (a few training steps each)")
        record = precision_probe.measure(hw, accelerator)
        recorded = machine_profile.record_measurement(path, record)
        note = f"; recorded in {path}" if recorded else "; no profile to record it in (`pixi run postinstall`)"
    else:
        note = f"; from {path}"
    rates = ", ".join(f"{p} {v:.3f}" for p, v in record["steps_per_s"].items())
    return Check("precision measurement", "pass", f"{precision_probe.describe(record)} (steps/s {rates}){note}")


def check_kernel() -> Check:
    from utils.machine import piper_compat

    b, t_y, t_x = 8, 400, 100
    result = piper_compat.check_alignment_kernel(b, t_y, t_x)
    ms = result["ms"]
    if not result["ok"]:
        return Check("alignment kernel", "fail", f"piper's maximum_path returned a wrong path: {result['reason']}",
                     "report a bug against utils/machine/monotonic_align.py")
    from utils.machine.step_patches import active_step_patches

    kernel = "torch kernel on the device" if active_step_patches()["mas-on-device"] else "numpy kernel"
    return Check("alignment kernel", "pass", f"piper maximum_path via {kernel}: {b}x{t_y}x{t_x} in {ms:.0f} ms")


def check_training_step(runtime: dict) -> Check:
    from utils.machine.smoke_step import train_steps

    acc, prec = runtime["accelerator"], runtime["precision"]
    try:
        result = train_steps(acc, prec)
    except Exception as exc:  # the point of this check is to report whatever the device raises
        return Check("training step", "fail",
                     f"tiny VITS step on {acc} at {prec} raised {type(exc).__name__}: {exc}",
                     "run `python -m tasks.verify --accelerator cpu` to isolate the device; see the error")
    detail = (f"tiny VITS on {acc} at {prec}: loss_g {result['losses'].get('loss_g', float('nan')):.3f}, "
              f"loss_d {result['losses'].get('loss_d', float('nan')):.3f}, {result['wall_s']:.1f} s")
    if not result["finite"] or not result["weights_changed"]:
        return Check("training step", "fail", detail + ("" if result["finite"] else ", non-finite loss")
                     + ("" if result["weights_changed"] else ", weights unchanged"),
                     f"precision {prec} is not stable here; try --precision 32-true")
    return Check("training step", "pass", detail)


def run_checks(quick: bool = False, lock_path: Path | None = None, record_path: Path | None = None,
               accelerator: str | None = None, precision: str | None = None, environ: dict | None = None,
               progress=None) -> list[Check]:
    """All checks in order; ``progress(name)`` is called before each slow one."""
    from utils.machine import hardware
    from utils.machine.espeak_path import check_data_path as check_espeak_data_path
    from utils.machine.piper_compat import PiperCompatError
    from utils.machine.precision_policy import PolicyError
    from utils.machine.runtime_patches import apply_runtime_patches

    say = progress or (lambda _name: None)
    env = detect_environment(environ=environ, record_path=record_path)
    if lock_path is None:
        root = (environ or os.environ).get("PIXI_PROJECT_ROOT")
        lock_path = Path(root) / "pixi.lock" if root else DEFAULT_LOCK
    checks = check_drift(env, Path(lock_path))
    checks.append(check_versions())
    checks.append(check_espeak_data_path())
    say("probing hardware")
    hw = hardware.probe()
    checks += [check_accelerator(env, hw), check_arch(hw)]
    checks.append(check_precision_measurement(hw, quick, say))
    say("applying patches")
    try:
        runtime = apply_runtime_patches(accelerator=accelerator, precision=precision)
    except (PolicyError, PiperCompatError) as exc:  # both carry their remedy
        checks.append(Check("patches active in this process", "fail", f"{type(exc).__name__}: {exc}",
                            "pin piper-tts as the message says" if isinstance(exc, PiperCompatError)
                            else "choose --accelerator/--precision as the message says"))
        return checks
    checks += [check_patches(runtime), check_precision(runtime)]
    checks.append(check_kernel())
    if not quick:
        say(f"one training step on {runtime['accelerator']} at {runtime['precision']}")
        checks.append(check_training_step(runtime))
    return checks
