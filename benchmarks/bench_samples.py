"""What a training sample costs: the generator speaking the sample sentence in-process.

    python -m benchmarks.bench_samples [--repeats N] [--device cpu|cuda|mps] [--quality x_low low high]

Times ``utils.voice.publish.samples.speak_texts`` plus the wav write, as ``SampleSpeaker`` does at each
validation and every ``--sample-every`` batches, on an untrained generator of each quality
(weights do not change the cost; the sentence's length does, so the noise scales are zeroed to
make every repeat produce the same audio length). Prints the median seconds per sample, the
seconds of audio it produced and the real-time factor. Training waits this long per sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

SENTENCE = "This voice was trained with coaxial train, on a Piper model."


def model_for(quality: str, device: str):
    import torch

    from utils.machine import piper_compat
    from utils.voice.run_config import QUALITIES

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(0)
    preset = QUALITIES[quality]
    return VitsModel(num_symbols=256, mos_metric="none", sample_rate=preset["sample_rate"],
                     **preset["model"]).to(device)


def config_for(sample_rate: int):
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    return PiperConfig(num_symbols=256, num_speakers=1, sample_rate=sample_rate, espeak_voice="en-us",
                       phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
                       noise_scale=0.0, noise_w_scale=0.0).to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_samples", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--quality", nargs="+", default=["x_low", "low"])
    args = parser.parse_args(argv)
    import torch

    from utils.voice.publish import samples
    from utils.voice.run_config import QUALITIES

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, torch {torch.__version__}, {args.repeats} repeats, sentence: {SENTENCE!r}")
    print(f"{'quality':8} {'median s/sample':>16} {'min':>7} {'audio s':>8} {'real-time factor':>17}")
    with tempfile.TemporaryDirectory() as folder:
        for quality in args.quality:
            rate = QUALITIES[quality]["sample_rate"]
            phonemizer = samples.SamplePhonemizer(config_for(rate))
            model = model_for(quality, device)
            samples.speak_texts(model.model_g, phonemizer, [SENTENCE])  # warm-up: kernels, espeak init
            costs, audio = [], None
            for index in range(args.repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                audio = samples.speak_texts(model.model_g, phonemizer, [SENTENCE])
                samples.write_wav(Path(folder) / f"step-{index}.wav", audio, rate)
                costs.append(time.perf_counter() - start)
            seconds = audio.size / rate
            median = statistics.median(costs)
            print(f"{quality:8} {median:16.3f} {min(costs):7.3f} {seconds:8.2f} {median / seconds:17.3f}")
            del model
    return 0


if __name__ == "__main__":
    sys.exit(main())
