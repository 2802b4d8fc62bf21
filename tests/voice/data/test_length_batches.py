"""Rounded padding on real cached clips: shapes are multiples, content is piper's, models see no change."""

from __future__ import annotations

import pytest
import torch
from support.dataset_builders import make_piper_dataset

from utils.voice.data.feature_cache import prepare_features
from utils.voice.data.length_batches import PHONEME_MULTIPLE, SPEC_MULTIPLE, RoundedCollate, spectrogram_lengths

HOP, SEGMENT = 256, 8192


@pytest.fixture(scope="module")
def utterances(module_tmp_path_factory):
    """Six clips of the bundled sample through piper's cache (prepared here), loaded as piper does."""
    from piper.train.vits.dataset import VitsDataModule

    root = module_tmp_path_factory.mktemp("lengths")
    folder = make_piper_dataset(root, 6)
    dm = VitsDataModule(csv_path=folder / "metadata.csv", audio_dir=folder / "wavs", cache_dir=root / "cache",
                        espeak_voice="en-us", config_path=root / "config.json", voice_name="t",
                        validation_split=0, num_test_examples=0)
    prepare_features(dm, workers=2, progress=False)
    dm.prepare_data()
    dm.setup("fit")
    return dm.train_dataset


def _collates():
    from piper.train.vits.dataset import UtteranceCollate

    plain = UtteranceCollate(is_multispeaker=False, segment_size=SEGMENT)
    return plain, RoundedCollate(plain, HOP, SEGMENT)


def test_rounded_batch_holds_piper_batch_exactly_and_zeros_beyond(utterances):
    plain_collate, rounded_collate = _collates()
    items = [utterances[i] for i in range(3)]
    plain, rounded = plain_collate(items), rounded_collate(items)
    frames, phonemes = rounded.spectrograms.size(2), rounded.phoneme_ids.size(1)
    assert frames % SPEC_MULTIPLE == 0 and phonemes % PHONEME_MULTIPLE == 0
    assert rounded.audios.size(2) == max((frames + 1) * HOP, SEGMENT) >= plain.audios.size(2)
    for name, width in (("spectrograms", plain.spectrograms.size(2)), ("phoneme_ids", plain.phoneme_ids.size(1)),
                        ("audios", plain.audios.size(2))):
        ours, theirs = getattr(rounded, name), getattr(plain, name)
        assert torch.equal(ours[..., :width], theirs) and not ours[..., width:].any()
    for name in ("phoneme_lengths", "spectrogram_lengths", "audio_lengths"):
        assert torch.equal(getattr(rounded, name), getattr(plain, name))


def test_spectrogram_lengths_come_from_the_cached_spectrograms(utterances):
    assert spectrogram_lengths(utterances) == [utterances[i].spectrogram.size(1) for i in range(len(utterances))]


def test_piper_encoders_give_the_same_values_on_rounded_padding(utterances):
    """Text and posterior encoders (the modules that see the whole padded length) mask padding."""
    from piper.train.vits.models import PosteriorEncoder, TextEncoder

    torch.manual_seed(0)
    text_encoder = TextEncoder(256, 16, 32, 64, 2, 2, 3, 0.0).eval()
    posterior = PosteriorEncoder(513, 16, 32, 5, 1, 4).eval()
    plain_collate, rounded_collate = _collates()
    items = [utterances[i] for i in range(4)]
    plain, rounded = plain_collate(items), rounded_collate(items)
    with torch.no_grad():
        _, m_a, logs_a, _ = text_encoder(plain.phoneme_ids, plain.phoneme_lengths)
        _, m_b, logs_b, _ = text_encoder(rounded.phoneme_ids, rounded.phoneme_lengths)
        _, q_a, qlogs_a, _ = posterior(plain.spectrograms, plain.spectrogram_lengths)
        _, q_b, qlogs_b, _ = posterior(rounded.spectrograms, rounded.spectrogram_lengths)
    width, frames = m_a.size(2), q_a.size(2)
    torch.testing.assert_close(m_b[..., :width], m_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logs_b[..., :width], logs_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(q_b[..., :frames], q_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(qlogs_b[..., :frames], qlogs_a, rtol=1e-5, atol=1e-5)
    assert not m_b[..., width:].any() and not q_b[..., frames:].any()
