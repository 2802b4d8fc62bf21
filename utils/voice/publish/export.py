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


@dataclass
class SpokenSample:
    path: Path
    seconds: float
    sample_rate: int
    rms: float
    peak: float


def export_onnx(model, path: Path) -> Path:
    """Export the generator of a trained piper ``VitsModel`` with the TorchScript exporter, atomically.

    Mutates ``model`` (weight norm is folded into the decoder weights, as piper's exporter
    does): call it once training is over.
    """
    from utils.voice.base.inference_graph import write_inference_graph

    with atomic_path(path) as tmp:
        write_inference_graph(model, tmp)
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
