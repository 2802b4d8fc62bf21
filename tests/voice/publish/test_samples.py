"""Samples spoken by the generator while it trains: text loading, phonemes, audio, runtime parity.

The generator is a real (untrained, x_low) piper VitsModel; an untrained network still turns
phoneme ids into audio whose length its duration predictor decides, which is what is compared.
"""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from utils.voice.publish import samples

SENTENCE = "This voice was trained with coaxial train, on a Piper model."


def _voice_config(noise_w: float = 0.8, noise: float = 0.667) -> dict:
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    config = PiperConfig(num_symbols=256, num_speakers=1, sample_rate=22050, espeak_voice="en-us",
                         phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
                         noise_scale=noise, noise_w_scale=noise_w)
    return config.to_dict()


def _untrained_x_low():
    import torch

    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(0)
    return VitsModel(num_symbols=256, hidden_channels=96, inter_channels=96, filter_channels=384,
                     mos_metric="none")


@pytest.fixture(scope="module")
def model():
    return _untrained_x_low()


def test_sample_texts_from_values_and_files(tmp_path):
    listing = tmp_path / "sentences.txt"
    listing.write_text("# my test sentences\nFirst one.\n\n  Second one.  \n", encoding="utf-8")
    assert samples.load_sample_texts(None, "Default.") == ["Default."]
    assert samples.load_sample_texts(["Hello.", str(listing)], "x") == ["Hello.", "First one.", "Second one."]
    with pytest.raises(samples.SampleTextError, match="missing.txt: no such file"):
        samples.load_sample_texts([str(tmp_path / "missing.txt")], "x")
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(samples.SampleTextError, match="no sentence"):
        samples.load_sample_texts([str(tmp_path / "empty.txt")], "x")


def test_phonemes_match_the_piper_runtime(tmp_path):
    from piper.voice import PiperVoice

    phonemizer = samples.SamplePhonemizer(_voice_config())
    runtime = PiperVoice(session=None, config=phonemizer.config)
    text = "Hello there. How are you today?"
    expected = [runtime.phonemes_to_ids(p) for p in runtime.phonemize(text)]
    assert phonemizer.sentence_ids(text) == expected and len(expected) == 2


def test_speaking_is_non_silent_and_restores_train_mode(model, tmp_path):
    generator = model.model_g
    generator.train()
    audio = samples.speak_texts(generator, samples.SamplePhonemizer(_voice_config()), [SENTENCE, "Two."])
    assert generator.training, "train mode must be restored after a sample"
    assert audio.dtype == np.float32 and audio.size > 22050 * samples.PAUSE_BETWEEN_TEXTS_S
    assert np.max(np.abs(audio)) == pytest.approx(1.0, abs=1e-3)  # normalised like the runtime
    path = tmp_path / "samples" / samples.sample_name(40)
    samples.write_wav(path, audio, 22050)
    with wave.open(str(path), "rb") as wav_file:
        assert (wav_file.getframerate(), wav_file.getnchannels(), wav_file.getsampwidth()) == (22050, 1, 2)
        assert wav_file.getnframes() == audio.size
    assert path.name == "step-40.wav"


@pytest.mark.slow
def test_sample_length_equals_the_exported_voice_length(tmp_path):
    """With the noise scales at 0, durations are deterministic: the in-training sample must last
    exactly as long as the exported ONNX voice takes for the same sentence in the piper runtime."""
    from utils.voice.publish import export

    model = _untrained_x_low()  # export folds weight norm into the weights: a model of its own
    config = _voice_config(noise_w=0.0, noise=0.0)
    audio = samples.speak_texts(model.model_g, samples.SamplePhonemizer(config), [SENTENCE])
    training_config = tmp_path / "voice_config.json"
    training_config.write_text(json.dumps(config), encoding="utf-8")
    onnx_path = export.export_onnx(model, tmp_path / "voice.onnx")
    export.write_voice_config(training_config, tmp_path / "voice.onnx.json", "voice", "x_low")
    info = export.speak(onnx_path, SENTENCE, tmp_path / "runtime.wav")
    assert info.seconds == pytest.approx(audio.size / 22050, abs=1 / 22050)
