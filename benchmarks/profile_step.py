"""Where a training batch's time goes, by part of piper's network (forward and backward apart).

    python -m benchmarks.profile_step                # plain piper's step, medium, batch 4, fp32
    python -m benchmarks.profile_step --mode patched --precision 32-true --quality medium --batch-size 4

Same model, data and step as ``benchmarks.bench_train_step`` (it reuses that script's setup and
generated clips). After ``--warmup`` untimed batches, ``--batches`` batches are timed with hooks:

- forward of each part (text encoder ``enc_p``, posterior encoder ``enc_q``, flow, decoder ``dec``,
  duration predictor ``dp``, each discriminator family): module pre/post forward hooks, inclusive;
- backward of each part: from the first gradient reaching the module's outputs to the gradient of
  its inputs (full backward hooks). Autograd may interleave independent branches, so a part's
  backward span can hold a little of another's; the CPU runs ops synchronously, so spans are
  wall time of real work;
- the alignment (monotonic alignment search, inside the generator's forward), the mel and STFT
  work, and each optimiser's step, by wrapping the functions piper calls;
- the whole batch, batch start to batch end.

Prints a Markdown table of milliseconds per batch (median over the timed batches) and each row's
share of the batch. On a GPU the hooks would time kernel launches, not kernels: CPU only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

from benchmarks import bench_train_step

GENERATOR_PARTS = ("enc_p", "enc_q", "flow", "dec", "dp")


def _parser() -> argparse.ArgumentParser:
    parser = bench_train_step.build_parser(mode_default="plain")
    parser.prog = "profile_step"
    parser.description = __doc__.splitlines()[0]
    parser.set_defaults(warmup=2, steps=1, clips=40, val_clips=4, batch_size=4, precision="32-true")
    parser.add_argument("--batches", type=int, default=3, help="timed batches (default: %(default)s)")
    return parser


PART = "part: "


def _in_range(owner, attribute: str, name: str) -> None:
    """Run ``owner.attribute`` inside a profiler range named ``part: name``."""
    import torch

    original = getattr(owner, attribute)

    def ranged(*args, **kwargs):
        with torch.profiler.record_function(PART + name):
            return original(*args, **kwargs)

    setattr(owner, attribute, ranged)


def instrument(model) -> None:
    """Profiler ranges around the generator's parts, the discriminators, mel work and alignment."""
    import piper.train.vits.lightning as vits_lightning
    import piper.train.vits.monotonic_align as alignment

    for part in GENERATOR_PARTS:
        _in_range(getattr(model.model_g, part), "forward", part)
    _in_range(model.model_d, "forward", "period discriminator")
    if getattr(model, "model_mrd", None) is not None:
        _in_range(model.model_mrd, "forward", "resolution discriminator")
    for function in ("mel_spectrogram_torch", "spec_to_mel_torch"):
        _in_range(vits_lightning, function, "mel and STFT")
    _in_range(alignment, "maximum_path", "alignment")


def _part_of(event) -> str | None:
    while event is not None:
        if event.name.startswith(PART):
            return event.name[len(PART):]
        event = event.cpu_parent
    return None


BACKWARD_NODE = "autograd::engine::evaluate_function"


def _inside_backward_node(event) -> bool:
    """A backward run from inside another node's backward (a nested autograd.grad) is counted once,
    with the node that ran it."""
    while event is not None:
        if event.name.startswith(BACKWARD_NODE):
            return True
        event = event.cpu_parent
    return False


def attribute(events) -> dict[str, float]:
    """Microseconds per row: each part's forward (its range), its backward (the autograd nodes its
    forward ops created, matched by sequence number), the optimisers, and the batch in all."""
    created: dict[int, str] = {}
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::"):
            part = _part_of(e)
            if part is not None:
                created.setdefault(e.sequence_nr, part)
    rows: dict[str, float] = defaultdict(float)
    for e in events:
        if e.name.startswith(PART) and _part_of(e.cpu_parent) is None:
            rows[f"{e.name[len(PART):]} forward"] += e.cpu_time_total
        elif e.name.startswith(BACKWARD_NODE) and not _inside_backward_node(e.cpu_parent):
            rows[f"{created.get(e.sequence_nr, 'losses and glue')} backward"] += e.cpu_time_total
        elif e.name.startswith("Optimizer.step#"):
            rows["optimiser steps"] += e.cpu_time_total
        elif e.name.startswith("Optimizer.zero_grad#"):
            rows["optimiser zero_grad"] += e.cpu_time_total
        elif e.name == "whole batch":
            rows["whole batch"] += e.cpu_time_total
    return rows


def _callback(warmup: int, batches: int, results: dict):
    import lightning as L
    import torch

    class Profiler(L.Callback):
        def __init__(self):
            self.profiler = self.batch_range = None
            self.walls: list[float] = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.profiler.__enter__()
            if self.profiler is not None:
                self.batch_range = torch.profiler.record_function("whole batch")
                self.batch_range.__enter__()
                self.started = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.profiler is None:
                return
            self.batch_range.__exit__(None, None, None)
            self.walls.append(time.perf_counter() - self.started)
            if batch_idx == warmup + batches - 1:
                self.profiler.__exit__(None, None, None)
                results["rows"] = attribute(self.profiler.events())
                results["walls"] = self.walls
                self.profiler = None

    return Profiler()


def table(rows: dict[str, float], batches: int) -> str:
    ms = {k: v / 1000 / batches for k, v in rows.items()}
    whole = ms.pop("whole batch")
    lines = ["| part | ms per batch | share |", "|---|---:|---:|"]
    for key, value in sorted(ms.items(), key=lambda item: -item[1]):
        lines.append(f"| {key} | {value:.0f} | {value / whole:.1%} |")
    rest = whole - sum(ms.values())
    lines.append(f"| rest (Lightning, slicing, loss arithmetic) | {rest:.0f} | {rest / whole:.1%} |")
    lines.append(f"| **whole batch** | **{whole:.0f}** | 100% |")
    return "\n".join(lines)


def run(args) -> str:
    import lightning as L
    import torch

    from benchmarks import train_step_data
    from utils.voice.run_config import QUALITIES

    accelerator, precision = bench_train_step.setup_mode(args.mode, "cpu", args.precision)
    sample_rate = QUALITIES[args.quality]["sample_rate"]
    torch.manual_seed(args.seed)
    model = bench_train_step.make_model(args, sample_rate)
    hp = model.hparams
    clips = train_step_data.load_or_make(
        args.data, args.clips, sample_rate=sample_rate, hop=hp.hop_length, filter_length=hp.filter_length,
        win_length=hp.win_length, min_s=args.min_seconds, max_s=args.max_seconds, seed=args.seed)
    train = clips[:-args.val_clips]
    total = args.warmup + args.batches
    batches = train_step_data.batches(train, args.batch_size, total, hp.segment_size, seed=args.seed)
    results: dict = {}
    instrument(model)
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision, max_steps=2 * total,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=[_callback(args.warmup, args.batches, results)])
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    walls = ", ".join(f"{w:.2f}" for w in results["walls"])
    head = (f"{args.mode}, {precision}, {args.quality}, batch {args.batch_size}, mean of {args.batches} batches "
            f"after {args.warmup} warm-up (wall s under the profiler: {walls}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")
    return f"{head}\n\n{table(results['rows'], args.batches)}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.batches < 1:
        print("error: --batches must be >= 1", file=sys.stderr)
        return 2
    print(run(args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
