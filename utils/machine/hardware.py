"""Probe the accelerator this process can use, as plain data (no decisions here).

Decisions live in ``utils.machine.precision_policy``; keeping the probe separate lets tests feed the
policy fake capabilities (a Blackwell card, a T4, an Apple GPU) on a machine that has none.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess

# x86: AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake), AMX (Intel Sapphire Rapids+); Arm: FEAT_BF16.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_fp16", "bf16", "asimd")


def cpu_features(cpuinfo: str | None = None) -> tuple[str | None, tuple[str, ...]]:
    """(model name, flags of interest) from /proc/cpuinfo text; (None, ()) where there is none."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return platform.processor() or None, ()
    model, flags = None, set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and model is None:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, tuple(f for f in CPU_FLAGS_OF_INTEREST if f in flags)


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What torch can see in this process."""

    torch_version: str
    torch_cuda_version: str | None  # CUDA the torch build targets, None for CPU builds
    cuda_available: bool
    device_count: int
    device_name: str | None
    capability: tuple[int, int] | None  # (major, minor) of device 0
    arch_list: tuple[str, ...]  # torch.cuda.get_arch_list(): sm_XY cubins / compute_XY PTX
    mps_available: bool
    nvidia_smi_gpus: tuple[str, ...]  # GPUs the driver reports, even when torch cannot use them
    machine: str
    system: str
    cpu_count: int
    cpu_model: str | None = None  # /proc/cpuinfo "model name"; keys a recorded precision measurement
    cpu_flags: tuple[str, ...] = ()  # the flags of CPU_FLAGS_OF_INTEREST this CPU reports

    @property
    def cpu_bf16(self) -> bool:
        """Whether the CPU computes bf16 natively (AVX512-BF16, AMX-BF16, or Arm's BF16 extension)."""
        return any(flag in self.cpu_flags for flag in CPU_BF16_FLAGS)

    @property
    def sm(self) -> str | None:
        return f"sm_{self.capability[0]}{self.capability[1]}" if self.capability else None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sm"] = self.sm
        d["cpu_bf16"] = self.cpu_bf16
        return d


def nvidia_smi_gpus(timeout: float = 5.0) -> tuple[str, ...]:
    """GPU names from ``nvidia-smi``; empty when there is no NVIDIA driver."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ()
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip())


def probe() -> Hardware:
    import torch

    cuda = bool(torch.cuda.is_available())
    name = capability = None
    count = 0
    arch: tuple[str, ...] = ()
    if cuda:
        count = torch.cuda.device_count()
        name = torch.cuda.get_device_name(0)
        capability = tuple(torch.cuda.get_device_capability(0))
    try:
        arch = tuple(torch.cuda.get_arch_list())
    except Exception:  # CPU builds raise or return [] depending on version
        arch = ()
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    cpu_model, cpu_flags = cpu_features()
    return Hardware(
        torch_version=torch.__version__,
        torch_cuda_version=torch.version.cuda,
        cuda_available=cuda,
        device_count=count,
        device_name=name,
        capability=capability,
        arch_list=arch,
        mps_available=mps,
        nvidia_smi_gpus=nvidia_smi_gpus(),
        machine=platform.machine(),
        system=platform.system(),
        cpu_count=os.cpu_count() or 1,
        cpu_model=cpu_model,
        cpu_flags=cpu_flags,
    )


def arch_supported(capability: tuple[int, int], arch_list: tuple[str, ...] | list[str]) -> bool:
    """Whether a torch build with ``arch_list`` has kernels that run on ``capability``.

    A cubin for sm_XY runs on sm_XZ with Z >= Y (same major only); PTX for compute_XY is
    JIT-compiled for any device >= XY. Arch-specific targets (sm_90a) run only on that exact
    device. This is why an sm_120 card (RTX 50xx) fails on builds listing only up to sm_90.
    """
    major, minor = capability
    dev = major * 10 + minor
    for entry in arch_list:
        kind, _, num = entry.partition("_")
        specific = num.endswith(("a", "f"))
        digits = num.rstrip("af")
        if not digits.isdigit():
            continue
        value = int(digits)
        e_major, e_minor = divmod(value, 10)
        if kind == "sm":
            if specific:
                if value == dev:
                    return True
            elif e_major == major and e_minor <= minor:
                return True
        elif kind == "compute" and (value == dev if specific else value <= dev):
            return True
    return False
