"""Time the dataset content checks per 1,000 clips: first run (decode + measure + cache) and a
second run (the measures read back from the cache), against the validation they are added to.

    python -m benchmarks.bench_content_checks [--clips 1000] [--runs 3] [--keep DIR]

The dataset is a recorder profile like a user's: 48 kHz mono 32-bit PCM, 4.08 s per clip on
average (1,000 clips = 68 min), one or two of the bundled sample's sentences each, with peaks
from -1 to -12 dBFS, 100-400 ms pauses of room tone and a -65 dB noise floor.
Goal (issue 20): the checks add at most 10 s per 1,000 clips on a 2-core CPU.
Prints figures only (medians of --runs cold and warm runs); exit 0 when measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RATE = 48000
MEAN_CLIP_S = 68 * 60 / 1000
GOAL_S = 10.0


def build_profile(folder: Path, clips: int, seed: int = 1) -> float:
    """``clips`` takes of 48 kHz PCM_32 in ``folder`` (a recorder profile); returns total seconds."""
    import soxr

    from utils.voice.data.dataset import SAMPLE_DATASET

    rows = [line.split("|", 1) for line in (SAMPLE_DATASET / "metadata.csv").read_text("utf-8").splitlines()
            if line.strip()]
    speech = [soxr.resample(sf.read(SAMPLE_DATASET / "wavs" / f"{cid}.wav", dtype="float64")[0], 22050, RATE)
              for cid, _ in rows]
    rng = np.random.default_rng(seed)
    (folder / "recordings").mkdir(parents=True, exist_ok=True)
    total = 0.0
    sentence_s = float(np.mean([len(x) for x in speech])) / RATE
    # One sentence or two (pauses 0.25 s on average), in the proportion that makes the mean clip
    # MEAN_CLIP_S long.
    two = min(1.0, max(0.0, (MEAN_CLIP_S - sentence_s - 0.5) / (sentence_s + 0.25)))
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as meta:
        for index in range(clips):
            picked = rng.integers(len(rows), size=2 if rng.random() < two else 1)
            parts = [np.zeros(int(rng.uniform(0.1, 0.4) * RATE))]
            for p in picked:  # random pauses: no two clips line up frame by frame (not duplicates)
                parts += [speech[p], np.zeros(int(rng.uniform(0.1, 0.4) * RATE))]
            # A speaking rate of its own (+-10 %): one sentence read twice is two takes, not one file.
            audio = soxr.resample(np.concatenate(parts), RATE, int(RATE * rng.uniform(0.9, 1.1)))
            audio = audio * 10 ** (rng.uniform(-12, -1) / 20) / max(1e-9, np.max(np.abs(audio)))
            audio += rng.standard_normal(len(audio)) * 10 ** (-65 / 20)
            name = f"{index:05d}.wav"
            sf.write(folder / "recordings" / name, np.clip(audio, -1, 1), RATE, subtype="PCM_32")
            text = " ".join(rows[p][1] for p in picked)
            meta.write(json.dumps({"filename": name, "sentence": text}) + "\n")
            total += len(audio) / RATE
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_content_checks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="build (or reuse) the dataset here instead of a temp folder")
    args = parser.parse_args(argv)

    from utils.voice.data.content_checks import check_content
    from utils.voice.data.dataset import validate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "profile"
        if not (folder / "metadata.jsonl").is_file():
            start = time.perf_counter()
            seconds = build_profile(folder, args.clips)
            print(f"built {args.clips} clips, {seconds / 60:.1f} min of 48 kHz 32-bit audio "
                  f"in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        start = time.perf_counter()
        report = validate_dataset(folder)
        validate_s = time.perf_counter() - start
        n = len(report.clips)
        cold, warm, cold_cpu, kinds = [], [], [], {}
        for run in range(args.runs):
            cache = Path(tmp) / f"cache-{run}"
            for times in (cold, warm):
                report.warnings.clear()
                start, cpu = time.perf_counter(), time.process_time()
                result = check_content(report, 22050, cache)
                times.append(time.perf_counter() - start)
                if times is cold:
                    cold_cpu.append(time.process_time() - cpu)
            kinds = Counter(kind for found in result.flagged.values() for kind in found)
    per = 1000 / max(1, n)
    print(f"content checks, {n} clips ({report.total_seconds / 60:.1f} min, 48 kHz 32-bit), "
          f"{os.cpu_count()} CPU cores, median of {args.runs}:")
    print(f"  validation alone (existing):  {validate_s * per:6.2f} s per 1,000 clips")
    print(f"  content checks, first run:    {statistics.median(cold) * per:6.2f} s per 1,000 clips "
          f"(goal <= {GOAL_S:.0f} s)")
    # CPU seconds of all threads: on an idle 2-core machine the first run takes about half of
    # this in wall time; on a shared machine the wall times above grow with the load.
    print(f"  first run, CPU time:          {statistics.median(cold_cpu) * per:6.2f} s per 1,000 clips "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"  content checks, cached:       {statistics.median(warm) * per:6.2f} s per 1,000 clips")
    print(f"  clips flagged per kind: {dict(kinds) or 'none'} (of {n} clean clips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
