"""How many CPUs this process may really use: its affinity mask and its cgroup CPU quota.

``os.cpu_count()`` is the machine's count. Slurm (``--cpus-per-task``), ``taskset`` and
``docker --cpuset-cpus`` narrow the affinity mask; ``docker --cpus``, Kubernetes limits and
systemd's ``CPUQuota=`` leave the mask alone and set a cgroup quota instead (cgroup v2
``cpu.max``: "QUOTA PERIOD" or "max PERIOD"; cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``,
quota -1 for none). A process that starts one thread per machine core under a quota of two
CPUs is throttled every period, and its threads wait on each other.

The share is the smaller of the two, rounded up (a quota of 1.5 CPUs still lets two threads run
part of each period). Every function takes the filesystem root so tests feed generated cgroup
files; nothing here imports torch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (``os.cpu_count()`` where the OS has no masks)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _cgroup_paths(root: Path) -> list[tuple[str, Path]]:
    """(hierarchy, folder) of this process's cgroups from /proc/self/cgroup, v2 ("0::/x") and v1.

    Inside a container the listed path may not exist under the mount (the container sees its own
    cgroup as the mount root): then the mount root is the process's cgroup."""
    try:
        lines = (root / "proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    found = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            mount = root / "sys/fs/cgroup"
        elif "cpu" in controllers.split(","):
            mount = next((m for m in (root / "sys/fs/cgroup" / controllers, root / "sys/fs/cgroup/cpu,cpuacct",
                                      root / "sys/fs/cgroup/cpu") if m.is_dir()), root / "sys/fs/cgroup/cpu")
        else:
            continue
        folder = mount / path.lstrip("/")
        found.append(("v2" if controllers == "" else "v1", folder if folder.is_dir() else mount))
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _v2_quota(folder: Path, top: Path) -> float | None:
    """The tightest ``cpu.max`` from this cgroup up to the hierarchy root (a parent's limit binds too)."""
    limits = []
    while True:
        text = _read(folder / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota != "max" and quota.isdigit() and period.isdigit() and int(period) > 0:
                limits.append(int(quota) / int(period))
        if folder == top or top not in folder.parents:
            break
        folder = folder.parent
    return min(limits) if limits else None


def _v1_quota(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if not quota or not period or quota.startswith("-") or not quota.isdigit() or not period.isdigit():
        return None
    return int(quota) / int(period) if int(period) > 0 else None


def cgroup_quota(root: Path = Path("/")) -> float | None:
    """CPUs the cgroup quota allows (1.5 = one and a half), or None when no quota is set."""
    quotas = []
    for hierarchy, folder in _cgroup_paths(root):
        quota = _v2_quota(folder, root / "sys/fs/cgroup") if hierarchy == "v2" else _v1_quota(folder)
        if quota is not None:
            quotas.append(quota)
    return min(quotas) if quotas else None


def usable_cpus(root: Path = Path("/"), affinity: int | None = None) -> int:
    """The CPUs this process may use: the affinity mask, lowered to the cgroup quota (rounded up)."""
    cpus = affinity_cpus() if affinity is None else affinity
    quota = cgroup_quota(root)
    if quota is not None and quota > 0:
        cpus = min(cpus, max(1, math.ceil(quota - 1e-9)))
    return max(1, cpus)


def describe(root: Path = Path("/")) -> str:
    """One line for logs: the share and where it comes from."""
    mask, quota = affinity_cpus(), cgroup_quota(root)
    text = f"{usable_cpus(root)} of {os.cpu_count() or 1} CPUs (affinity mask {mask}"
    return text + (f", cgroup quota {quota:g})" if quota is not None else ", no cgroup quota)")
