"""The measures on real recordings of the bundled sample: zero against itself, and moving the right
way, step by step, when the copy is pitch-shifted, made noisy or stretched in time."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from utils.voice.data.dataset import SAMPLE_DATASET
from utils.voice.evaluate.measures import score_clip, speech_span
from utils.voice.evaluate.recognizer import Recognizer, normalise_words, word_error_rate


@pytest.fixture(scope="module")
def recording() -> tuple[np.ndarray, int]:
    audio, rate = sf.read(SAMPLE_DATASET / "wavs" / "sample_003.wav", dtype="float64")
    return audio, rate


def test_a_recording_against_itself_scores_perfectly(recording):
    audio, rate = recording
    scores = score_clip(audio, audio.copy(), rate)
    assert scores.mcd_db == 0.0
    assert scores.f0_rmse_cents == 0.0
    assert scores.voicing_error == 0.0
    assert scores.duration_ratio == 1.0


def test_silence_around_the_speech_does_not_count(recording):
    audio, rate = recording
    padded = np.concatenate([np.zeros(rate), audio, np.zeros(rate // 2)])
    # the cut falls on analysis frames (256 samples): equal to within a frame at each end
    assert abs(speech_span(padded).size - speech_span(audio).size) <= 2 * 256
    assert score_clip(audio, padded, rate).duration_ratio == pytest.approx(1.0, abs=0.01)


def test_f0_error_grows_with_the_pitch_shift(recording):
    import librosa

    audio, rate = recording
    errors = [score_clip(audio, librosa.effects.pitch_shift(audio, sr=rate, n_steps=cents / 100), rate).f0_rmse_cents
              for cents in (50, 100, 200)]
    assert errors[0] < errors[1] < errors[2]
    # WORLD hears roughly the shift it was given (unvoiced/voiced edges add some)
    assert 25 < errors[0] < 150 and 150 < errors[2] < 300


def test_mcd_grows_as_the_noise_gets_louder(recording):
    audio, rate = recording
    noise = np.random.default_rng(0).standard_normal(audio.size)
    power = np.mean(audio**2) / np.mean(noise**2)
    mcds = [score_clip(audio, audio + noise * np.sqrt(power / 10 ** (snr / 10)), rate).mcd_db for snr in (30, 20, 10)]
    assert 0 < mcds[0] < mcds[1] < mcds[2]


def test_time_stretch_moves_the_duration_ratio(recording):
    import librosa

    audio, rate = recording
    slower = score_clip(audio, librosa.effects.time_stretch(audio, rate=0.8), rate).duration_ratio
    faster = score_clip(audio, librosa.effects.time_stretch(audio, rate=1.25), rate).duration_ratio
    assert slower == pytest.approx(1.25, abs=0.06)
    assert faster == pytest.approx(0.8, abs=0.06)


def test_a_voice_that_says_nothing_scores_as_far_as_possible(recording):
    audio, rate = recording
    scores = score_clip(audio, np.zeros(rate), rate)
    assert scores.mcd_db == float("inf") and scores.voicing_error == 1.0 and scores.duration_ratio == 0.0


def test_word_error_rate_ignores_case_and_punctuation():
    assert normalise_words("The river's edge, quietly!") == "the river's edge quietly"
    assert word_error_rate("The old mill.", "the old mill") == 0.0
    assert word_error_rate("The old mill.", "the mill") == pytest.approx(1 / 3)


def test_the_recogniser_scores_a_recording_as_it_scores_its_identical_copy(recording):
    audio, rate = recording
    text = "The river runs quietly past the old mill."
    recognizer = Recognizer()
    heard = recognizer.transcribe(audio, rate)
    assert heard  # it hears words in real speech
    assert recognizer.transcribe(audio.copy(), rate) == heard
    assert word_error_rate(text, heard) == word_error_rate(text, recognizer.transcribe(audio.copy(), rate))
