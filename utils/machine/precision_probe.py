"""Which precision trains fastest on this device, by measurement: a few real steps in each candidate.

A rule cannot know everything: bf16 autocast is slower than fp32 on a CPU without bf16 (1.8x to 10x) and
faster on one with AVX512-BF16 (1.3x on our Zen 4), and a CUDA 7.x card may or may not gain from
fp16. ``measure`` trains piper's VITS at the demo's size (x_low, batch 2, segment 4096, on a
generated batch of real-shaped audio) for a few steps in each candidate precision, alternating
rounds so a change in machine load hits every candidate alike, and keeps the fastest whose
losses stay finite and close to 32-true's. ``utils.machine.machine_profile`` records the result;
``precision_policy.choose`` uses it when it was taken on this device with this torch.
"""

from __future__ import annotations

import datetime
import math
import os
import statistics
import time

from utils.machine.hardware import Hardware

# piper's network at the x_low quality the CPU demo trains (its defaults fill the rest).
PROBE_MODEL = dict(num_symbols=256, hidden_channels=96, inter_channels=96, filter_channels=384,
                   segment_size=4096, sample_rate=16000, mos_metric="none")
PROBE_BATCH = dict(batch_size=2, seconds=1.0)
REFERENCE = "32-true"
MIN_GAIN = 1.05     # a candidate must beat 32-true by this much: smaller gaps are within the noise
LOSS_TOLERANCE = 0.05  # relative difference of loss_g from 32-true's after the same steps and seed
BUSY_LOAD_PER_CPU = 2.0  # a load average above this many per CPU: other work distorts the timing


def candidates(hw: Hardware, accelerator: str) -> tuple[str, ...]:
    """The precisions worth timing here; fewer than two means the rule decides alone."""
    if accelerator == "cpu":
        return (REFERENCE, "bf16-mixed") if hw.cpu_bf16 else ()
    if accelerator == "cuda" and hw.capability is not None and hw.capability[0] == 7:
        return (REFERENCE, "16-mixed")
    return ()


def device_key(hw: Hardware, accelerator: str) -> dict:
    """What a measurement is valid for: the same device model under the same torch."""
    device = hw.device_name if accelerator == "cuda" else hw.cpu_model or hw.machine
    return {"accelerator": accelerator, "device": device, "torch_version": hw.torch_version}


def matches(record: dict | None, hw: Hardware, accelerator: str) -> bool:
    """Whether ``record`` was timed on this device with this torch, on a machine that was not busy."""
    return (bool(record) and not record.get("busy")
            and all(record.get(k) == v for k, v in device_key(hw, accelerator).items()))


def pick(steps_per_s: dict[str, float], loss_g: dict[str, float]) -> tuple[str, dict[str, str]]:
    """The fastest precision that trains like 32-true, and why each other one was passed over."""
    reference_loss = loss_g.get(REFERENCE, math.nan)
    rejected: dict[str, str] = {}
    best = REFERENCE
    for precision, rate in steps_per_s.items():
        if precision == REFERENCE:
            continue
        loss = loss_g.get(precision, math.nan)
        if not math.isfinite(loss):
            rejected[precision] = "non-finite loss"
        elif abs(loss - reference_loss) > LOSS_TOLERANCE * abs(reference_loss):
            rejected[precision] = f"loss_g {loss:.3f} vs {reference_loss:.3f} in {REFERENCE}"
        elif rate < MIN_GAIN * steps_per_s[REFERENCE]:
            rejected[precision] = f"{rate / steps_per_s[REFERENCE]:.2f}x the steps/s of {REFERENCE}"
        elif rate > steps_per_s[best] or best == REFERENCE:
            best = precision
    return best, rejected


def measure(hw: Hardware, accelerator: str, rounds: int = 2, steps: int = 3, progress=None) -> dict | None:
    """Time ``rounds`` x ``steps`` batches per candidate (after one warm-up batch each round).

    Returns the record the profile keeps, or None when there is nothing to choose between."""
    from utils.machine.smoke_step import train_steps
    from utils.machine.step_patches import install_step_patches

    precisions = candidates(hw, accelerator)
    if len(precisions) < 2:
        return None
    # Time the step training runs: with the step patches (one discriminator forward a batch, fused AdamW),
    # which cut fp32's and bf16's batch times by different amounts (0.69x and 0.60x here).
    install_step_patches()
    times: dict[str, list[float]] = {p: [] for p in precisions}
    loss_g: dict[str, float] = {}
    started = time.perf_counter()
    for round_index in range(rounds):
        # Alternate the order too, so neither precision always runs first after the other.
        for precision in precisions if round_index % 2 == 0 else precisions[::-1]:
            if progress:
                progress(f"round {round_index + 1}/{rounds}: {precision}")
            result = train_steps(accelerator, precision, steps=steps, warmup=1, base_model=PROBE_MODEL,
                                 **PROBE_BATCH)
            times[precision] += result["step_times_s"]
            loss = result["losses"].get("loss_g", math.nan)
            loss_g[precision] = loss if result["finite"] else math.nan
    steps_per_s = {p: 1.0 / statistics.median(t) for p, t in times.items()}
    # Other busy processes distort the ratio (at load 10 on 2 cores bf16 timed 0.54x of fp32, on a
    # quiet machine 1.3x): a busy record is kept for the reader but not used, and the next
    # postinstall or verify times again.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    choice, rejected = pick(steps_per_s, loss_g)
    return device_key(hw, accelerator) | {
        "measured_on": datetime.date.today().isoformat(),
        "model": "x_low, batch 2, segment 4096",
        "steps_per_s": {p: round(v, 4) for p, v in steps_per_s.items()},
        "loss_g": {p: round(v, 4) if math.isfinite(v) else None for p, v in loss_g.items()},
        "choice": choice,
        "rejected": rejected,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": round(load, 2) if load is not None else None,
        "busy": load is not None and load > BUSY_LOAD_PER_CPU * (os.cpu_count() or 1),
    }


def describe(record: dict) -> str:
    """Why the measured choice: "bf16-mixed: 1.31x the steps/s of 32-true on this CPU, measured on DATE"."""
    rates, choice = record["steps_per_s"], record["choice"]
    where = "this CPU" if record["accelerator"] == "cpu" else "this GPU"
    when = f"measured on {record['measured_on']}"
    if choice != REFERENCE:
        return f"{choice}: {rates[choice] / rates[REFERENCE]:.2f}x the steps/s of {REFERENCE} on {where}, {when}"
    others = "; ".join(f"{p}: {why}" for p, why in record.get("rejected", {}).items())
    return f"{REFERENCE}: kept on {where} ({others}), {when}"


def speed_ratio(record: dict, precision: str) -> float | None:
    """Steps/s of ``precision`` over that of the measured choice (None if it was not measured)."""
    rates = record.get("steps_per_s", {})
    if precision not in rates or record["choice"] not in rates:
        return None
    return rates[precision] / rates[record["choice"]]
