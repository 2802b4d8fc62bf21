"""The CPU share: affinity mask and cgroup quota, parsed from generated /proc and /sys/fs/cgroup trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from utils.machine import cpu_share


def cgroup_tree(root: Path, proc_cgroup: str, files: dict[str, str]) -> Path:
    """A generated filesystem root holding /proc/self/cgroup and the given cgroup files."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(proc_cgroup)
    for rel, text in files.items():
        path = root / "sys/fs/cgroup" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("cpu_max, quota", [
    ("200000 100000\n", 2.0),     # docker --cpus 2
    ("150000 100000\n", 1.5),     # systemd CPUQuota=150%
    ("max 100000\n", None),       # no limit
])
def test_cgroup_v2_cpu_max(tmp_path, cpu_max, quota):
    root = cgroup_tree(tmp_path, "0::/user.slice/job\n", {"user.slice/job/cpu.max": cpu_max})
    assert cpu_share.cgroup_quota(root) == quota


def test_cgroup_v2_a_parent_limit_binds_the_child(tmp_path):
    root = cgroup_tree(tmp_path, "0::/slurm/job7/step0\n", {
        "slurm/cpu.max": "max 100000", "slurm/job7/cpu.max": "300000 100000",
        "slurm/job7/step0/cpu.max": "max 100000"})
    assert cpu_share.cgroup_quota(root) == 3.0


def test_cgroup_v2_inside_a_container_reads_the_mount_root(tmp_path):
    # The host path in /proc/self/cgroup does not exist in the container's cgroup namespace.
    root = cgroup_tree(tmp_path, "0::/system.slice/docker-abc.scope\n", {"cpu.max": "100000 100000"})
    assert cpu_share.cgroup_quota(root) == 1.0


def test_cgroup_v1_cfs_quota(tmp_path):
    root = cgroup_tree(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert cpu_share.cgroup_quota(root) == 2.5


def test_cgroup_v1_without_quota_is_minus_one(tmp_path):
    root = cgroup_tree(tmp_path, "3:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                                                      "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert cpu_share.cgroup_quota(root) is None


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert cpu_share.cgroup_quota(tmp_path) is None


@pytest.mark.parametrize("cpu_max, affinity, expected", [
    ("200000 100000", 8, 2),    # quota below the mask: the quota decides
    ("150000 100000", 8, 2),    # 1.5 CPUs: two threads may each run part of the period
    ("50000 100000", 8, 1),     # half a CPU: never below one
    ("800000 100000", 3, 3),    # quota above the mask (taskset -c 0-2): the mask decides
    ("max 100000", 4, 4),
])
def test_usable_cpus_is_the_smaller_of_mask_and_quota(tmp_path, cpu_max, affinity, expected):
    root = cgroup_tree(tmp_path, "0::/job\n", {"job/cpu.max": cpu_max})
    assert cpu_share.usable_cpus(root, affinity=affinity) == expected


def test_this_process_share_never_exceeds_its_affinity_mask():
    share = cpu_share.usable_cpus()
    assert 1 <= share <= cpu_share.affinity_cpus() <= (os.cpu_count() or 1)
    assert f"{share} of {os.cpu_count()} CPUs" in cpu_share.describe()
