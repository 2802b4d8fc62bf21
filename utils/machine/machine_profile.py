"""The machine profile written by ``pixi run postinstall``: hardware, policy, kernel check.

The profile records what an install found (for bug reports and for ``verify``'s reader); the
training process still probes and decides at run time, so a stale profile never changes a run.
Its content is deterministic (no timestamps, no timings) and it is rewritten only when that
content changes: running postinstall twice leaves the file, its bytes and its mtime alone,
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


def build_profile() -> dict:
    from utils.machine import hardware, precision_policy
    from utils.machine.versions import installed_version

    hw = hardware.probe()
    choice = precision_policy.choose(hw)
    piper = installed_version("piper-tts")
    return {
        "profile_version": PROFILE_VERSION,
        "prefix": str(Path(sys.prefix).resolve()),
        "environment": os.environ.get("PIXI_ENVIRONMENT_NAME"),
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "piper_tts": piper,
        "hardware": hw.as_dict(),
        "policy": choice.as_dict(),
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
    lines += [f"warning    {w}" for w in pol["warnings"]]
    lines.append(f"profile    {path} ({'written' if written else 'unchanged'})")
    return "\n".join(lines)
