"""Every benchmark of the project in one run, one after the other so they do not compete for cores.

    pixi run bench                 # or: python -m benchmarks.run_all [--only NAME ...]

Each benchmark prints its own figures (medians, ratios measured in the same run); this runner
adds nothing but the order and a closing line per benchmark. Exit 1 when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = {
    "train": "benchmarks.bench_train",  # demo run end to end, and step throughput vs plain piper.train
    "step-profile": "benchmarks.profile_step",  # where a medium batch's time goes, by part (plain piper's step)
    "step-pairs": "benchmarks.bench_step_pairs",  # a medium batch of 4: ours vs plain piper, 5 alternated pairs
    "finetune": "benchmarks.bench_finetune",  # a medium fine-tune from joe, end to end vs plain piper.train
    "precision": "benchmarks.bench_precision",  # 32-true vs the chosen precision: time and val mel loss
    "threads": "benchmarks.bench_threads",  # under competing load: default vs passive OpenMP vs one thread
    "verify": "benchmarks.bench_verify",  # verify --quick and full verify
    "monotonic-align": "benchmarks.bench_monotonic_align",  # the alignment kernel vs brute force
    "footprint": "benchmarks.bench_footprint",  # download sizes from pixi.lock
    "samples": "benchmarks.bench_samples",  # cost of one in-training spoken sample per quality
    "content-checks": "benchmarks.bench_content_checks",  # dataset content checks per 1,000 clips
    "prepare": "benchmarks.bench_prepare",  # 400 clips: one process against every core
    "padding": "benchmarks.bench_padding",  # padding and repeating shapes: random vs by length
    "voice-measures": "benchmarks.bench_voice_measures",  # MCD, F0, duration, WER on 8 clips per validation
    "listener-score": "benchmarks.bench_listener_score",  # DNSMOS (and distillmos if installed): noise, joe vs demo
    "onnx-base": "benchmarks.bench_onnx_base",  # fine-tune from joe's ONNX vs from nothing (~40 min on 2 cores)
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these")
    args = parser.parse_args(argv)
    crashed = []
    for name, module in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} ({module})", flush=True)
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, "-m", module], cwd=REPO).returncode
        print(f"=== {name}: exit {rc}, {time.perf_counter() - start:.0f} s", flush=True)
        if rc != 0:
            crashed.append(name)
    if crashed:
        print(f"benchmarks that failed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
