"""Demo run of tasks.train against plain piper.train with the same schedule, in one session.

    python -m benchmarks.bench_train [--repeats 3] [--steps 10]

Each repeat runs, interleaved so both see the same machine load:
  ours:  python -m tasks.train --output TMP                       (validate, prepare, train, export, speak;
         in the precision the policy picks here: bf16-mixed on a CPU with AVX512-BF16/AMX)
  plain: python -m piper.train fit ... (same data, x_low, batch 2, segment 4096, fp32, no validation)
         + python -m piper.train.export_onnx + python -m piper -m TMP.onnx (speak one sentence)
Plain piper needs the MAS kernel its wheel lacks and the TorchScript exporter on torch >= 2.9;
only those two compatibility patches are installed for it (utils.machine.piper_compat), nothing else.

Prints medians: end-to-end wall seconds, peak RSS of the largest process, and training throughput
(batches/s from per-batch timestamps, first batch excluded); then the paired ratios ours/plain
(median over repeats) of wall time and of throughput.
Both runs start with an empty piper feature cache, so phonemisation is part of the wall time.
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
SENTENCE = "This voice was trained with coaxial train, on a Piper model."

PLAIN_FIT = """
import sys
from utils.machine import piper_compat
piper_compat.install_mas_kernel()
from piper.train.__main__ import main
sys.argv = ["piper.train"] + sys.argv[1:]
main()
"""
PLAIN_EXPORT = """
import sys
from utils.machine import piper_compat
piper_compat.install_piper_patches()
from piper.train.export_onnx import main
sys.argv = ["export_onnx"] + sys.argv[1:]
main()
"""


def measure(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one child process; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... exited {proc.returncode}:\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 1024, out


def throughput(times: list[float]) -> float:
    """Batches per second from batch-end timestamps; the first batch (warm-up) has no gap before it."""
    gaps = [later - earlier for earlier, later in zip(times[:-1], times[1:], strict=True)]
    return 1.0 / statistics.median(gaps) if gaps else float("nan")


def run_ours(work: Path, steps: int) -> dict:
    out = work / "ours"
    env = os.environ | {"COAXIAL_CACHE": str(work / "cache-ours")}
    wall, rss, _ = measure([sys.executable, "-m", "tasks.train", "--output", str(out), "--quiet",
                             "--max-steps", str(steps), "--sample-text", SENTENCE], env)
    rows = (out / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("seconds")
    times = [float(r.split(",")[col]) for r in rows[1:]]
    summary = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "rss_mb": rss, "batches_per_s": throughput(times), "phases": summary["seconds"],
            "precision": summary.get("device", {}).get("precision", "?")}


def run_plain(work: Path, steps: int) -> dict:
    # The demo's network and schedule: x_low at 16 kHz, batch 2, segment 4096, no validation.
    return run_plain_piper(work, steps, sample_rate=16000, batch_size=2, options=[
        "--data.num_workers", "0", "--data.validation_split", "0", "--data.num_test_examples", "0",
        "--model.segment_size", "4096", "--model.hidden_channels", "96", "--model.inter_channels", "96",
        "--model.filter_channels", "384", "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0"])


def run_plain_piper(work: Path, steps: int, sample_rate: int, batch_size: int, options: list[str],
                    fit_script: str = PLAIN_FIT) -> dict:
    """Plain piper end to end as its user runs it on the bundled sample: ``piper.train fit``
    (``fit_script``) for ``steps`` batches, fp32 on the CPU, with the run's own ``options`` after the
    shared ones; export_onnx of its last.ckpt; one sentence spoken. The sample is converted to
    ``sample_rate`` outside the timed part."""
    from utils.voice.data.audio_prep import prepare_dataset
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset

    prepared = prepare_dataset(validate_dataset(SAMPLE_DATASET), work / "cache-plain", progress=False,
                               sample_rate=sample_rate)
    root = work / "plain"
    log = work / "plain-steps.txt"
    env = os.environ | {"BENCH_STEP_LOG": str(log), "PYTHONPATH": str(REPO)}
    fit = [sys.executable, "-c", fit_script, "fit",
           "--data.csv_path", str(prepared.csv_path), "--data.audio_dir", str(prepared.audio_dir),
           "--data.cache_dir", str(root / "cache"), "--data.espeak_voice", "en-us",
           "--data.config_path", str(root / "config.json"), "--data.voice_name", "plain",
           "--data.batch_size", str(batch_size), "--model.sample_rate", str(sample_rate),
           "--model.mos_metric", "none", "--trainer.max_steps", str(2 * steps),  # two optimisers a batch
           "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.precision", "32-true",
           "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(root),
           "--trainer.callbacks+=benchmarks.step_timer.StepTimer", *options]
    fit_wall, fit_rss, _ = measure(fit, env)
    ckpt = next(root.rglob("last.ckpt"))
    onnx = root / "plain.onnx"
    export_wall, export_rss, _ = measure([sys.executable, "-c", PLAIN_EXPORT, "--checkpoint", str(ckpt),
                                           "--output-file", str(onnx)], env)
    (root / "plain.onnx.json").write_bytes((root / "config.json").read_bytes())
    speak_wall, speak_rss, _ = measure([sys.executable, "-m", "piper", "-m", str(onnx), "-f",
                                         str(root / "sample.wav"), SENTENCE], env)
    times = [float(x) for x in log.read_text().split()]
    return {"wall": fit_wall + export_wall + speak_wall, "rss_mb": max(fit_rss, export_rss, speak_rss),
            "batches_per_s": throughput(times), "batches": len(times),
            "phases": {"fit": fit_wall, "export": export_wall, "speak": speak_wall}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_train", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="batches per run (the demo's 10)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 2:
        print("error: --repeats must be >= 1 and --steps >= 2", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    print(f"cpus {os.cpu_count()}, load average {load:.2f} at start", flush=True)
    results: dict[str, list[dict]] = {"ours": [], "plain": []}
    for i in range(args.repeats):
        for name, fn in (("ours", run_ours), ("plain", run_plain)):
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
                res = fn(Path(tmp), args.steps)
            results[name].append(res)
            phases = ", ".join(f"{k} {v:.1f}" for k, v in res["phases"].items())
            print(f"[{i + 1}/{args.repeats}] {name:5s} wall {res['wall']:.1f} s, "
                  f"peak RSS {res['rss_mb']:.0f} MB, {res['batches_per_s']:.3f} batches/s ({phases})",
                  flush=True)

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    print(f"\nmedians over {args.repeats} repeat(s), {args.steps} batches, x_low, batch 2, segment 4096 "
          f"(ours {results['ours'][0]['precision']}, plain 32-true):")
    for name in ("ours", "plain"):
        print(f"  {name:5s} end-to-end {med(name, 'wall'):.1f} s, peak RSS {med(name, 'rss_mb'):.0f} MB, "
              f"train {med(name, 'batches_per_s'):.3f} batches/s")
    ratios = [o["batches_per_s"] / p["batches_per_s"] for o, p in zip(results["ours"], results["plain"],
                                                                       strict=True)]
    print(f"  throughput ratio ours/plain (median of paired runs): {statistics.median(ratios):.2f}")
    walls = [o["wall"] / p["wall"] for o, p in zip(results["ours"], results["plain"], strict=True)]
    print(f"  wall ratio ours/plain (median of paired runs): {statistics.median(walls):.2f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
