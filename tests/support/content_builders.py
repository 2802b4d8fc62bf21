"""Recorder profiles for the content checks: a naturally varied clean set, and the same with the
damage home recordings get (clipping, long room tone, noise, wrong text, a truncated take, a take
saved twice, phone-band audio, a quiet take).

Built with numpy/soxr/librosa from the bundled sample's speech, so no espeak-ng or sox is needed.
Natural variation, as the issue sets it: speaking rate +-20 % (time-stretched, pitch kept), peaks
from -1 to -12 dBFS, 100-400 ms of room tone at each end, a -65 dB white noise floor.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from support.dataset_builders import RECORDER_RATE, sample_clips

NOISE_FLOOR_DB = -65.0
# id -> the kind its damage must be found as
DAMAGED = {
    "0001_take1": "clipped",
    "0002_take1": "silence",
    "0003_take1": "noise",
    "0004_take1": "mismatch",   # one word of audio under the whole sentence
    "0005_take1": "mismatch",   # a take cut off half way
    "0006_take1": "duplicate",  # the file of 0007 saved again under this id
    "0008_take1": "bandwidth",  # through an 8 kHz phone line
    "0009_take1": "level",      # 30 dB quieter
}


def _db(value: float) -> float:
    return 10 ** (value / 20)


def natural_clip(index: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """(text, 48 kHz float samples) of one clean, naturally varied take of sample clip ``index``."""
    import librosa
    import soxr

    rows = sample_clips(28)
    _clip_id, text, wav = rows[index % len(rows)]
    speech, rate = sf.read(wav, dtype="float64")
    speech = librosa.effects.time_stretch(speech, rate=float(rng.uniform(0.8, 1.2)))
    speech = soxr.resample(speech, rate, RECORDER_RATE)
    speech *= _db(rng.uniform(-12, -1)) / np.max(np.abs(speech))
    lead, trail = (np.zeros(int(rng.uniform(0.1, 0.4) * RECORDER_RATE)) for _ in range(2))
    audio = np.concatenate([lead, speech, trail])
    audio += rng.standard_normal(len(audio)) * _db(NOISE_FLOOR_DB)
    return text, audio


def _room_tone(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(int(seconds * RECORDER_RATE)) * _db(NOISE_FLOOR_DB)


def _speech_region(audio: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(audio) > 20 * _db(NOISE_FLOOR_DB))
    return int(loud[0]), int(loud[-1])


def _damage(kind_id: str, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import soxr

    if kind_id == "0001_take1":  # a gain set 8 dB too hot: flat tops at full scale
        return np.clip(audio / np.max(np.abs(audio)) * _db(8), -1.0, 1.0)
    if kind_id == "0002_take1":  # 2.5 s of room tone before the speech
        return np.concatenate([_room_tone(2.5, rng), audio])
    if kind_id == "0003_take1":  # a fan 10 dB under the speech
        rms = np.sqrt(np.mean(audio[slice(*_speech_region(audio))] ** 2))
        return audio + rng.standard_normal(len(audio)) * rms * _db(-10)
    if kind_id == "0004_take1":  # only the first word recorded
        start, _end = _speech_region(audio)
        return np.concatenate([audio[:start + int(0.35 * RECORDER_RATE)], _room_tone(0.3, rng)])
    if kind_id == "0005_take1":  # the take stops half way through the sentence
        start, end = _speech_region(audio)
        return np.concatenate([audio[:start + (end - start) * 2 // 5], _room_tone(0.2, rng)])
    if kind_id == "0008_take1":  # phone line: 8 kHz, back up to 48 kHz
        return soxr.resample(soxr.resample(audio, RECORDER_RATE, 8000), 8000, RECORDER_RATE)
    if kind_id == "0009_take1":
        return audio * _db(-30)
    return audio


def make_content_profile(root: Path, n: int = 20, *, damaged: bool = False, seed: int = 20) -> Path:
    """A recorder profile ``root/profile`` of ``n`` takes (48 kHz PCM_32); with ``damaged``, the
    clips named in ``DAMAGED`` are spoiled as described there."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "profile"
    recordings = folder / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(n):
        name = f"{index:04d}_take1"
        text, audio = natural_clip(index, rng)
        if damaged:
            audio = _damage(name, audio, rng)
        sf.write(recordings / f"{name}.wav", np.clip(audio, -1.0, 1.0), RECORDER_RATE, subtype="PCM_32")
        lines.append(json.dumps({"filename": f"{name}.wav", "sentence": text, "prompt_list": "sample",
                                 "prompt_index": index, "timestamp": f"2026-01-01T10:{index % 60:02d}:00"}))
    if damaged:
        shutil.copyfile(recordings / "0007_take1.wav", recordings / "0006_take1.wav")
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
