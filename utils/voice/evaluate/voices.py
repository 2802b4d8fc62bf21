"""A voice to evaluate: an exported ``.onnx`` + ``.onnx.json`` spoken through the piper runtime.

``PiperVoice`` is what ``python -m piper`` and Home Assistant use, so the audio scored is the
audio a user hears (phonemizer, noise scales, loudness normalisation included). ``check_match``
refuses, before any synthesis, a voice that cannot be compared with the recordings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from utils.errors import BadInput


@dataclass
class Voice:
    path: Path
    name: str
    sample_rate: int
    espeak_voice: str | None
    language_code: str | None
    speaker_ids: dict[str, int] = field(default_factory=dict)  # empty for a one-speaker voice
    runtime: Any = field(default=None, repr=False)             # piper.PiperVoice

    def speak(self, text: str, speaker: str | None = None, deterministic: bool = False) -> np.ndarray:
        """The sentence(s) as float32 audio at ``sample_rate``, as the runtime makes them.

        ``deterministic``: every noise scale 0 and no loudness normalisation, so the same text gives the
        same samples twice, and two voices holding the same weights give the same samples."""
        from piper import SynthesisConfig

        config = SynthesisConfig(speaker_id=self.speaker_ids.get(speaker)) if speaker is not None else None
        if deterministic:
            config = SynthesisConfig(speaker_id=self.speaker_ids.get(speaker), noise_scale=0.0, noise_w_scale=0.0,
                                     normalize_audio=False)
        chunks = [chunk.audio_float_array for chunk in self.runtime.synthesize(text, syn_config=config)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)


def load_voice(path: str | Path) -> Voice:
    """The voice at ``path`` (``X.onnx`` beside ``X.onnx.json``); BadInput names the file and the fix."""
    onnx = Path(path)
    config_path = Path(f"{onnx}.json")
    if not onnx.is_file():
        raise BadInput(f"{onnx}: no such voice file — give the .onnx that `pixi run train` or "
                       "`pixi run export` wrote (its .onnx.json beside it)")
    if not config_path.is_file():
        raise BadInput(f"{config_path}: missing — the voice's config must sit beside {onnx.name} "
                       "(copy it from the run folder)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        rate = int(config["audio"]["sample_rate"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{config_path}: not a Piper voice config ({type(exc).__name__}: {exc}) — "
                       "use the .onnx.json written with the voice") from exc
    from piper import PiperVoice

    try:
        runtime = PiperVoice.load(onnx, config_path=config_path)
    except Exception as exc:  # onnxruntime raises its own classes for unreadable models
        raise BadInput(f"{onnx}: the piper runtime cannot load it ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:200]}) — export the voice again (`pixi run export CKPT`)") from exc
    language = config.get("language") or {}
    return Voice(path=onnx, name=config.get("dataset") or onnx.stem, sample_rate=rate,
                 espeak_voice=(config.get("espeak") or {}).get("voice"), language_code=language.get("code"),
                 speaker_ids=dict(config.get("speaker_id_map") or {}) if config.get("num_speakers", 1) > 1 else {},
                 runtime=runtime)


def check_match(voice: Voice, recordings_rate: int, speakers: list[str], source: str,
                espeak_voice: str | None = None) -> None:
    """BadInput when the voice cannot be compared with recordings at ``recordings_rate`` Hz by
    ``speakers`` (empty: one speaker) from ``source`` (the dataset or run, named in the message)."""
    if recordings_rate < voice.sample_rate:
        raise BadInput(f"{voice.path}: speaks at {voice.sample_rate} Hz but the recordings in {source} are "
                       f"{recordings_rate} Hz, which lack the band above {recordings_rate // 2} Hz — evaluate "
                       f"against recordings made at {voice.sample_rate} Hz or more, or a voice trained at "
                       f"{recordings_rate} Hz or less")
    if len(speakers) > 1:
        missing = [name for name in speakers if name not in voice.speaker_ids]
        if missing:
            have = ", ".join(voice.speaker_ids) or "one speaker"
            raise BadInput(f"{voice.path}: has no speaker {missing[0]!r} of {source} (it has {have}) — "
                           "evaluate the voice trained on this dataset, or a dataset of its own speakers")
    if espeak_voice and voice.espeak_voice and espeak_voice.lower() != voice.espeak_voice.lower():
        raise BadInput(f"{voice.path}: speaks espeak-ng language {voice.espeak_voice!r} but {source} was "
                       f"trained as {espeak_voice!r} — evaluate a voice of the same language")


def same_speech(reference: Voice, candidate: Voice, sentences: list[str]) -> list[dict]:
    """Per sentence: both lengths in samples and the candidate's SNR in dB against the reference
    (inf where identical; None where the lengths differ, since samples then do not line up)."""
    rows = []
    for text in sentences:
        ref, got = reference.speak(text, deterministic=True), candidate.speak(text, deterministic=True)
        snr = None
        if ref.size == got.size and ref.size:
            noise = float(np.sum((ref.astype(np.float64) - got) ** 2))
            signal = float(np.sum(ref.astype(np.float64) ** 2))
            snr = float("inf") if noise == 0 else float(10 * np.log10(signal / noise))
        rows.append({"text": text, "reference_samples": int(ref.size), "candidate_samples": int(got.size),
                     "snr_db": snr})
    return rows
