"""Preparation of 400 clips of 1-10 s: one process against every core (audio conversion, then
piper's phonemes + spectrograms).

    python -m benchmarks.bench_prepare [--clips 400] [--repeats 3] [--workers N]

The dataset is generated from the bundled sample's speech (clips joined and cut to lengths drawn
uniformly from 1-10 s, texts cut in proportion) as a 48 kHz recorder profile, so the audio stage
resamples as it does for the recorder app's voices. Each repeat starts from an empty cache; the
single-process (torch's default threads, as piper's own loop; and one thread) and parallel runs
alternate. Prints medians and the ratios, and checks the caches against each other byte for
byte. The machine's load average is printed first and last: on a shared machine the ratio is only
as good as the idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.voice.data.clip_pool import default_workers
from utils.voice.data.dataset import SAMPLE_DATASET

RECORDER_RATE = 48000


def make_dataset(root: Path, clips: int = 400, seed: int = 0) -> Path:
    """A recorder profile of ``clips`` clips of 1-10 s of real speech (the sample's, joined and cut)."""
    import soxr

    rows = [line.split("|", 1) for line in (SAMPLE_DATASET / "metadata.csv").read_text("utf-8").splitlines() if line]
    speech = [sf.read(SAMPLE_DATASET / "wavs" / f"{clip_id}.wav", dtype="float64") for clip_id, _ in rows]
    rate = speech[0][1]
    audio = np.concatenate([data for data, _ in speech])
    words = " ".join(text for _, text in rows).split()
    per_second = len(words) / (len(audio) / rate)
    rng = np.random.default_rng(seed)
    folder = root / "profile"
    (folder / "recordings").mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as out:
        for index in range(clips):
            seconds = rng.uniform(1.0, 10.0)
            start = int(rng.integers(0, len(audio) - int(seconds * rate)))
            piece = audio[start:start + int(seconds * rate)]
            first = int(start / rate * per_second)
            text = " ".join(words[first:first + max(1, round(seconds * per_second))]) + "."
            name = f"{index:04d}.wav"
            sf.write(folder / "recordings" / name, soxr.resample(piece, rate, RECORDER_RATE), RECORDER_RATE,
                     subtype="PCM_16")
            out.write(json.dumps({"filename": name, "sentence": text, "prompt_list": "bench",
                                  "prompt_index": index, "timestamp": "2026-01-01T10:00:00"}) + "\n")
    return folder


def feature_datamodule(prepared, cache: Path):
    from piper.train.vits.dataset import VitsDataModule

    return VitsDataModule(csv_path=prepared.csv_path, audio_dir=prepared.audio_dir, cache_dir=cache,
                          espeak_voice="en-us", config_path=cache.parent / "voice_config.json",
                          voice_name="bench", sample_rate=prepared.sample_rate)


def _run_once(report, root: Path, workers: int, threads: int | None = None) -> tuple[float, float, Path]:
    import torch

    from utils.voice.data.audio_prep import prepare_dataset
    from utils.voice.data.feature_cache import prepare_features

    shutil.rmtree(root, ignore_errors=True)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    try:
        start = time.perf_counter()
        prepared = prepare_dataset(report, root / "audio-cache", progress=False, workers=workers)
        middle, cpu = time.perf_counter(), _cpu_seconds()
        prepare_features(feature_datamodule(prepared, root / "features"), workers=workers, progress=False)
        end = time.perf_counter()
        print(f"    phonemes + spectrograms: {_cpu_seconds() - cpu:.1f} CPU s in {end - middle:.1f} s wall",
              flush=True)
        return middle - start, end - middle, root / "features"
    finally:
        torch.set_num_threads(default_threads)


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the pool's workers): the work
    done, whatever share of the cores the machine's other jobs left."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _same_bytes(a: Path, b: Path) -> bool:
    names = sorted(os.listdir(a))
    return names == sorted(os.listdir(b)) and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main(argv: list[str] | None = None) -> int:
    from utils.voice.data.dataset import validate_dataset

    parser = argparse.ArgumentParser(prog="bench_prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers(), help="parallel run (default: every core)")
    args = parser.parse_args(argv)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"{args.clips} clips, {args.repeats} repeats, parallel = {args.workers} processes", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        tmp = Path(tmp)
        report = validate_dataset(make_dataset(tmp, args.clips))
        # Imports, espeak-ng and VAD set-up happen once per process: pay them before timing (the
        # parallel workers are forked from this process and inherit them).
        _run_once(validate_dataset(make_dataset(tmp / "warm-up", 4, seed=1)), tmp / "warm-up" / "run", 1)
        # piper's own loop is one process with torch's default threads; one thread per process is
        # what the pool's workers use (and, on a busy machine, often faster than the default).
        variants = {"1 process": (1, None), "1 process, 1 thread": (1, 1),
                    f"{args.workers} processes": (args.workers, None)}
        seconds: dict[str, list] = {name: [] for name in variants}
        caches = {}
        for repeat in range(args.repeats):
            for name, (workers, threads) in variants.items():
                audio_s, feature_s, caches[name] = _run_once(report, tmp / f"run{len(caches)}", workers, threads)
                seconds[name].append((audio_s, feature_s))
                print(f"  repeat {repeat + 1}, {name}: audio {audio_s:.1f} s, phonemes + spectrograms "
                      f"{feature_s:.1f} s", flush=True)
        names = list(variants)
        same = all(_same_bytes(caches[names[0]], caches[name]) for name in names[1:])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'median s':26}" + "".join(f"{name:>22}" for name in names) + f"{'speed-up':>10}{'vs 1 thread':>13}")
    for label, pick in (("audio conversion", lambda t: t[0]), ("phonemes + spectrograms", lambda t: t[1]),
                        ("both", sum)):
        medians = [statistics.median(pick(t) for t in seconds[name]) for name in names]
        print(f"{label:26}" + "".join(f"{m:22.1f}" for m in medians)
              + f"{medians[0] / medians[2]:9.2f}x{medians[1] / medians[2]:12.2f}x")
    print(f"feature caches byte-identical across the three: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
