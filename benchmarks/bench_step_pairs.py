"""The project's training step against plain piper's, in alternated pairs of fresh processes.

    python -m benchmarks.bench_step_pairs --pairs 5     # a medium batch of 4, fp32 (the default below)
    python -m benchmarks.bench_step_pairs --pairs 3 -- --quality x_low --batch-size 2 --steps 4

Each pair runs ``benchmarks.bench_train_step`` once with ``--mode plain`` and once with
``--mode patched`` (the order alternates from pair to pair, so a slow spell on a shared machine
does not always land on the same side), with every argument after ``--`` passed to both. Prints
each pair's median batch times and ratio, then the median ratio over the pairs, and the validation
mel of both modes (the same when the step computes piper's losses). One JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# A medium fine-tune batch as a CPU user runs it, fp32 on both sides (the same arithmetic as piper).
DEFAULT_STEP_ARGS = ["--quality", "medium", "--batch-size", "4", "--steps", "6", "--warmup", "2", "--clips", "40",
                     "--val-clips", "4", "--precision", "32-true"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_step_pairs", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="alternated plain/patched pairs (default: %(default)s)")
    parser.add_argument("step_args", nargs=argparse.REMAINDER,
                        help="after --: arguments for benchmarks.bench_train_step (both modes; default: "
                             + " ".join(DEFAULT_STEP_ARGS) + ")")
    return parser


def _one(mode: str, step_args: list[str]) -> dict:
    command = [sys.executable, "-m", "benchmarks.bench_train_step", "--mode", mode, *step_args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"bench_train_step --mode {mode} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def run(pairs: int, step_args: list[str]) -> dict:
    step_args = [a for a in step_args if a != "--"] or list(DEFAULT_STEP_ARGS)
    if "--mode" in step_args:
        raise SystemExit("error: --mode is set by the pairs; pass the other bench_train_step arguments")
    with tempfile.TemporaryDirectory() as tmp:
        if "--data" not in step_args:  # both modes train on the same generated clips, made once
            step_args = [*step_args, "--data", str(Path(tmp) / "clips.pt")]
            _one("plain", [*step_args, "--data-only"])
        ratios, results = [], []
        for i in range(pairs):
            order = ("plain", "patched") if i % 2 == 0 else ("patched", "plain")
            pair = {mode: _one(mode, step_args) for mode in order}
            ratio = pair["patched"]["median_batch_s"] / pair["plain"]["median_batch_s"]
            ratios.append(ratio)
            results.append(pair)
            plain_s = pair["plain"]["median_batch_s"]
            print(f"pair {i + 1}/{pairs} ({' first, '.join(order)} second): plain {plain_s:.3f} s, "
                  f"patched {pair['patched']['median_batch_s']:.3f} s a batch ({pair['patched']['precision']}): "
                  f"{ratio:.3f}x", flush=True)
    summary = {
        "pairs": pairs, "ratios": [round(r, 3) for r in ratios], "median_ratio": round(statistics.median(ratios), 3),
        "plain_median_batch_s": round(statistics.median(p["plain"]["median_batch_s"] for p in results), 3),
        "patched_median_batch_s": round(statistics.median(p["patched"]["median_batch_s"] for p in results), 3),
        "val_mel": {mode: sorted({p[mode]["val_mel"] for p in results}) for mode in ("plain", "patched")},
        "precision": results[0]["patched"]["precision"], "quality": results[0]["plain"]["quality"],
        "batch_size": results[0]["plain"]["batch_size"],
    }
    print(f"median of {pairs} pairs: patched/plain {summary['median_ratio']:.3f}x "
          f"(plain {summary['plain_median_batch_s']:.3f} s, patched {summary['patched_median_batch_s']:.3f} s)")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.pairs < 1:
        print("error: --pairs must be >= 1", file=sys.stderr)
        return 2
    print(json.dumps(run(args.pairs, args.step_args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
