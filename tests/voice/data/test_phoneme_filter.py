"""--max-phoneme-ids: the count matches piper's, the report lists the long clips, and piper's
data module really trains without them."""

from __future__ import annotations

import pytest
from support.dataset_builders import make_piper_dataset

from utils.voice.data import phoneme_filter
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset


def _runtime_ids(text: str) -> int:
    """The piper runtime's own path from text to ids (PiperVoice), summed over sentences."""
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
    from piper.voice import PiperVoice

    config = PiperConfig(num_symbols=256, num_speakers=1, sample_rate=22050, espeak_voice="en-us",
                         phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK)
    voice = PiperVoice(session=None, config=config)
    return sum(len(voice.phonemes_to_ids(p)) for p in voice.phonemize(text))


def test_counts_agree_with_the_piper_runtime():
    texts = ["Hello.", "The quick brown fox jumps over the lazy dog. Then it sleeps."]
    assert phoneme_filter.count_phoneme_ids(texts, "en-us") == [_runtime_ids(t) for t in texts]


def test_report_lists_exactly_the_clips_over_the_limit():
    report = validate_dataset(SAMPLE_DATASET)
    counts = phoneme_filter.count_phoneme_ids([c.text for c in report.clips], "en-us")
    limit = sorted(counts)[-4]  # the three longest clips are over it (ties permitting)
    expected = {c.id for c, n in zip(report.clips, counts, strict=True) if n > limit}
    long_clips = phoneme_filter.add_to_report(report, limit, "en-us")
    assert {c.id for c in long_clips} == expected and 1 <= len(expected) <= 3
    text = report.format_report()
    for clip in long_clips:
        assert f"clip {clip.id} has {clip.phoneme_ids} phoneme ids, over --max-phoneme-ids {limit}" in text
        assert f"metadata.csv:{clip.line}:" in text
    assert report.ok, "leaving some clips out is a warning, not an error"


def test_a_limit_below_every_clip_is_an_error():
    report = validate_dataset(SAMPLE_DATASET)
    phoneme_filter.add_to_report(report, 20, "en-us")
    assert not report.ok and "every clip is longer" in report.format_report()
    with pytest.raises(ValueError, match="max-phoneme-ids 5"):
        phoneme_filter.check_limit(5)


def test_piper_data_module_drops_the_long_utterances(tmp_path):
    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.dataset import VitsDataModule

    from utils.voice.data.audio_prep import prepare_dataset

    report = validate_dataset(make_piper_dataset(tmp_path / "data", n=6))
    prepared = prepare_dataset(report, tmp_path / "cache", progress=False)
    counts = phoneme_filter.count_phoneme_ids([c.text for c in report.clips], "en-us")
    limit = sorted(counts)[-3]
    module = VitsDataModule(csv_path=prepared.csv_path, audio_dir=prepared.audio_dir, cache_dir=tmp_path / "piper",
                            espeak_voice="en-us", config_path=tmp_path / "voice_config.json", voice_name="t",
                            validation_split=0.0, num_test_examples=1, num_workers=0, batch_size=2)
    module.prepare_data()
    module.setup("fit")
    dropped = phoneme_filter.drop_long_utterances(module, limit)
    assert sorted(n for _, n in dropped) == sorted(n for n in counts if n > limit)
    assert {text for text, _ in dropped} == {c.text for c, n in zip(report.clips, counts, strict=True) if n > limit}
    remaining = [module.train_dataset[i].phoneme_ids.numel() for i in range(len(module.train_dataset))]
    assert remaining and max(remaining) <= limit
