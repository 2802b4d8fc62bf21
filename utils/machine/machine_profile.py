"""The machine profile written by ``pixi run postinstall``: hardware, policy, kernel check.

The profile records what an install found (for bug reports and for ``verify``'s reader) and the
precision measurement (``utils.machine.precision_probe``: which precision trains fastest here,
with its figures and date). The training process probes the hardware again at run time and uses
the measurement only if it was taken on the same device with the same torch, so a stale or
copied profile never changes a run. A measurement is taken once: a later postinstall on the same
device and torch keeps it (``--remeasure`` takes a new one), so the file is rewritten only when
its content changes: running postinstall twice leaves the file, its bytes and its mtime alone,
which is what pixi's ``outputs`` cache needs. Two concurrent runs are safe: each writes a
private temp file and ``os.replace``s it, so readers see one whole version or the other.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from utils.files import atomic_write_text, user_cache_root

PROFILE_VERSION = 1


def default_profile_path(environ: dict | None = None) -> Path:
    """``$PIXI_PROJECT_ROOT/.pixi/coaxial-profile-<env>.json`` under pixi, else the user cache dir."""
    environ = os.environ if environ is None else environ
    root = environ.get("PIXI_PROJECT_ROOT")
    if root and (Path(root) / ".pixi").is_dir():
        env = environ.get("PIXI_ENVIRONMENT_NAME") or "default"
        return Path(root) / ".pixi" / f"coaxial-profile-{env}.json"
    # One file per interpreter prefix, so two venvs on one machine keep separate profiles.
    tag = hashlib.sha256(str(Path(sys.prefix).resolve()).encode()).hexdigest()[:10]
    return user_cache_root() / f"profile-{tag}.json"


def warm_kernel() -> dict:
    """Install the alignment kernel and run it once through piper's own entry point."""
    from utils.machine import piper_compat

    patch = piper_compat.install_mas_kernel()
    check = piper_compat.check_alignment_kernel()
    # The timing differs run to run; the profile is rewritten only when its content changes.
    return {"ok": check["ok"], "patch": patch, "frames_aligned": check["frames_aligned"]}


def read_profile(path: Path | None = None) -> dict | None:
    """The profile at ``path`` (default: this environment's), or None if absent or unreadable."""
    try:
        data = json.loads((path or default_profile_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded_measurement(path: Path | None = None) -> dict | None:
    """The profile's precision measurement, if any (the policy checks it matches this device)."""
    measurement = (read_profile(path) or {}).get("precision_measurement")
    return measurement if isinstance(measurement, dict) and "steps_per_s" in measurement else None


def settle_measurement(hw, previous: dict | None, measure: bool, remeasure: bool = False,
                       progress=None) -> dict | None:
    """The previous profile's measurement if it fits this device and torch, else a new one."""
    from utils.machine import precision_policy, precision_probe

    accelerator = precision_policy.choose(hw).accelerator
    old = (previous or {}).get("precision_measurement")
    if not remeasure and precision_probe.matches(old, hw, accelerator):
        return old
    return precision_probe.measure(hw, accelerator, progress=progress) if measure else None


def record_measurement(path: Path, measurement: dict) -> bool:
    """Put a new measurement (and the policy it leads to) into an existing profile; False if none."""
    from utils.machine import hardware, precision_policy

    profile = read_profile(path)
    if profile is None:
        return False
    profile["precision_measurement"] = measurement
    profile["policy"] = precision_policy.choose(hardware.probe(), measured=measurement).as_dict()
    return write_if_changed(path, profile)


def build_profile(previous: dict | None = None, measure: bool = True, remeasure: bool = False,
                  progress=None) -> dict:
    """The profile of this install; ``previous`` (the file's current content) lends its measurement."""
    from utils.machine import hardware, precision_policy
    from utils.machine.versions import installed_version

    hw = hardware.probe()
    measurement = settle_measurement(hw, previous, measure, remeasure, progress)
    choice = precision_policy.choose(hw, measured=measurement)
    piper = installed_version("piper-tts")
    return {
        "profile_version": PROFILE_VERSION,
        "prefix": str(Path(sys.prefix).resolve()),
        "environment": os.environ.get("PIXI_ENVIRONMENT_NAME"),
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "piper_tts": piper,
        "hardware": hw.as_dict(),
        "policy": choice.as_dict(),
        "precision_measurement": measurement,
        "kernel": warm_kernel(),
    }


def write_if_changed(path: Path, data: dict) -> bool:
    """Atomically write ``data`` as JSON unless the file already holds exactly that; True if written."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


def format_summary(profile: dict, path: Path, written: bool) -> str:
    hw, pol, kern = profile["hardware"], profile["policy"], profile["kernel"]
    if hw["cuda_available"]:
        device = f"{hw['device_name']} (capability {hw['capability'][0]}.{hw['capability'][1]}, {hw['sm']})"
    else:
        device = "Apple MPS" if hw["mps_available"] else f"CPU x{hw['cpu_count']}"
    lines = [
        f"python {profile['python']}  torch {hw['torch_version']} "
        f"(CUDA {hw['torch_cuda_version'] or 'none'})  piper-tts {profile['piper_tts']}",
        f"device     {device}",
        f"policy     {pol['accelerator']} x{pol['devices']}, {pol['precision']}: {pol['reason']}",
        f"kernel     {'ok' if kern['ok'] else 'FAILED'} ({kern['patch']})",
    ]
    measured = profile.get("precision_measurement")
    if measured:
        rates = ", ".join(f"{p} {v:.3f}" for p, v in measured["steps_per_s"].items())
        load = measured.get("load_average")
        lines.append(f"measured   steps/s {rates} ({measured['model']}, {measured['measured_on']}, "
                     f"{measured['seconds']:.0f} s" + (f", load average {load:.1f})" if load is not None else ")"))
        if measured.get("busy"):
            lines.append("warning    the machine was busy while timing, so the measurement is not used (the "
                         "CPU flags decide); the next postinstall or `pixi run verify` times again")
    lines += [f"warning    {w}" for w in pol["warnings"]]
    lines.append(f"profile    {path} ({'written' if written else 'unchanged'})")
    return "\n".join(lines)
