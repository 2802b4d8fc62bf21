"""What one clip's audio is like, measured once per content: level, noise, silences, clipping, band.

``measure_file`` decodes a clip and returns ``ClipMeasures``: plain numbers that do not depend on
the voice being trained or on the rest of the dataset, so they are cached per clip content
(``<cache>/content/<key>.json``, key = sha256 of the measuring version and the file's bytes) and a
second run reads them instead of decoding. ``utils.voice.data.content_checks`` judges them against
the dataset's own spread.

Everything works on 20 ms frames at the file's own rate (no resampling; speech lives well inside
any rate we accept). Per frame: the RMS level in dB re full scale. From those:

- ``level_db``: the 95th percentile frame level, the loud part of the speech; it does not move
  with how much silence a clip has.
- ``noise_db``: the 5th percentile frame level, the room tone in the pauses (clamped at -120 dB
  for digital silence). ``snr_db`` = level - noise, capped at 60 dB: above that a clip is clean,
  and a digital-silence floor must not set the dataset's median.
- speech frames: above ``max(level - 40, noise + min(10, snr / 2))``. 40 dB under the loud part
  keeps the quiet ends of words of a clean take; half the SNR keeps a noisy take's noise out.
  ``lead_s``/``trail_s`` are the non-speech before the first and after the last speech frame,
  ``span_s`` the time between them (pauses inside a sentence belong to speaking).
- ``clip_runs``: runs of 3 or more consecutive samples at or near full scale (|x| >= 0.99), or,
  when none reaches 0.99 and the peak is over -12 dBFS, flat at the clip's own peak (identical
  samples: clipped, then scaled down). A take peaking at -1 dBFS has none; one driven 8 dB into
  the converter has hundreds (183 in the test set).
- ``edge_hz``: the highest frequency with speech in it: in the mean spectrum of the speech frames
  (250 Hz bands), the last band within 60 dB of the strongest band under 4 kHz and 6 dB above the
  same band in the pause frames (so a noise floor is not speech). A 48 kHz file made from 8 kHz
  phone audio stops near 4 kHz; one from a 22050 Hz recording near 11 kHz.
- ``envelope``: the frame levels rounded to 0.5 dB, to find the same audio saved under two ids.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.files import atomic_write_text

MEASURE_VERSION = 1          # bump when a measure changes: it is part of every cache key
FRAME_S = 0.02               # 20 ms frames: a phoneme is 50-150 ms, so every sound spans frames
FLOOR_DB = -120.0            # frame level of digital silence
SNR_CAP_DB = 60.0
SPEECH_BELOW_LOUD_DB = 40.0
FULL_SCALE = 0.99
CLIP_RUN = 3                 # samples; a run this long at full scale is a flat top, not a peak
BAND_HZ = 250.0
EDGE_RANGE_DB = 60.0
EDGE_OVER_NOISE_DB = 6.0
CACHE_FOLDER = "content"


@dataclass
class ClipMeasures:
    """One clip's measures (see the module docstring for how each is taken)."""

    duration_s: float
    rate: int
    level_db: float
    noise_db: float
    snr_db: float
    lead_s: float
    trail_s: float
    span_s: float
    clip_runs: int
    edge_hz: float
    envelope: list[float] = field(default_factory=list)
    key: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def content_key(source: bytes) -> str:
    digest = hashlib.sha256(f"coaxial-content v{MEASURE_VERSION}\0".encode())
    digest.update(source)
    return digest.hexdigest()[:40]


def decode_mono(source: bytes, path: Path | None = None) -> tuple[np.ndarray, int]:
    """float32 mono samples (channels averaged) and the rate, from a file's bytes.

    16- and 32-bit PCM WAV (what recorders and Piper datasets hold) is read straight from the
    bytes: libsndfile on an in-memory file goes through Python callbacks and costs more than all
    the measuring. Anything else goes to libsndfile, from ``path`` when given."""
    fast = _pcm_wav(source)
    if fast is not None:
        data, rate = fast
    elif path is not None:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    else:
        data, rate = sf.read(io.BytesIO(source), dtype="float32", always_2d=True)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def _pcm_wav(source: bytes) -> tuple[np.ndarray, int] | None:
    """(samples x channels as float32, rate) of a plain 16/32-bit PCM RIFF WAV; None for anything else."""
    if len(source) < 12 or source[:4] != b"RIFF" or source[8:12] != b"WAVE":
        return None
    offset, fmt = 12, None
    while offset + 8 <= len(source):
        chunk, size = source[offset:offset + 4], int.from_bytes(source[offset + 4:offset + 8], "little")
        body = offset + 8
        if chunk == b"fmt " and size >= 16:
            fmt = source[body:body + 16]
        elif chunk == b"data" and fmt is not None:
            tag, channels = int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little")
            rate, bits = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[14:16], "little")
            if tag not in (1, 0xFFFE) or bits not in (16, 32) or channels < 1 or rate <= 0:
                return None  # extensible with a float subformat, 24-bit, compressed: libsndfile
            width = bits // 8
            end = min(len(source), body + size) if size not in (0, 0xFFFFFFFF) else len(source)
            count = (end - body) // (width * channels)
            raw = np.frombuffer(source, dtype=f"<i{width}", count=count * channels, offset=body)
            return raw.reshape(count, channels).astype(np.float32) * np.float32(2.0 ** (1 - bits)), rate
        offset = body + size + (size & 1)
    return None


def frame_levels(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """(dB re full scale of each 20 ms frame, samples per frame); the tail shorter than a frame is dropped."""
    size = max(1, int(round(rate * FRAME_S)))
    count = len(samples) // size
    frames = samples[:count * size].reshape(count, size)
    power = np.einsum("ij,ij->i", frames, frames) / size  # float32 is ample for levels in dB
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), FLOOR_DB), size


def speech_threshold(levels: np.ndarray) -> tuple[float, float, float]:
    """(loud level, noise level, the level above which a frame is speech) of one clip."""
    loud = float(np.percentile(levels, 95))
    noise = float(np.percentile(levels, 5))
    snr = min(loud - noise, SNR_CAP_DB)
    return loud, noise, max(loud - SPEECH_BELOW_LOUD_DB, noise + min(10.0, snr / 2))


def speech_bounds(samples: np.ndarray, rate: int) -> tuple[int, int] | None:
    """(first, end) sample of the speech in a clip, or None if no frame is speech."""
    levels, size = frame_levels(samples, rate)
    if len(levels) == 0:
        return None
    threshold = speech_threshold(levels)[2]
    speech = np.flatnonzero(levels > threshold)
    if len(speech) == 0:
        return None
    return int(speech[0]) * size, (int(speech[-1]) + 1) * size


def trim_to_speech(samples: np.ndarray, rate: int, margin_s: float) -> np.ndarray:
    """The clip with leading and trailing non-speech cut to ``margin_s`` (never cuts speech)."""
    scale = 1 / 32768 if samples.dtype == np.int16 else 1.0
    bounds = speech_bounds(samples.astype(np.float32) * np.float32(scale), rate)
    if bounds is None:
        return samples
    margin = int(round(margin_s * rate))
    return samples[max(0, bounds[0] - margin):min(len(samples), bounds[1] + margin)]


def count_clip_runs(samples: np.ndarray) -> int:
    """Runs of ``CLIP_RUN`` or more samples at full scale, or identical at the clip's own peak."""
    if len(samples) == 0:
        return 0
    magnitude = np.abs(samples)
    hot = np.flatnonzero(magnitude >= FULL_SCALE)
    peak = float(magnitude.max())
    if len(hot) == 0 and peak > 0.25:
        # Flat tops below full scale: clipped audio scaled down afterwards keeps them identical.
        hot = np.flatnonzero(magnitude >= peak * (1 - 1e-6))
    if len(hot) < CLIP_RUN:
        return 0
    # Only the few samples near the top are looked at: runs are stretches of consecutive indices.
    breaks = np.flatnonzero(np.diff(hot) != 1)
    lengths = np.diff(np.concatenate(([-1], breaks, [len(hot) - 1])))
    return int(np.count_nonzero(lengths >= CLIP_RUN))


def speech_edge_hz(samples: np.ndarray, rate: int, size: int, speech: np.ndarray, pause: np.ndarray) -> float:
    """The highest frequency with speech energy (see the module docstring)."""
    if not speech.any():
        return 0.0
    count = len(speech)
    frames = samples[:count * size].reshape(count, size)
    window = np.hanning(size)  # float64: numpy's float32 transform is ~3x slower than its float64 one
    # 120 speech frames spread over the clip (2.4 s) give a steady mean spectrum and bound the
    # cost: the transforms are most of the time measuring takes.
    chosen = np.flatnonzero(speech)[:: max(1, int(speech.sum()) // 120)]
    spectrum = np.mean(np.abs(np.fft.rfft(frames[chosen] * window, axis=1)) ** 2, axis=0)
    quiet = np.flatnonzero(pause)[:: max(1, int(pause.sum()) // 40)]
    floor = np.mean(np.abs(np.fft.rfft(frames[quiet] * window, axis=1)) ** 2, axis=0) if len(quiet) \
        else np.zeros_like(spectrum)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    bands = (freqs // BAND_HZ).astype(int)
    count_per_band = np.bincount(bands)
    speech_db = 10 * np.log10(np.bincount(bands, spectrum) / count_per_band + 1e-30)
    floor_db = 10 * np.log10(np.bincount(bands, floor) / count_per_band + 1e-30)
    low = int(4000 // BAND_HZ)
    reference = float(speech_db[1:low].max()) if low > 1 else float(speech_db.max())
    has_speech = (speech_db > reference - EDGE_RANGE_DB) & (speech_db > floor_db + EDGE_OVER_NOISE_DB)
    found = np.flatnonzero(has_speech)
    return float(min((found[-1] + 1) * BAND_HZ, rate / 2)) if len(found) else 0.0


def measure(samples: np.ndarray, rate: int) -> ClipMeasures:
    """Measure decoded mono samples (float32, full scale 1.0)."""
    levels, size = frame_levels(samples, rate)
    duration = len(samples) / rate
    if len(levels) == 0:
        return ClipMeasures(duration, rate, FLOOR_DB, FLOOR_DB, 0.0, 0.0, 0.0, 0.0, 0, 0.0)
    loud, noise, threshold = speech_threshold(levels)
    speech = levels > threshold
    found = np.flatnonzero(speech)
    first, last = (int(found[0]), int(found[-1])) if len(found) else (0, -1)
    pause = levels <= noise + 3.0
    return ClipMeasures(
        duration_s=round(duration, 4), rate=rate, level_db=round(loud, 2), noise_db=round(noise, 2),
        snr_db=round(min(loud - noise, SNR_CAP_DB), 2), lead_s=round(first * FRAME_S, 3),
        trail_s=round(duration - (last + 1) * size / rate, 3), span_s=round((last + 1 - first) * FRAME_S, 3),
        clip_runs=count_clip_runs(samples), edge_hz=speech_edge_hz(samples, rate, size, speech, pause),
        envelope=[round(float(v) * 2) / 2 for v in levels])


def measure_file(path: Path, cache_dir: Path | None, save: bool = True) -> ClipMeasures:
    """The clip's measures, from ``cache_dir`` when this content was measured before; new ones
    are saved there unless ``save`` is False (a run's plan writes nothing: ``save_measures`` later).

    The cache is only an optimisation: an unreadable or foreign entry is measured again."""
    source = Path(path).read_bytes()
    key = content_key(source)
    cached = _cache_file(cache_dir, key)
    if cached is not None and cached.is_file():
        try:
            result = ClipMeasures(**json.loads(cached.read_text(encoding="utf-8")))
            result.key = key
            return result
        except (OSError, ValueError, TypeError):
            pass
    samples, rate = decode_mono(source, path)
    result = measure(samples, rate)
    result.key = key
    if save:
        save_measures([result], cache_dir)
    return result


def _cache_file(cache_dir: Path | None, key: str) -> Path | None:
    return Path(cache_dir) / CACHE_FOLDER / f"{key}.json" if cache_dir is not None and key else None


def save_measures(measures: list[ClipMeasures], cache_dir: Path | None) -> None:
    """Store measures not yet in the cache (each file atomically)."""
    for result in measures:
        cached = _cache_file(cache_dir, result.key)
        if cached is None or cached.is_file():
            continue
        try:
            atomic_write_text(cached, json.dumps(result.to_json(), separators=(",", ":")))
        except OSError:
            return  # a read-only or full cache costs time on the next run, never the check
