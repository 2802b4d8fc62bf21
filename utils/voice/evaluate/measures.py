"""Distances between a recording and the same sentence spoken by a voice, as the speech field measures them.

Both signals are compared at one sample rate (the voice's), over their speech only: leading and
trailing silence is cut by ``speech_span`` before anything else, so a voice is not rewarded or
punished for the pauses around a sentence.

- **MCD-DTW** (dB, lower is better, 0 = identical spectra): WORLD's spectral envelope
  (``pyworld.cheaptrick``) coded as a mel-cepstrum (``pyworld.code_spectral_envelope``), the two
  sequences aligned by dynamic time warping (``librosa.sequence.dtw``), then the usual
  ``10 / ln 10 * sqrt(2 * sum_d (c_d - c'_d)^2)`` averaged over the aligned frame pairs. The 0th
  coefficient (loudness) is left out: the runtime normalises every sentence's peak.
- **F0 RMSE** (cents, lower is better) over aligned frames voiced in both, from WORLD's F0
  (``pyworld.dio`` refined by ``pyworld.stonemask``); **voicing error** (fraction 0..1, lower is
  better): aligned frames that one calls voiced and the other unvoiced.
- **duration ratio** (synthesis / recording, 1 is best): lengths of speech after trimming.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

FRAME_PERIOD_MS = 5.0
MCEP_DIM = 25            # c0..c24; c0 is dropped from the distance (24 coefficients, as is usual at 16-22 kHz)
SILENCE_TOP_DB = 40.0    # quieter than the loudest frame by this much counts as silence at the ends
MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


@dataclass
class ClipScores:
    mcd_db: float
    f0_rmse_cents: float | None  # None when no aligned frame is voiced in both
    voicing_error: float
    duration_ratio: float

    def as_dict(self) -> dict:
        return asdict(self)


def speech_span(audio: np.ndarray) -> np.ndarray:
    """The audio from the first to the last sound louder than SILENCE_TOP_DB under the peak."""
    import librosa

    if audio.size == 0 or not np.any(audio):
        return audio[:0]
    trimmed, _ = librosa.effects.trim(audio, top_db=SILENCE_TOP_DB, frame_length=1024, hop_length=256)
    return trimmed


def world_features(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(F0 per frame in Hz, 0 where unvoiced; mel-cepstrum per frame, MCEP_DIM wide)."""
    import pyworld

    signal = np.ascontiguousarray(audio, dtype=np.float64)
    f0, times = pyworld.dio(signal, sample_rate, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(signal, f0, times, sample_rate)
    envelope = pyworld.cheaptrick(signal, f0, times, sample_rate)
    return f0, pyworld.code_spectral_envelope(envelope, sample_rate, MCEP_DIM)


def align(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (reference, other) of the DTW path between two mel-cepstrum sequences, in time order."""
    import librosa

    _, path = librosa.sequence.dtw(X=reference[:, 1:].T, Y=other[:, 1:].T, metric="euclidean")
    path = path[::-1]
    return path[:, 0], path[:, 1]


def mel_cepstral_distortion(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean MCD in dB over aligned frame pairs (rows of equal length), c0 left out."""
    diff = reference[:, 1:] - other[:, 1:]
    return float(np.mean(MCD_SCALE * np.sqrt(np.sum(diff * diff, axis=1))))


def pitch_errors(f0_reference: np.ndarray, f0_other: np.ndarray) -> tuple[float | None, float]:
    """(F0 RMSE in cents over pairs voiced in both or None, voicing-decision error 0..1) of aligned F0 pairs."""
    voiced_ref, voiced_other = f0_reference > 0, f0_other > 0
    voicing_error = float(np.mean(voiced_ref != voiced_other)) if f0_reference.size else 0.0
    both = voiced_ref & voiced_other
    if not np.any(both):
        return None, voicing_error
    cents = 1200.0 * np.log2(f0_other[both] / f0_reference[both])
    return float(np.sqrt(np.mean(cents * cents))), voicing_error


def score_clip(recording: np.ndarray, synthesis: np.ndarray, sample_rate: int) -> ClipScores:
    """Every distance of ``synthesis`` from ``recording`` (float arrays at ``sample_rate``)."""
    ref_speech, syn_speech = speech_span(recording), speech_span(synthesis)
    if ref_speech.size == 0:
        raise ValueError("the recording is silent")
    if syn_speech.size < sample_rate * FRAME_PERIOD_MS / 1000 * 4:
        # a voice that says nothing: as far as it can be on duration, no spectrum to compare
        return ClipScores(mcd_db=float("inf"), f0_rmse_cents=None, voicing_error=1.0,
                          duration_ratio=syn_speech.size / ref_speech.size)
    f0_ref, mcep_ref = world_features(ref_speech, sample_rate)
    f0_syn, mcep_syn = world_features(syn_speech, sample_rate)
    ref_frames, syn_frames = align(mcep_ref, mcep_syn)
    mcd = mel_cepstral_distortion(mcep_ref[ref_frames], mcep_syn[syn_frames])
    rmse, voicing = pitch_errors(f0_ref[ref_frames], f0_syn[syn_frames])
    return ClipScores(mcd_db=mcd, f0_rmse_cents=rmse, voicing_error=voicing,
                      duration_ratio=syn_speech.size / ref_speech.size)
