"""A generated dataset shaped like a real one, for bench_train_step: no recordings, no espeak-ng/sox.

Clips last 1-10 s (uniform), their audio is exactly ``frames x hop`` samples (as piper's cache
stores it), their spectrograms come from piper's own ``spectrogram_torch`` and their phonemes
from piper's bundled espeak bridge, about 2.5 words per second of audio. The audio is numpy:
a voiced tone with a gliding pitch, five harmonics, syllable-rate loudness and a little noise.
The same seed gives the same clips, so both modes of the benchmark train on identical data.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

WORDS = ("the quick brown fox jumps over a lazy dog while seven bright voices read every line "
         "from small books about rivers mountains quiet towns and long summer evenings near home").split()


def _audio(rng: np.random.Generator, samples: int, sample_rate: int) -> np.ndarray:
    t = np.arange(samples) / sample_rate
    f0 = 110 + 60 * rng.random() + 25 * np.sin(2 * math.pi * (0.3 + rng.random()) * t)
    phase = 2 * math.pi * np.cumsum(f0) / sample_rate
    voiced = sum((0.6 ** k) * np.sin(k * phase) for k in range(1, 6))
    syllables = 0.55 + 0.45 * np.sin(2 * math.pi * (3.5 + rng.random()) * t) ** 2
    audio = voiced * syllables + 0.02 * rng.standard_normal(samples)
    return (0.5 * audio / max(1e-6, np.abs(audio).max())).astype(np.float32)


def make_clips(count: int, sample_rate: int, hop: int, filter_length: int, win_length: int,
               min_s: float = 1.0, max_s: float = 10.0, seed: int = 0, espeak_voice: str = "en-us") -> list:
    """``count`` piper ``UtteranceTensors`` (phoneme ids, spectrogram, audio) with varied lengths."""
    import torch
    from piper.phoneme_ids import phonemes_to_ids
    from piper.phonemize_espeak import EspeakPhonemizer
    from piper.train.vits.dataset import UtteranceTensors
    from piper.train.vits.mel_processing import spectrogram_torch

    rng = np.random.default_rng(seed)
    phonemizer = EspeakPhonemizer()
    clips = []
    for _ in range(count):
        seconds = rng.uniform(min_s, max_s)
        frames = max(1, int(seconds * sample_rate) // hop)
        audio = torch.from_numpy(_audio(rng, frames * hop, sample_rate))
        spec = spectrogram_torch(audio[None], filter_length, sample_rate, hop, win_length, center=False)[0]
        if spec.shape[-1] != frames:
            raise RuntimeError(f"spectrogram has {spec.shape[-1]} frames for {frames * hop} samples (hop {hop})")
        text = " ".join(rng.choice(WORDS, size=max(1, round(2.5 * seconds)))) + "."
        phonemes = [p for sentence in phonemizer.phonemize(espeak_voice, text) for p in sentence]
        clips.append(UtteranceTensors(phoneme_ids=torch.LongTensor(phonemes_to_ids(phonemes)),
                                      spectrogram=spec, audio_norm=audio, text=text))
    return clips


def load_or_make(path: Path | None, count: int, **kwargs) -> list:
    """The clips from ``path`` when it holds this exact request, else generated (and saved there)."""
    import torch

    from utils.files import atomic_path

    key = {"count": count, **kwargs}
    if path is not None and Path(path).is_file():
        stored = torch.load(path, weights_only=False)
        if stored.get("key") == key:
            return stored["clips"]
    clips = make_clips(count, **kwargs)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save({"key": key, "clips": clips}, tmp)
    return clips


def batches(clips: list, batch_size: int, count: int, segment_size: int, seed: int = 0) -> list:
    """``count`` collated piper batches: clips shuffled each pass (piper's plain random loader),
    padded by piper's own collate."""
    from piper.train.vits.dataset import UtteranceCollate

    if not 0 < batch_size <= len(clips):
        raise ValueError(f"batch size {batch_size} needs at least that many clips (have {len(clips)})")
    collate = UtteranceCollate(is_multispeaker=False, segment_size=segment_size)
    rng = np.random.default_rng(seed)
    out: list = []
    while len(out) < count:
        order = rng.permutation(len(clips))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            out.append(collate([clips[i] for i in order[start:start + batch_size]]))
            if len(out) == count:
                break
    return out
