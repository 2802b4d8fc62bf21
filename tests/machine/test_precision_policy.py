"""Device and precision policy, driven by FAKE hardware (this machine has no GPU)."""

from __future__ import annotations

import dataclasses

import pytest

from utils.machine import precision_probe
from utils.machine.hardware import Hardware, arch_supported, cpu_features
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


# /proc/cpuinfo excerpts as those CPUs print them (flags trimmed to the ones that matter here).
CPUINFO_ZEN4 = ("processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
                "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
CPUINFO_AVX2 = "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\nflags\t\t: fpu sse2 avx2 fma\n"


def fake_cpu(cpuinfo: str, torch_version="2.8.0") -> Hardware:
    """A FAKE CPU-only probe whose CPU model and flags come from the given cpuinfo text."""
    model, flags = cpu_features(cpuinfo)
    return dataclasses.replace(fake_hardware(), cpu_model=model, cpu_flags=flags, torch_version=torch_version)


def measurement(hw: Hardware, rates: dict, loss_g: dict | None = None) -> dict:
    """A measurement record as precision_probe.measure writes it, with the given steps/s."""
    loss_g = loss_g or {p: 80.0 for p in rates}
    choice, rejected = precision_probe.pick(rates, loss_g)
    return precision_probe.device_key(hw, "cpu") | {
        "measured_on": "2026-12-06", "model": "x_low", "steps_per_s": rates, "loss_g": loss_g,
        "choice": choice, "rejected": rejected, "seconds": 20.0}


def test_cpuinfo_parsing_finds_the_model_and_the_bf16_flags():
    assert cpu_features(CPUINFO_ZEN4) == ("AMD EPYC 9R14 96-Core Processor", ("avx2", "avx512f", "avx512_bf16"))
    assert cpu_features(CPUINFO_AVX2)[1] == ("avx2",)
    assert cpu_features("")[1] == ()


def test_fake_avx2_only_cpu_keeps_fp32_and_has_nothing_to_measure():
    hw = fake_cpu(CPUINFO_AVX2)
    choice = choose(hw)
    assert (choice.accelerator, choice.precision) == ("cpu", "32-true")
    assert "AVX512-BF16" in choice.reason
    assert precision_probe.candidates(hw, "cpu") == ()
    asked = choose(hw, precision="bf16-mixed")
    assert asked.precision == "bf16-mixed" and "much slower" in asked.warnings[0]


def test_fake_bf16_cpu_without_a_measurement_lets_the_flags_decide():
    hw = fake_cpu(CPUINFO_ZEN4)
    choice = choose(hw)
    assert choice.precision == "bf16-mixed" and "avx512_bf16" in choice.reason and "postinstall" in choice.reason
    assert precision_probe.candidates(hw, "cpu") == ("32-true", "bf16-mixed")
    assert choose(hw, precision="bf16").warnings == ()


def test_a_measurement_on_this_device_decides_and_says_why():
    hw = fake_cpu(CPUINFO_ZEN4)
    faster = measurement(hw, {"32-true": 0.50, "bf16-mixed": 0.655})
    choice = choose(hw, measured=faster)
    assert choice.precision == "bf16-mixed"
    assert "bf16-mixed: 1.31x the steps/s of 32-true on this CPU, measured on 2026-12-06" in choice.reason
    assert choose(hw, precision="bf16-mixed", measured=faster).warnings == ()
    slow = choose(hw, precision="32-true", measured=faster)
    assert slow.precision == "32-true" and "0.76x the steps/s of bf16-mixed" in slow.warnings[0]


def test_a_measurement_where_bf16_lost_keeps_fp32_and_warns_only_about_bf16():
    hw = fake_cpu(CPUINFO_ZEN4)
    slower = measurement(hw, {"32-true": 0.50, "bf16-mixed": 0.40})
    choice = choose(hw, measured=slower)
    assert choice.precision == "32-true" and "0.80x the steps/s of 32-true" in choice.reason
    assert "0.80x" in choose(hw, precision="bf16-mixed", measured=slower).warnings[0]
    assert choose(hw, precision="32-true", measured=slower).warnings == ()


@pytest.mark.parametrize("other", [{"torch_version": "2.9.0"}, {"cpu_model": "AMD EPYC 7B13"}])
def test_a_measurement_from_another_cpu_or_torch_is_ignored(other):
    hw = fake_cpu(CPUINFO_ZEN4)
    record = measurement(dataclasses.replace(hw, **other), {"32-true": 0.50, "bf16-mixed": 0.40})
    choice = choose(hw, measured=record)
    assert choice.precision == "bf16-mixed" and "2026-12-06" not in choice.reason and "not measured" in choice.reason


@pytest.mark.parametrize("rates, loss_g, expected, why", [
    ({"32-true": 0.5, "bf16-mixed": 0.6}, {"32-true": 80.0, "bf16-mixed": 80.5}, "bf16-mixed", None),
    ({"32-true": 0.5, "bf16-mixed": 0.51}, {"32-true": 80.0, "bf16-mixed": 80.0}, "32-true", "1.02x"),
    ({"32-true": 0.5, "bf16-mixed": 0.9}, {"32-true": 80.0, "bf16-mixed": float("nan")}, "32-true", "non-finite"),
    ({"32-true": 0.5, "bf16-mixed": 0.9}, {"32-true": 80.0, "bf16-mixed": 90.0}, "32-true", "loss_g 90.000"),
])
def test_the_probe_keeps_only_a_faster_precision_that_trains_like_fp32(rates, loss_g, expected, why):
    choice, rejected = precision_probe.pick(rates, loss_g)
    assert choice == expected
    assert (why is None and rejected == {}) or why in rejected["bf16-mixed"]


def test_a_measurement_taken_on_a_busy_machine_is_not_used():
    hw = fake_cpu(CPUINFO_ZEN4)
    busy = measurement(hw, {"32-true": 0.087, "bf16-mixed": 0.047}) | {"busy": True, "load_average": 10.2}
    choice = choose(hw, measured=busy)
    assert choice.precision == "bf16-mixed" and "not measured" in choice.reason
