"""Wall time of `verify --quick` and full `verify`, each a fresh subprocess, median of several runs.

    pixi run bench-verify                      # default: 5 quick runs, 3 full runs
    python -m benchmarks.bench_verify [--quick-runs N] [--full-runs N] [--json]

Goals on a 2-core x86 CPU: quick <= 3 s, full <= 20 s (a fresh process each time, so the
figures include interpreter start and the torch/lightning imports a user also pays).
Prints figures only; exit 0 when measured (goal misses are reported, not fatal), 1 when verify
itself failed in a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOALS_S = {"quick": 3.0, "full": 20.0}


def _time_runs(extra: list[str], runs: int) -> tuple[list[float], int]:
    times, worst_rc = [], 0
    for i in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tasks.verify", "--json", *extra], cwd=REPO,
                              capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        worst_rc = max(worst_rc, proc.returncode)
        kind = "quick" if extra else "full"
        print(f"  {kind} run {i + 1}/{runs}: {times[-1]:.2f} s (exit {proc.returncode})",
              file=sys.stderr, flush=True)
    return times, worst_rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_verify", description=__doc__.splitlines()[0])
    parser.add_argument("--quick-runs", type=int, default=5)
    parser.add_argument("--full-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick_runs < 1 or args.full_runs < 0:
        print("error: --quick-runs must be >= 1 and --full-runs >= 0", file=sys.stderr)
        return 2

    results, rc = {}, 0
    for name, extra, runs in (("quick", ["--quick"], args.quick_runs), ("full", [], args.full_runs)):
        if runs == 0:
            continue
        times, worst = _time_runs(extra, runs)
        rc = max(rc, worst)
        results[name] = {"runs": runs, "median_s": round(statistics.median(times), 2),
                         "min_s": round(min(times), 2), "max_s": round(max(times), 2),
                         "goal_s": GOALS_S[name]}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            verdict = "meets" if r["median_s"] <= r["goal_s"] else "MISSES"
            print(f"verify {name:5}  median {r['median_s']:6.2f} s  "
                  f"(min {r['min_s']:.2f}, max {r['max_s']:.2f}, n={r['runs']})  "
                  f"{verdict} goal <= {r['goal_s']:.0f} s")
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
