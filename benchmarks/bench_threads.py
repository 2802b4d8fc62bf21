"""Training under competing load: do passive OpenMP waiting or fewer threads cut the CPU seconds?

    python -m benchmarks.bench_threads [--repeats 3] [--steps 8] [--competitors 2]

Each repeat runs ``benchmarks.bench_train_step`` (the project's step, x_low, batch 2, segment 4096,
generated clips of 1-4 s) once per variant, in rotating order so every variant sees the same load:

  default   torch's own choice: one intra-op thread per usable CPU, OpenMP's spin-then-sleep wait
  passive   OMP_WAIT_POLICY=PASSIVE: threads sleep at once when there is no work
  one       OMP_NUM_THREADS=1: a single intra-op thread

``--competitors N`` starts N busy processes (a pure-Python loop each) for the whole benchmark, the
"two busy processes on two cores" case; 0 measures whatever load the machine already has.
Prints per run and as medians: steps/s, wall seconds and CPU seconds (user + system) of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "one": {"OMP_NUM_THREADS": "1"}}
BUSY = "while True:\n    pass\n"


def run_variant(name: str, data: Path, steps: int) -> dict:
    env = os.environ | VARIANTS[name]
    command = [sys.executable, "-m", "benchmarks.bench_train_step", "--mode", "patched", "--quality", "x_low",
               "--batch-size", "2", "--segment-size", "4096", "--steps", str(steps), "--warmup", "1",
               "--clips", "24", "--val-clips", "2", "--min-seconds", "1", "--max-seconds", "4",
               "--data", str(data), "--accelerator", "cpu"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name}: bench_train_step failed:\n{out[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return {"steps_per_s": result["steps_per_s"], "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "precision": result["precision"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_threads", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed batches per run (default: %(default)s)")
    parser.add_argument("--competitors", type=int, default=2, help="busy processes alongside (default: 2)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 2 or args.competitors < 0:
        print("error: --repeats >= 1, --steps >= 2, --competitors >= 0", file=sys.stderr)
        return 2
    print(f"cpus {os.cpu_count()}, usable {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
          f", load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at start, "
          f"{args.competitors} busy competitor(s)", flush=True)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.competitors)]
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
            data = Path(tmp) / "clips.pt"
            names = list(VARIANTS)
            for i in range(args.repeats):
                for name in names[i % len(names):] + names[:i % len(names)]:
                    res = run_variant(name, data, args.steps)
                    results[name].append(res)
                    print(f"[{i + 1}/{args.repeats}] {name:8s} {res['steps_per_s']:.3f} steps/s, wall "
                          f"{res['wall_s']:.1f} s, cpu {res['cpu_s']:.1f} s ({res['precision']})", flush=True)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    print(f"\nmedians over {args.repeats} repeat(s), {args.steps} timed batches:")
    base = statistics.median(r["steps_per_s"] for r in results["default"])
    for name, runs in results.items():
        rate = statistics.median(r["steps_per_s"] for r in runs)
        wall, cpu = (statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s"))
        print(f"  {name:8s} {rate:.3f} steps/s ({rate / base:.2f}x default), wall {wall:.1f} s, cpu {cpu:.1f} s")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
