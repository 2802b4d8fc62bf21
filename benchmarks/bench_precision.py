"""Same voice, faster? The same clips for the same batches in 32-true and in the chosen precision.

    python -m benchmarks.bench_precision [--repeats 3] [--steps 30] [--precision bf16-mixed]

Each repeat trains the bundled sample (x_low, batch 2, segment 4096, no workers, seed 1234, the
10 % validation split, no export) once in 32-true and once in the compared precision (default:
what the precision policy picks here, measured or by the CPU flags), alternating which goes
first. Every run starts with an empty feature cache, so both pay the same preparation.

Prints, per run and as medians: training seconds (the run's own ``train`` phase, which also
holds what does not depend on the precision: validation with its voice measures, checkpoint
writes, samples), the median batch time (batch-end to batch-end in metrics.csv, the gaps that
hold a validation left out), whole-run wall seconds and the validation mel loss (the last in
metrics.csv, else the best in summary.json); then the paired ratios compared/32-true and the
mel loss difference, and the voice measures of each run's last validation (``pixi run evaluate``'s
MCD, F0, voicing, duration and word error, measured on the held-out clips during training). Over
3 % worse mel loss means the choice is wrong for this device. The
load average is printed at the start and the end: on a shared machine, read the ratios only
next to it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = "32-true"
MEL_TOLERANCE = 0.03


def chosen_precision() -> tuple[str, str]:
    """What a run with no --precision trains in here, and why (the policy with the machine profile)."""
    from utils.machine import hardware, machine_profile, precision_policy

    choice = precision_policy.choose(hardware.probe(), measured=machine_profile.recorded_measurement())
    return choice.precision, choice.reason


def last_val_mel(output: Path, summary: dict) -> float:
    """The last validation mel loss the run logged (metrics.csv), else its best one (summary.json's)."""
    with (output / "metrics.csv").open(newline="") as handle:
        values = [row["val_mel"] for row in csv.DictReader(handle) if row.get("val_mel")]
    if values:
        return float(values[-1])
    best = summary.get("best") or {}
    if "val_mel" not in best:
        raise RuntimeError(f"{output} has no validation mel loss: its batches ended before the first "
                           "validation, at the end of the first epoch: pass a larger --steps")
    return float(best["val_mel"])


MEASURES = ("val_mcd", "val_f0_rmse", "val_voicing_error", "val_duration_error", "val_wer")


def last_voice_measures(summary: dict) -> dict[str, float]:
    """The last validation's voice measures in a run's summary.json (tasks.evaluate's), if any."""
    validations = (summary.get("voice_measures") or {}).get("validations") or [{}]
    return {name: float(validations[-1][name]) for name in MEASURES if validations[-1].get(name) is not None}


def median_batch_seconds(output: Path) -> float:
    """Median batch-end to batch-end time in metrics.csv, the gaps that hold a validation left out."""
    with (output / "metrics.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("seconds")]
    gaps = [float(b["seconds"]) - float(a["seconds"]) for a, b in zip(rows[:-1], rows[1:], strict=True)
            if a.get("epoch") == b.get("epoch")]  # an epoch's end is where validation runs
    if not gaps:
        raise RuntimeError(f"{output}/metrics.csv has fewer than two batches in one epoch")
    return statistics.median(gaps)


def train_once(work: Path, precision: str, steps: int) -> dict:
    output = work / "run"
    env = os.environ | {"COAXIAL_CACHE": str(work / "cache")}
    command = [sys.executable, "-m", "tasks.train", "--dataset", str(REPO / "data" / "sample"), "--quality", "x_low",
               "--batch-size", "2", "--segment-size", "4096", "--num-workers", "0", "--max-steps", str(steps),
               "--precision", precision, "--no-export", "--quiet", "--output", str(output)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{precision} run exited {done.returncode}:\n{done.stderr[-3000:]}")
    summary = json.loads((output / "summary.json").read_text())
    return {"train_s": summary["seconds"]["train"], "batch_s": median_batch_seconds(output), "wall_s": wall,
            "val_mel": last_val_mel(output, summary), "measures": last_voice_measures(summary)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_precision", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="batches per run (default: %(default)s)")
    parser.add_argument("--precision", default=None, help="compared with 32-true (default: the policy's choice)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 2:
        print("error: --repeats must be >= 1 and --steps >= 2", file=sys.stderr)
        return 2
    compared, why = (args.precision, "requested") if args.precision else chosen_precision()
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at start")
    print(f"compared precision: {compared} ({why})", flush=True)
    if compared == REFERENCE:
        print("the chosen precision is 32-true itself: nothing to compare (pass --precision)")
        return 0
    results: dict[str, list[dict]] = {REFERENCE: [], compared: []}
    for i in range(args.repeats):
        order = (REFERENCE, compared) if i % 2 == 0 else (compared, REFERENCE)
        for precision in order:
            with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
                try:
                    res = train_once(Path(tmp), precision, args.steps)
                except RuntimeError as error:
                    print(f"error: {error}", file=sys.stderr)
                    return 1
            results[precision].append(res)
            print(f"[{i + 1}/{args.repeats}] {precision:10s} train {res['train_s']:.1f} s, "
                  f"batch {res['batch_s']:.3f} s, wall {res['wall_s']:.1f} s, val mel {res['val_mel']:.4f}", flush=True)

    def med(precision: str, key: str) -> float:
        return statistics.median(r[key] for r in results[precision])

    pairs = list(zip(results[compared], results[REFERENCE], strict=True))
    train_ratio = statistics.median(c["train_s"] / r["train_s"] for c, r in pairs)
    batch_ratio = statistics.median(c["batch_s"] / r["batch_s"] for c, r in pairs)
    wall_ratio = statistics.median(c["wall_s"] / r["wall_s"] for c, r in pairs)
    mel_change = statistics.median(c["val_mel"] / r["val_mel"] - 1 for c, r in pairs)
    print(f"\nmedians over {args.repeats} paired repeat(s), {args.steps} batches, x_low, batch 2, segment 4096:")
    for precision in (REFERENCE, compared):
        print(f"  {precision:10s} train {med(precision, 'train_s'):.1f} s, batch {med(precision, 'batch_s'):.3f} s, "
              f"wall {med(precision, 'wall_s'):.1f} s, val mel {med(precision, 'val_mel'):.4f}")
    print(f"  batch time {compared}/{REFERENCE}: {batch_ratio:.2f}x ({1 / batch_ratio:.2f}x as fast); "
          f"training phase {train_ratio:.2f}x ({1 / train_ratio:.2f}x as fast); wall {wall_ratio:.2f}x")
    for name in MEASURES:  # the voice measures of the last validation, where both runs have them
        paired = [(c["measures"][name], r["measures"][name]) for c, r in pairs
                  if name in c["measures"] and name in r["measures"]]
        if paired:
            print(f"  {name} {compared} vs {REFERENCE} (median of pairs): "
                  f"{statistics.median(c for c, _ in paired):.4g} vs {statistics.median(r for _, r in paired):.4g}")
    verdict = "within" if mel_change <= MEL_TOLERANCE else "OVER"
    print(f"  validation mel loss {compared} vs {REFERENCE}: {100 * mel_change:+.1f} % ({verdict} the 3 % limit)")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at end")
    return 0 if mel_change <= MEL_TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
