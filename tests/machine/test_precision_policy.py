"""Device and precision policy, driven by FAKE hardware (this machine has no GPU)."""

from __future__ import annotations

import pytest

from utils.machine.hardware import Hardware, arch_supported
from utils.machine.precision_policy import PolicyError, choose

# torch.cuda.get_arch_list() of typical builds, as published for those CUDA versions.
ARCH_CU126 = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
ARCH_CU128 = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")


def fake_hardware(capability=None, arch=ARCH_CU128, name="FAKE GPU", mps=False, smi=()):
    """A FAKE probe result: stands in for GPUs this machine does not have."""
    cuda = capability is not None
    return Hardware(torch_version="2.8.0", torch_cuda_version="12.8" if cuda else None, cuda_available=cuda,
                    device_count=int(cuda), device_name=name if cuda else None, capability=capability,
                    arch_list=arch if cuda else (), mps_available=mps, nvidia_smi_gpus=smi, machine="x86_64",
                    system="Linux", cpu_count=8)


@pytest.mark.parametrize("capability, precision, tf32", [
    ((7, 5), "16-mixed", False),    # fake Turing (T4, RTX 20xx)
    ((8, 0), "bf16-mixed", True),   # fake Ampere A100
    ((8, 9), "bf16-mixed", True),   # fake Ada RTX 4090: runs sm_86 cubins
    ((9, 0), "bf16-mixed", True),   # fake Hopper H100
    ((12, 0), "bf16-mixed", True),  # fake Blackwell RTX 5060 Ti on a CUDA 12.8 build
])
def test_fake_cuda_capability_picks_precision_by_generation(capability, precision, tf32):
    choice = choose(fake_hardware(capability))
    assert (choice.accelerator, choice.precision, choice.tf32, choice.devices) == ("cuda", precision, tf32, 1)
    assert f"{capability[0]}.{capability[1]}" in choice.reason
    assert choice.warnings == ()


def test_fake_blackwell_without_sm120_in_build_falls_back_to_cpu_and_says_why():
    choice = choose(fake_hardware((12, 0), arch=ARCH_CU126, name="FAKE RTX 5060 Ti"))
    assert (choice.accelerator, choice.precision) == ("cpu", "32-true")
    assert "sm_120" in choice.warnings[0] and "12.8" in choice.warnings[0]


def test_fake_blackwell_without_sm120_refuses_explicit_cuda_with_remedy():
    with pytest.raises(PolicyError, match=r"sm_120.*cuda12"):
        choose(fake_hardware((12, 0), arch=ARCH_CU126), accelerator="cuda")


def test_fake_mps_picks_fp32():
    choice = choose(fake_hardware(mps=True))
    assert (choice.accelerator, choice.precision, choice.tf32) == ("mps", "32-true", False)


def test_cpu_only_picks_fp32_and_warns_about_an_unused_nvidia_gpu():
    assert (choose(fake_hardware()).accelerator, choose(fake_hardware()).precision) == ("cpu", "32-true")
    choice = choose(fake_hardware(smi=("FAKE RTX 3060",)))
    assert choice.accelerator == "cpu" and "FAKE RTX 3060" in choice.warnings[0]


def test_user_overrides_win_over_the_policy():
    hw = fake_hardware((8, 0))
    assert choose(hw, precision="16-mixed").precision == "16-mixed"
    forced = choose(hw, accelerator="cpu")
    assert (forced.accelerator, forced.precision, forced.tf32) == ("cpu", "32-true", False)
    slow = choose(fake_hardware((7, 5)), precision="bf16-mixed")
    assert slow.precision == "bf16-mixed" and "emulated" in slow.warnings[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"accelerator": "tpu"}, "unknown accelerator 'tpu'"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"accelerator": "cuda"}, "no CUDA device"),
    ({"accelerator": "mps"}, "MPS unavailable"),
])
def test_impossible_requests_raise_with_the_fix(kwargs, message):
    with pytest.raises(PolicyError, match=message):
        choose(fake_hardware(), **kwargs)


@pytest.mark.parametrize("capability, arch, expected", [
    ((8, 9), ("sm_80",), True),              # same major, newer minor runs the cubin
    ((8, 0), ("sm_86",), False),             # older minor cannot
    ((12, 0), ARCH_CU126, False),            # the sm_120 trap
    ((12, 0), ("sm_90", "compute_90"), True),  # PTX is JIT-compiled forward
    ((9, 0), ("sm_90a",), True),
    ((10, 0), ("sm_90a",), False),           # arch-specific targets run only on that arch
])
def test_arch_support_follows_cuda_compatibility_rules(capability, arch, expected):
    assert arch_supported(capability, arch) is expected
