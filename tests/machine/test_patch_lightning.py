"""apply_runtime_patches(): in-process flags, device/precision choice, piper compatibility patches."""

from __future__ import annotations

import platform
import sys

import pytest
import torch

from utils import patch_lightning
from utils.machine import hardware, piper_compat, step_patches
from utils.machine.hardware import Hardware
from utils.machine.precision_policy import PolicyError


@pytest.fixture
def restore_torch_flags():
    """The flags are process-global; put them back so other tests see torch's defaults."""
    matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None)
    saved = (torch.backends.cudnn.benchmark, getattr(matmul, "fp32_precision", None),
             getattr(conv, "fp32_precision", None), torch.get_float32_matmul_precision())
    yield
    torch.backends.cudnn.benchmark = saved[0]
    if saved[1] is not None:
        matmul.fp32_precision = saved[1]
    if saved[2] is not None:
        conv.fp32_precision = saved[2]
    torch.set_float32_matmul_precision(saved[3])


def fake_ampere() -> Hardware:
    """FAKE probe of an A100: lets the flag-setting path run on this GPU-less machine."""
    return Hardware(torch_version=torch.__version__, torch_cuda_version="12.8", cuda_available=True,
                    device_count=1, device_name="FAKE A100", capability=(8, 0), arch_list=("sm_80", "sm_90"),
                    mps_available=False, nvidia_smi_gpus=("FAKE A100",), machine="x86_64", system="Linux",
                    cpu_count=8)


def fake_cpu_only() -> Hardware:
    """FAKE probe of a machine without GPU: the CPU path, whatever this test machine has."""
    return Hardware(torch_version=torch.__version__, torch_cuda_version=None, cuda_available=False,
                    device_count=0, device_name=None, capability=None, arch_list=(),
                    mps_available=False, nvidia_smi_gpus=(), machine="x86_64", system="Linux", cpu_count=8)


def test_without_a_gpu_it_picks_cpu_fp32_and_installs_piper_patches(monkeypatch, restore_torch_flags):
    monkeypatch.setattr(hardware, "probe", fake_cpu_only)
    result = patch_lightning.apply_runtime_patches()
    assert (result["accelerator"], result["devices"], result["precision"]) == ("cpu", 1, "32-true")
    # no CUDA flags; the CPU step keeps its freed memory where the C library allows it
    assert result["reason"] and list(result["applied"]) == ["heap"]
    assert result["applied"]["heap"].startswith("kept (glibc" if platform.libc_ver()[0] == "glibc" else "unchanged")
    assert [p.split(":")[0] for p in result["piper_patches"]] == ["mas-kernel", "onnx-torchscript-exporter",
                                                                  *step_patches.STEP_PATCHES]
    assert "mas-kernel" in piper_compat.active_patches()
    # on CPU the global matmul precision must stay as torch left it (oneDNN would honour it)
    assert torch.get_float32_matmul_precision() == "highest"


def test_second_call_applies_the_same_and_changes_nothing(restore_torch_flags):
    first = patch_lightning.apply_runtime_patches()
    second = patch_lightning.apply_runtime_patches()
    assert first == second
    # the exporter patch exists for torch >= 2.9 (dynamo by default); below that it is not applied
    gated_in = piper_compat._torch_version() >= (2, 9)
    assert ("onnx-torchscript-exporter" in piper_compat.active_patches()) == gated_in
    # piper's exporter is patched in place once imported, else by one import hook (not one per call)
    hooks = sum(getattr(f, "__coaxial__", False) for f in sys.meta_path)
    assert hooks == (0 if piper_compat.ONNX_MODULE in sys.modules or not gated_in else 1)


@pytest.fixture
def isolated_onnx_patch(monkeypatch):
    """The exporter patch changes process state (an import hook, piper's module): undo it afterwards."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    module = sys.modules.get(piper_compat.ONNX_MODULE)
    if module is not None:
        monkeypatch.setattr(module, "torch", module.torch)
        module.torch = torch  # start from piper's own import
    return module


@pytest.mark.parametrize("fake_torch", [(2, 8), (2, 9), (2, 13)])
def test_onnx_exporter_patch_on_both_sides_of_its_torch_gate(monkeypatch, isolated_onnx_patch, fake_torch):
    # FAKE torch versions: only one torch is installed, so the other side of the gate is faked.
    monkeypatch.setattr(piper_compat, "_torch_version", lambda: fake_torch)
    if isolated_onnx_patch is None:
        monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not getattr(f, "__coaxial__", False)])
    line = piper_compat.patch_onnx_export()
    live = "onnx-torchscript-exporter" in piper_compat.active_patches()
    if fake_torch < (2, 9):
        assert "not needed" in line and not live and piper_compat.onnx_export_kwargs() == {}
    else:
        assert "dynamo=False" in line and live and piper_compat.onnx_export_kwargs() == {"dynamo": False}


def test_torch_version_reads_local_build_labels(monkeypatch):
    for text, want in [("2.8.0+cu128", (2, 8)), ("2.13.0+cpu", (2, 13)), ("2.10.0a0+git1234", (2, 10))]:
        monkeypatch.setattr(torch, "__version__", text)
        assert piper_compat._torch_version() == want


def test_fake_ampere_gets_tf32_cudnn_benchmark_and_bf16_in_this_process(monkeypatch, restore_torch_flags):
    monkeypatch.setattr(hardware, "probe", fake_ampere)
    result = patch_lightning.apply_runtime_patches(piper=False)
    assert (result["accelerator"], result["precision"]) == ("cuda", "bf16-mixed")
    assert result["applied"] == {"cudnn.benchmark": True, "tf32.matmul": True, "tf32.cudnn": True,
                                 "float32_matmul_precision": "high"}
    assert torch.backends.cudnn.benchmark is True
    assert torch.get_float32_matmul_precision() == "high"
    assert torch.backends.cuda.matmul.allow_tf32 is True


def test_user_precision_override_is_honoured(monkeypatch, restore_torch_flags):
    monkeypatch.setattr(hardware, "probe", fake_ampere)
    result = patch_lightning.apply_runtime_patches(precision="32-true", piper=False)
    assert result["precision"] == "32-true" and result["reason"].endswith("requested")


def test_bad_override_raises_policy_error_naming_the_choices():
    with pytest.raises(PolicyError, match="use one of"):
        patch_lightning.apply_runtime_patches(precision="half")


def test_torch_threads_never_exceed_the_cpu_share(restore_torch_flags):
    from utils.machine import cpu_share

    result = patch_lightning.apply_runtime_patches(piper=False)
    assert 1 <= result["threads"]["torch_threads"] == torch.get_num_threads() <= cpu_share.usable_cpus()
    assert "CPUs (affinity mask" in result["threads"]["share"]
