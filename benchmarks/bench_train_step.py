"""Time VITS training steps in THIS process: with the coaxial patches, or piper's plain fp32.

    python -m benchmarks.bench_train_step --mode patched --steps 20   # policy precision, TF32, cudnn
    python -m benchmarks.bench_train_step --mode plain --steps 20     # 32-true, TF32 off

Run each mode in its own process (the flags are per-process); benchmarks/gpu_check.sh does that
and prints the ratio. The model is piper's default ("low"-quality) VitsModel on a synthetic batch
(sine sweeps, real spectrograms). Prints one JSON object: median step time and steps/s.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("patched", "plain"), required=True)
    parser.add_argument("--steps", type=int, default=20, help="timed batches (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length of the synthetic batch")
    parser.add_argument("--accelerator", default=None, help="default: the policy's choice")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1:
        print("error: --steps and --batch-size must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2

    import torch
    from piper.train.vits.lightning import VitsModel

    from utils.machine import piper_compat
    from utils.machine.runtime_patches import apply_runtime_patches
    from utils.machine.smoke_step import TINY_MODEL, train_steps

    if args.mode == "patched":
        runtime = apply_runtime_patches(accelerator=args.accelerator)
        accelerator, precision = runtime["accelerator"], runtime["precision"]
    else:
        piper_compat.install_mas_kernel()  # needed by any piper training, patched or not
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        accelerator = args.accelerator or ("cuda" if torch.cuda.is_available() else "cpu")
        precision = "32-true"
    # piper's own defaults (its "low" voice) for every size the tiny verify model shrinks.
    sig = inspect.signature(VitsModel.__init__).parameters
    overrides = {k: sig[k].default for k in TINY_MODEL if k not in ("num_symbols", "mos_metric")}
    result = train_steps(accelerator, precision, steps=args.steps, warmup=args.warmup,
                         batch_size=args.batch_size, model_overrides=overrides, seconds=args.seconds)
    median = statistics.median(result["step_times_s"])
    print(json.dumps({"mode": args.mode, "accelerator": accelerator, "precision": precision,
                      "batch_size": args.batch_size, "steps": args.steps, "median_step_s": round(median, 4),
                      "steps_per_s": round(1 / median, 3), "finite": result["finite"],
                      "device": torch.cuda.get_device_name(0) if accelerator == "cuda" else "cpu"}))
    return 0 if result["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
