"""Choose accelerator, device count and Lightning precision from a ``utils.machine.hardware.Hardware``.

Policy (user overrides always win):

- CUDA, capability >= 8.0 (Ampere, Ada, Hopper, Blackwell): ``bf16-mixed``. bf16 has float32's
  exponent range, so the GAN losses of VITS cannot overflow and no gradient scaler is needed.
- CUDA, capability 7.x (Volta, Turing): ``16-mixed``. Tensor cores exist but have no bf16.
- CUDA below 7.0: ``32-true``; no tensor cores, fp16 buys little and risks overflow.
- MPS (Apple): ``32-true``. Not measured by this project (no Apple GPU on our machines); bf16
  autocast on MPS depends on the macOS version and fp16 GAN training needs a scaler, so the
  choice that is correct everywhere wins until someone measures otherwise.
- CPU: ``bf16-mixed`` where the CPU computes bf16 natively (AVX512-BF16 on AMD Zen 4+ and Intel
  Cooper Lake, AMX on Intel Sapphire Rapids+: 1.3x the training speed of fp32 on our Zen 4),
  else ``32-true`` (bf16-mixed measured ~10x slower than fp32 on an AVX2-only CPU, 1.8x slower per
  batch on an AVX-512 Intel Xeon without BF16).

A rule cannot know every device: where ``utils.machine.precision_probe`` timed the candidates on
this device with this torch (``pixi run postinstall`` records it in the machine profile), the
measured choice wins over the rule, and the reason says so with its figures and date. An
explicit precision is warned about only where it measured slower than the choice (or, never
measured, where the rule knows it to be slow).

A CUDA device whose architecture is not in the torch build's arch list (an sm_120 card with a
torch built for CUDA < 12.8) cannot run a single kernel. Auto mode then falls back to the CPU
and says why; an explicit ``accelerator="cuda"`` raises ``PolicyError`` with the remedy.
"""

from __future__ import annotations

import dataclasses

from utils.errors import UserError
from utils.machine import precision_probe
from utils.machine.hardware import Hardware, arch_supported

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
PRECISIONS = ("32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true",
              "64-true", "64")
# Lightning's short spellings of the same precisions.
ALIASES = {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed", "64": "64-true"}
CUDA_ARCH_REMEDY = (
    "install the cuda12 environment (`pixi install -e cuda12`: a torch built with CUDA >= 12.8, "
    "which has sm_120 kernels) or pass --accelerator cpu"
)


class PolicyError(UserError, ValueError):
    """The requested accelerator/precision cannot run here; the message carries the fix."""

    exit_code = 2


@dataclasses.dataclass(frozen=True)
class Choice:
    accelerator: str  # Lightning accelerator: "cpu", "cuda" or "mps"
    devices: int
    precision: str  # Lightning precision string
    reason: str
    tf32: bool  # whether TF32 / "high" float32 matmul precision applies to this device
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"warnings": list(self.warnings)}


def _default_precision(hw: Hardware, accelerator: str, measured: dict | None) -> tuple[str, str]:
    if precision_probe.matches(measured, hw, accelerator):
        choice, _, why = precision_probe.describe(measured).partition(": ")
        return choice, why
    if accelerator == "cuda":
        major, minor = hw.capability or (0, 0)
        cap = f"capability {major}.{minor} ({hw.device_name or 'CUDA device'})"
        if major >= 8:
            return "bf16-mixed", f"{cap} >= 8.0 has bf16 tensor cores; bf16 needs no gradient scaler"
        if major == 7:
            return "16-mixed", f"{cap} is 7.x: fp16 tensor cores, no bf16"
        return "32-true", f"{cap} < 7.0 has no tensor cores"
    if accelerator == "mps":
        return "32-true", "Apple MPS: mixed precision not measured by this project; fp32 is the safe choice"
    if hw.cpu_bf16:
        flags = "/".join(f for f in hw.cpu_flags if "bf16" in f)
        return "bf16-mixed", (f"the CPU computes bf16 natively ({flags}); not measured on this machine yet "
                              "(`pixi run postinstall` times it)")
    return "32-true", ("CPU without AVX512-BF16/AMX: bf16 autocast measured slower than fp32 there "
                       "(1.8x per batch with AVX-512, ~10x with AVX2 only)")


def _override_warnings(hw: Hardware, acc: str, prec: str, measured: dict | None) -> list[str]:
    """Warn about an explicit precision only where it measured slower, or where the rule knows it is."""
    prec = ALIASES.get(prec, prec)
    if precision_probe.matches(measured, hw, acc):
        when = measured["measured_on"]
        if prec in measured.get("rejected", {}):
            return [f"precision {prec} was passed over on this device: {measured['rejected'][prec]} ({when})"]
        ratio = precision_probe.speed_ratio(measured, prec)
        if ratio is not None and ratio < 1.0:
            return [f"precision {prec} measured {ratio:.2f}x the steps/s of {measured['choice']} on this "
                    f"device ({when})"]
        if ratio is not None:
            return []
    if acc == "cpu" and prec.startswith("bf16") and not hw.cpu_bf16:
        return [f"precision {prec} on a CPU without AVX512-BF16/AMX is usually much slower than 32-true"]
    if acc == "cpu" and prec.startswith("16"):
        return [f"precision {prec} on CPU is usually much slower than 32-true"]
    if acc == "cuda" and prec.startswith("bf16") and (hw.capability or (0, 0))[0] < 8:
        return [f"precision {prec} on capability {hw.capability} (< 8.0) is emulated and slow"]
    return []


def choose(hw: Hardware, accelerator: str | None = None, precision: str | None = None,
           measured: dict | None = None) -> Choice:
    """Pick accelerator, devices and precision; ``accelerator``/``precision`` override the policy.

    ``measured``: the machine profile's precision measurement (``precision_probe.measure``); used
    only when it was taken on this device with this torch."""
    requested = (accelerator or "auto").lower()
    if requested not in ACCELERATORS:
        raise PolicyError(f"unknown accelerator {accelerator!r}; use one of {', '.join(ACCELERATORS)}")
    if requested == "gpu":
        requested = "cuda" if hw.cuda_available or not hw.mps_available else "mps"
    if precision is not None and str(precision) not in PRECISIONS:
        raise PolicyError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")

    warnings: list[str] = []
    cuda_ok = hw.cuda_available and hw.capability is not None
    arch_ok = cuda_ok and arch_supported(hw.capability, hw.arch_list)
    if requested == "cuda":
        if not hw.cuda_available:
            raise PolicyError("accelerator 'cuda' requested but torch sees no CUDA device "
                              f"(torch {hw.torch_version}, CUDA build {hw.torch_cuda_version}); "
                              "install the cuda12 environment or pass --accelerator cpu")
        if not arch_ok:
            raise PolicyError(f"{hw.device_name} is {hw.sm} but this torch build only has kernels for "
                              f"{', '.join(hw.arch_list) or 'no CUDA arch'}; {CUDA_ARCH_REMEDY}")
        acc, why = "cuda", "requested"
    elif requested == "mps":
        if not hw.mps_available:
            raise PolicyError("accelerator 'mps' requested but torch reports MPS unavailable "
                              "(needs Apple Silicon and macOS >= 12.3); pass --accelerator cpu")
        acc, why = "mps", "requested"
    elif requested == "cpu":
        acc, why = "cpu", "requested"
    elif cuda_ok and arch_ok:
        acc, why = "cuda", "CUDA device found"
    elif cuda_ok:
        acc, why = "cpu", f"CUDA device {hw.sm} unusable by this torch build, fell back to CPU"
        warnings.append(f"{hw.device_name} ({hw.sm}) is not in torch.cuda.get_arch_list() "
                        f"{list(hw.arch_list)}; {CUDA_ARCH_REMEDY}")
    elif hw.mps_available:
        acc, why = "mps", "Apple MPS found"
    else:
        acc, why = "cpu", "no CUDA or MPS device"
        if hw.nvidia_smi_gpus:
            warnings.append(f"nvidia-smi sees {', '.join(hw.nvidia_smi_gpus)} but this torch "
                            f"({hw.torch_version}) has no CUDA; install the cuda12 environment")

    auto_prec, prec_why = _default_precision(hw, acc, measured)
    if precision is not None:
        prec, prec_why = str(precision), "requested"
        warnings += _override_warnings(hw, acc, prec, measured)
    else:
        prec = auto_prec
    tf32 = acc == "cuda" and (hw.capability or (0, 0))[0] >= 8
    return Choice(accelerator=acc, devices=1, precision=prec, reason=f"{why}; {prec}: {prec_why}",
                  tf32=tf32, warnings=tuple(warnings))
