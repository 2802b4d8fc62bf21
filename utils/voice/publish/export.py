"""A trained VitsModel -> a Piper voice: ``<name>.onnx`` + ``<name>.onnx.json``, then a spoken sample.

The ONNX graph has piper's interface (inputs ``input``, ``input_lengths``, ``scales``, ``sid``;
output ``output``), so the ``piper`` runtime loads it like any downloaded voice. The sample is
synthesised by that runtime (``PiperVoice``), not by torch: it proves the exported files work.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_path, atomic_write_text

OPSET = 15  # piper.train.export_onnx's opset: what piper's runtime is tested with
DUMMY_PHONEMES = 50  # longer than the attention window (4) + 1, so relative-position padding is traced


@dataclass
class SpokenSample:
    path: Path
    seconds: float
    sample_rate: int
    rms: float
    peak: float


def export_onnx(model, path: Path) -> Path:
    """Export the generator of a trained piper ``VitsModel`` with the TorchScript exporter.

    Mutates ``model`` (weight norm is folded into the decoder weights, as piper's exporter
    does): call it once training is over.
    """
    import torch

    from utils.machine import piper_compat

    generator = model.model_g.to("cpu").float().eval()
    with torch.no_grad():
        generator.dec.remove_weight_norm()

    def infer_forward(text, text_lengths, scales, sid=None):
        audio = generator.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                                noise_scale_w=scales[2], sid=sid)[0]
        return audio.unsqueeze(1)

    generator.forward = infer_forward
    torch.manual_seed(1234)
    text = torch.randint(low=0, high=generator.n_vocab, size=(1, DUMMY_PHONEMES), dtype=torch.long)
    lengths = torch.LongTensor([DUMMY_PHONEMES])
    # A short length scale keeps the traced example's audio short: the trace runs the decoder once
    # for real, and an untrained duration predictor can ask for many seconds. Scales are an input,
    # so the exported graph does not keep this value.
    scales = torch.FloatTensor([0.667, 0.1, 0.8])
    sid = torch.LongTensor([0]) if generator.n_speakers > 1 else None

    with atomic_path(path) as tmp, torch.no_grad():
            torch.onnx.export(
                model=generator, args=(text, lengths, scales, sid), f=str(tmp), verbose=False,
                opset_version=OPSET, input_names=["input", "input_lengths", "scales", "sid"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                              "output": {0: "batch_size", 2: "time"}},
                **piper_compat.onnx_export_kwargs(),
            )
    return path


def write_voice_config(training_config: Path, path: Path, voice_name: str, quality: str,
                       language: str | None = None) -> dict:
    """``<name>.onnx.json``: the config piper.train wrote for this dataset, plus what published voices
    carry and wyoming-piper reads: ``dataset`` equal to the file stem, ``audio.quality`` and a full
    ``language`` block (code, family, region, names). ``language`` defaults to the code of the
    config's espeak voice (en-us -> en_US); ``voice_name`` is kept for callers that name the file by it."""
    from utils.voice.publish.voice_naming import language_block, language_for_espeak

    config = json.loads(training_config.read_text(encoding="utf-8"))
    stem = path.name.removesuffix(".json").removesuffix(".onnx")
    config["dataset"] = stem
    config.setdefault("audio", {})["quality"] = quality
    espeak_voice = config.get("espeak", {}).get("voice", "")
    code = language or language_for_espeak(espeak_voice)
    # An espeak voice with no known code keeps the old minimal block: the flow checks --language
    # before training, so this only happens for voices that were never meant for Home Assistant.
    config["language"] = language_block(code) if code else {"code": espeak_voice}
    atomic_write_text(path, json.dumps(config, ensure_ascii=False, indent=2))
    return config


def speak(onnx_path: Path, text: str, wav_path: Path) -> SpokenSample:
    """Synthesise ``text`` with the piper runtime (config read from ``<onnx>.json``)."""
    import numpy as np
    from piper import PiperVoice

    voice = PiperVoice.load(onnx_path)
    with atomic_path(wav_path) as tmp, wave.open(str(tmp), "wb") as wav_file:
        voice.synthesize_wav(text, wav_file)
    with wave.open(str(wav_path), "rb") as wav_file:
        rate, frames = wav_file.getframerate(), wav_file.readframes(wav_file.getnframes())
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return SpokenSample(path=wav_path, seconds=samples.size / rate, sample_rate=rate, rms=rms, peak=peak)
