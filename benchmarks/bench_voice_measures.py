"""What the voice measures cost at each validation: 8 held-out clips, a medium voice, this machine.

    python -m benchmarks.bench_voice_measures [--repeats N] [--clips 8] [--quality medium] [--device cpu|cuda]
                                              [--threads N]

Times, per validation (all ``--clips`` clips of the bundled sample), the parts of
``utils.voice.evaluate.during_training`` and the alternative it avoids:

- ``speak``: the in-memory generator speaking every sentence (``samples.speak_texts``);
- ``measures``: MCD-DTW, F0 and voicing, duration (``measures.score_clip``) on those;
- ``recogniser``: pocketsphinx on the synthesised audio (the WER);
- ``export+runtime``: exporting the generator to ONNX and speaking the same sentences through
  ``piper.PiperVoice``, which is what scoring "as the user hears it" at every validation would add.

The generator is untrained (weights do not change the cost; the noise scales are zeroed so each
repeat speaks the same lengths). Prints the median wall and CPU seconds per validation and per clip.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _timed(step, repeats: int) -> list[tuple[float, float]]:
    """(wall seconds, CPU seconds of this process) per repeat: on a shared machine the CPU time is
    the steadier figure (the wall time grows with every other job)."""
    costs = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        step()
        costs.append((time.perf_counter() - start, time.process_time() - cpu))
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_voice_measures", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--quality", default="medium")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's, one per core; on a machine shared with other "
                             "jobs 1 avoids threads spinning while they wait for a core)")
    args = parser.parse_args(argv)
    import soundfile as sf
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from benchmarks.bench_samples import config_for, model_for
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
    from utils.voice.evaluate.held_out import spread
    from utils.voice.evaluate.measures import score_clip
    from utils.voice.evaluate.recognizer import Recognizer
    from utils.voice.publish import samples
    from utils.voice.publish.export import export_onnx
    from utils.voice.run_config import QUALITIES

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rate = QUALITIES[args.quality]["sample_rate"]
    clips = spread(validate_dataset(SAMPLE_DATASET).clips, args.clips)
    recordings = [sf.read(clip.audio_path, dtype="float64")[0] for clip in clips]
    config = config_for(rate)
    phonemizer = samples.SamplePhonemizer(config)
    model = model_for(args.quality, device)
    recognizer = Recognizer()
    spoken: list = []

    def speak():
        spoken[:] = [samples.speak_texts(model.model_g, phonemizer, [clip.text]) for clip in clips]

    speak()  # warm-up: kernels, espeak-ng
    costs = {"speak": _timed(speak, args.repeats)}
    costs["measures"] = _timed(lambda: [score_clip(r, s, rate) for r, s in zip(recordings, spoken, strict=True)],
                               args.repeats)
    costs["recogniser"] = _timed(lambda: [recognizer.transcribe(s, rate) for s in spoken], args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        onnx = Path(folder) / "voice.onnx"
        Path(f"{onnx}.json").write_text(json.dumps(config), encoding="utf-8")

        def export_and_speak():
            from piper import PiperVoice

            # Export removes weight norm in place: training would export a copy of its weights.
            copy = model_for(args.quality, device)
            copy.load_state_dict(model.state_dict())
            export_onnx(copy, onnx)
            voice = PiperVoice.load(onnx)
            for clip in clips:
                list(voice.synthesize(clip.text))

        costs["export+runtime"] = _timed(export_and_speak, args.repeats)
    audio_s = sum(s.size for s in spoken) / rate
    print(f"device {device}, torch {torch.__version__} ({torch.get_num_threads()} threads), quality {args.quality} "
          f"({rate} Hz), {len(clips)} clips ({audio_s:.1f} s synthesised), {args.repeats} repeats")
    print(f"{'part':16} {'wall s/validation':>18} {'wall s/clip':>12} {'CPU s/validation':>17} {'CPU s/clip':>11}")
    medians = {}
    for part, values in costs.items():
        wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        medians[part] = (wall, cpu)
        print(f"{part:16} {wall:18.2f} {wall / len(clips):12.3f} {cpu:17.2f} {cpu / len(clips):11.3f}")
    wall, cpu = (sum(medians[p][i] for p in ("speak", "measures", "recogniser")) for i in (0, 1))
    print(f"{'in-memory total':16} {wall:18.2f} {wall / len(clips):12.3f} {cpu:17.2f} {cpu / len(clips):11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
