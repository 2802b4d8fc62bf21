"""Training steps/s of piper's VITS on real-shaped batches: plain piper, or the project's step.

    python -m benchmarks.bench_train_step --mode plain   --quality medium --batch-size 16 --steps 40
    python -m benchmarks.bench_train_step --mode patched --quality medium --batch-size 16 --steps 40

plain:   piper's own step as installed (fp32, TF32 off, cudnn.benchmark off); only the alignment
         kernel piper's wheel lacks is provided.
patched: the project's step: ``apply_runtime_patches`` (precision policy, TF32, the piper step
         patches of ``utils.machine.step_patches``), exactly what ``tasks.train`` applies.

The data (``benchmarks.train_step_data``) is generated: clips of 1-10 s whose audio is exactly
frames x hop, phonemised by piper's espeak bridge, collated by piper's collate, in the same
shuffled order for both modes. Run each mode in its own process (the flags are per-process);
``benchmarks/gpu_check.sh`` does. Steps/s is timed over the batches after ``--warmup`` with one
device sync at each end (none per batch, which would add the very stalls being measured). After
training, the validation mel L1 (fp32, eval mode, fixed seed) over held-out clips shows both modes
learn alike. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def build_parser(mode_default: str | None = None) -> argparse.ArgumentParser:
    """The arguments; ``mode_default`` makes ``--mode`` optional (for scripts built on this one)."""
    parser = argparse.ArgumentParser(prog="bench_train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("patched", "plain"), required=mode_default is None, default=mode_default)
    parser.add_argument("--quality", choices=("x_low", "low", "medium", "high"), default="medium")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40, help="timed batches (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first (default: %(default)s)")
    parser.add_argument("--clips", type=int, default=400, help="generated clips (default: %(default)s)")
    parser.add_argument("--val-clips", type=int, default=16, help="of those, held out for validation")
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--segment-size", type=int, default=8192)
    parser.add_argument("--data", type=Path, default=None, help="cache file for the generated clips")
    parser.add_argument("--accelerator", default=None, help="default: CUDA when present, else CPU")
    parser.add_argument("--precision", default=None,
                        help="patched mode only: a Lightning precision instead of the policy's choice "
                             "(32-true compares with plain piper on a bf16 CPU)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write torch.profiler's table of the last 3 warm-up batches here, headed by "
                             "host-sync events per batch (cudaStreamSynchronize, cudaMemcpyAsync)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-only", action="store_true", help="only generate (or check) --data, no training")
    return parser


def setup_mode(mode: str, accelerator: str | None, precision: str | None = None) -> tuple[str, str]:
    import torch

    from utils.machine import piper_compat
    from utils.machine.runtime_patches import apply_runtime_patches

    if mode == "patched":
        runtime = apply_runtime_patches(accelerator=accelerator, precision=precision)
        return runtime["accelerator"], runtime["precision"]
    piper_compat.install_mas_kernel()  # needed by any piper training, patched or not
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    return accelerator or ("cuda" if torch.cuda.is_available() else "cpu"), "32-true"


def make_model(args, sample_rate: int):
    from piper.train.vits.lightning import VitsModel

    from utils.voice.run_config import QUALITIES

    return VitsModel(batch_size=args.batch_size, sample_rate=sample_rate, segment_size=args.segment_size,
                     mos_metric="none", **QUALITIES[args.quality]["model"])


def _validation_mel(model, batches: list, seed: int) -> float:
    import torch
    from lightning.fabric.utilities import move_data_to_device

    model.eval()
    torch.manual_seed(seed)
    values = []
    with torch.no_grad(), torch.autocast(model.device.type, enabled=False):
        for batch in batches:
            _, _, metrics = model._compute_loss(move_data_to_device(batch, model.device))
            values.append(metrics["mel"].float())
    return float(torch.stack(values).mean())


# A device->host read or blocking copy shows as cudaStreamSynchronize. aten::_local_scalar_dense
# (.item()) is left out: torch.optim's CPU step counters make hundreds per batch that never wait.
SYNC_EVENTS = ("cudaStreamSynchronize", "cudaMemcpyAsync")


def _write_profile(profiler, path: Path, batches: int) -> None:
    """torch.profiler's table, headed by the host-sync events per batch (what the patches remove)."""
    events = profiler.key_averages()
    counts = {e.key: e.count for e in events if e.key in SYNC_EVENTS}
    head = ", ".join(f"{key} {counts.get(key, 0) / batches:.1f}" for key in SYNC_EVENTS)
    path.write_text(f"per batch over {batches} warm-up batches: {head}\n\n"
                    + events.table(sort_by="self_cpu_time_total", row_limit=40))


def _timer(accelerator: str, warmup: int, profile: Path | None):
    import lightning as L
    import torch

    def sync():
        if accelerator == "cuda":
            torch.cuda.synchronize()

    # The profiler watches the last (up to) 3 warm-up batches, so it never slows the timed ones.
    profiled = (max(0, warmup - 3), warmup - 1) if profile is not None and warmup > 0 else None

    class Timer(L.Callback):
        """Host time at each batch end (no per-batch sync); synced start/end of the timed window."""

        def __init__(self):
            self.ends: list[float] = []
            self.start = self.stop = None
            self.profiler = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if profiled and batch_idx == profiled[0]:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if accelerator == "cuda":
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                self.profiler = torch.profiler.profile(activities=activities)
                self.profiler.__enter__()
            if batch_idx == warmup:
                sync()
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.ends.append(time.perf_counter())
            if self.profiler is not None and batch_idx == profiled[1]:
                sync()
                self.profiler.__exit__(None, None, None)
                _write_profile(self.profiler, profile, profiled[1] - profiled[0] + 1)
                self.profiler = None

        def on_train_end(self, trainer, pl_module):
            sync()
            self.stop = time.perf_counter()

    return Timer()


def run(args) -> dict:
    import lightning as L
    import torch

    from benchmarks import train_step_data
    from utils.voice.run_config import QUALITIES

    accelerator, precision = setup_mode(args.mode, args.accelerator, args.precision)
    sample_rate = QUALITIES[args.quality]["sample_rate"]
    torch.manual_seed(args.seed)
    model = make_model(args, sample_rate)
    hp = model.hparams
    clips = train_step_data.load_or_make(
        args.data, args.clips, sample_rate=sample_rate, hop=hp.hop_length, filter_length=hp.filter_length,
        win_length=hp.win_length, min_s=args.min_seconds, max_s=args.max_seconds, seed=args.seed)
    if args.data_only:
        seconds = sum(c.audio_norm.numel() for c in clips) / sample_rate
        return {"clips": len(clips), "audio_s": round(seconds, 1), "data": str(args.data)}
    train, held_out = clips[:-args.val_clips], clips[-args.val_clips:]
    total = args.warmup + args.steps
    batches = train_step_data.batches(train, args.batch_size, total, hp.segment_size, seed=args.seed)
    val = train_step_data.batches(held_out, min(args.batch_size, len(held_out)), 1, hp.segment_size)
    timer = _timer(accelerator, args.warmup, args.profile)
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision, max_steps=2 * total,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=[timer])
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    timed = args.steps
    # Per-batch host times after the warm-up (batch-end to batch-end): spikes show as max >> median.
    gaps = [b - a for a, b in zip(timer.ends[args.warmup:-1], timer.ends[args.warmup + 1:], strict=True)]
    elapsed = timer.stop - timer.start
    return {
        "mode": args.mode, "accelerator": accelerator, "precision": precision, "quality": args.quality,
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "steps_per_s": round(timed / elapsed, 4) if elapsed > 0 and timed > 0 else None,
        "median_batch_s": round(statistics.median(gaps), 4) if gaps else None,
        "max_batch_s": round(max(gaps), 4) if gaps else None,
        "val_mel": round(_validation_mel(model, val, args.seed), 5),
        "device": torch.cuda.get_device_name(0) if accelerator == "cuda" else "cpu",
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1 or args.segment_size % 256:
        print("error: --steps and --batch-size must be >= 1, --warmup >= 0, --segment-size a multiple of 256",
              file=sys.stderr)
        return 2
    if not args.data_only and (args.clips - args.val_clips < args.batch_size or args.val_clips < 1):
        print(f"error: --clips {args.clips} leaves fewer than --batch-size {args.batch_size} training clips "
              f"after --val-clips {args.val_clips}", file=sys.stderr)
        return 2
    result = run(args)
    print(json.dumps(result), flush=True)
    return 0 if result.get("val_mel", 0) == result.get("val_mel", 0) else 1  # NaN: training diverged


if __name__ == "__main__":
    sys.exit(main())
