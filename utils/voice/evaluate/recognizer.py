"""Can the words be understood: an offline English recogniser's word error rate on speech.

pocketsphinx ships its US English acoustic model, dictionary and language model in the wheel, so
this works offline and gives the same answer everywhere. It is a modest recogniser: what it
gets wrong on the real recordings is the ceiling a voice cannot be expected to beat, so its
error on the recordings is always reported next to its error on the voice.
"""

from __future__ import annotations

import re

import numpy as np

RECOGNIZER_RATE = 16000    # the rate pocketsphinx's en-us model was trained on
ENGLISH_ONLY = "the recogniser (pocketsphinx) knows English only"


def is_english(espeak_voice: str | None, language_code: str | None = None) -> bool:
    """True for an English voice ("en-us", "en", "en_GB" ...)."""
    for tag in (espeak_voice, language_code):
        if tag and re.split(r"[-_]", tag.lower(), maxsplit=1)[0] == "en":
            return True
    return False


def normalise_words(text: str) -> str:
    """Lower case words with punctuation gone (apostrophes inside words kept), as recognisers write them."""
    words = re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())
    return " ".join(words)


def word_error_rate(reference_text: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against the sentence (jiwer; 0 is perfect, can exceed 1)."""
    import jiwer

    reference = normalise_words(reference_text)
    if not reference:
        raise ValueError(f"no words to compare in the sentence {reference_text!r}")
    return float(jiwer.wer(reference, normalise_words(hypothesis)))


class Recognizer:
    """pocketsphinx's default English decoder, made once (loading the model takes about a second)."""

    def __init__(self):
        from pocketsphinx import Decoder

        self._decoder = Decoder(loglevel="FATAL")

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        """The words heard in ``audio`` (float, -1..1, mono)."""
        if sample_rate != RECOGNIZER_RATE:
            import soxr

            audio = soxr.resample(np.asarray(audio, dtype=np.float64), sample_rate, RECOGNIZER_RATE)
        pcm = (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""
