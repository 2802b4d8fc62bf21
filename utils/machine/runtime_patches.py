"""Runtime patches for the training process: device/precision choice, torch flags, piper fixes.

Call ``apply_runtime_patches()`` inside the process that trains, before building the Trainer.
These are per-process settings: applied at image build time or in another process they would have
no effect on training.
"""

from __future__ import annotations

from utils.machine import cpu_share, hardware, heap, machine_profile, piper_compat, precision_policy, step_patches


def fit_threads_to_share() -> dict:
    """Torch's intra-op threads: no more than the CPUs this process may use (mask and cgroup quota).

    torch starts one thread per core it sees; under a quota of fewer CPUs (Slurm, docker --cpus)
    those threads spin and wait on each other, each throttled every period."""
    import torch

    share = cpu_share.usable_cpus()
    if torch.get_num_threads() > share:
        torch.set_num_threads(share)
    return {"torch_threads": torch.get_num_threads(), "share": cpu_share.describe()}


def _set_torch_flags(choice: precision_policy.Choice) -> dict:
    import torch

    applied: dict = {}
    if choice.accelerator == "cuda":
        # cuDNN autotunes every new input shape, and VITS's text encoder, posterior encoder, flow and
        # duration predictor see each batch's whole padded length. The run batches by length and
        # rounds padded lengths (utils/voice/data/length_batches.py), so shapes repeat: on 400 clips
        # of 1-10 s at batch 16, 33 distinct shapes in 10 epochs, 2 of them first seen after epoch 5
        # (random batches: 107, still 35 new after epoch 5, i.e. a re-benchmark every few batches,
        # each taking 2.5-4 s instead of a fraction of one). So autotuning is paid in the first
        # epochs and then pays.
        torch.backends.cudnn.benchmark = True
        applied["cudnn.benchmark"] = True
    if choice.tf32:
        matmul = torch.backends.cuda.matmul
        conv = getattr(torch.backends.cudnn, "conv", None)
        if hasattr(matmul, "fp32_precision") and conv is not None and hasattr(conv, "fp32_precision"):
            # torch >= 2.9 API; the legacy allow_tf32 setters are deprecated there.
            matmul.fp32_precision = "tf32"
            conv.fp32_precision = "tf32"
        else:
            matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        applied["tf32.matmul"] = True
        applied["tf32.cudnn"] = True
        # Only on CUDA: on CPU this global also lets oneDNN run float32 matmuls at lower precision.
        torch.set_float32_matmul_precision("high")
        applied["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return applied


def active_patches() -> list[str]:
    """Every patch live in this process: piper's compatibility patches, then the step patches."""
    return piper_compat.active_patches() + [name for name, on in step_patches.active_step_patches().items() if on]


def apply_runtime_patches(accelerator: str | None = None, precision: str | None = None,
                          piper: bool = True, measured: dict | None = None) -> dict:
    """Choose device and precision, set this process's torch flags, install piper's compat patches.

    Idempotent. ``accelerator``/``precision`` (Lightning strings) override the policy; bad values
    raise ``precision_policy.PolicyError`` (a ValueError) whose message names the fix. ``measured``
    is a precision measurement; by default the machine profile's (used only if it was taken on this
    device with this torch). Returns ``{"accelerator", "devices", "precision", "reason", "warnings",
    "applied", "threads", "piper_patches", "hardware"}`` so callers can print and record what was done.
    """
    hw = hardware.probe()
    if measured is None:
        measured = machine_profile.recorded_measurement()
    choice = precision_policy.choose(hw, accelerator=accelerator, precision=precision, measured=measured)
    applied = _set_torch_flags(choice)
    if choice.accelerator == "cpu":
        # A CPU step frees and re-asks for hundreds of MB a batch: keep it instead of re-faulting it.
        applied["heap"] = heap.keep_freed_memory()
    # The step patches too: without them every batch waits on the device dozens of times.
    patches = piper_compat.install_piper_patches() + step_patches.install_step_patches() if piper else []
    # macOS: piper's espeak-ng cuts data paths over 159 bytes, and a project ~90 characters deep is enough.
    from utils.machine.espeak_path import guard_espeak_data_path

    if piper and (link := guard_espeak_data_path()):
        applied["espeak-ng data path"] = f"short link {link}"
    return {
        "accelerator": choice.accelerator,
        "devices": choice.devices,
        "precision": choice.precision,
        "reason": choice.reason,
        "warnings": list(choice.warnings),
        "applied": applied,
        "threads": fit_threads_to_share(),
        "piper_patches": patches,
        "hardware": hw.as_dict(),
    }
