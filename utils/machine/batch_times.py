"""How long a training batch takes on this machine, as measured by the runs that trained here.

A run's schedule is chosen by what an epoch costs, and that depends on the device, the torch
build, the network (quality), the batch size and the precision: a medium batch of 4 on a 2-core
CPU takes seconds, an x_low batch of 2 a fraction of one. Each finished run records its median
batch time under those keys (the first batch, which holds the warm-up, left out), and the next
run with the same keys prints its per-epoch estimate from that figure before it starts.

Kept beside the machine profile (``.pixi/coaxial-batch-times-<env>.json`` under pixi, else the
user cache), written atomically; a missing or unreadable file means "not measured yet".
"""

from __future__ import annotations

import time
from pathlib import Path

from utils.machine.machine_profile import default_profile_path, read_profile, write_if_changed

MIN_BATCHES = 3  # fewer timed batches than this say too little to be kept


def times_path(profile_path: Path | None = None) -> Path:
    profile = profile_path or default_profile_path()
    return profile.with_name(profile.name.replace("profile", "batch-times", 1))


def device_label(accelerator: str) -> str:
    """The device a batch time belongs to: the GPU's name, or the CPU model with the cores usable here."""
    from utils.machine import cpu_share, hardware

    hw = hardware.probe()
    if accelerator == "cuda" and hw.device_name:
        return hw.device_name
    if accelerator == "mps":
        return "Apple MPS"
    return f"{hw.cpu_model or hw.machine} x{cpu_share.usable_cpus()}"


def key(accelerator: str, torch_version: str, quality: str, batch_size: int, precision: str) -> str:
    return f"{device_label(accelerator)} | torch {torch_version} | {quality} | batch {batch_size} | {precision}"


def lookup(entry_key: str, path: Path | None = None) -> dict | None:
    """``{"median_s", "batches", "measured_on"}`` recorded under ``entry_key``, or None."""
    found = (read_profile(path or times_path()) or {}).get(entry_key)
    return found if isinstance(found, dict) and isinstance(found.get("median_s"), (int, float)) else None


def record(entry_key: str, median_s: float, batches: int, path: Path | None = None) -> bool:
    """Keep a run's median batch time (the newest wins); False when too few batches were timed."""
    if batches < MIN_BATCHES or not median_s > 0:
        return False
    path = path or times_path()
    data = read_profile(path) or {}  # the profile's reader and writer: JSON, atomic, unchanged bytes kept
    data[entry_key] = {"median_s": round(median_s, 4), "batches": batches,
                       "measured_on": time.strftime("%Y-%m-%d")}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, data)
    return True
