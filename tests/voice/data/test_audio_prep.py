"""Audio conversion cache: 22050 Hz mono 16-bit output, content-keyed reuse, piper-readable csv."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from support.dataset_builders import make_broken_dataset, make_piper_dataset, make_recorder_profile, snapshot

from utils.voice.data import audio_prep
from utils.voice.data.audio_prep import TARGET_RATE, prepare_dataset
from utils.voice.data.dataset import validate_dataset


def _rows(prepared):
    # Read exactly as piper.train's VitsDataModule does.
    with open(prepared.csv_path, encoding="utf-8") as f:
        return list(csv.reader(f, delimiter="|"))


def test_recorder_profile_converts_to_22050_mono_16bit_without_touching_source(tmp_path):
    folder = make_recorder_profile(tmp_path / "in", 4)
    source_before = snapshot(folder)
    report = validate_dataset(folder)

    prepared = prepare_dataset(report, tmp_path / "cache", progress=False)

    assert snapshot(folder) == source_before
    assert prepared.num_clips == 4 and prepared.converted == 4 and prepared.reused == 0
    assert prepared.num_speakers == 1 and prepared.speaker_ids is None
    rows = _rows(prepared)
    assert [row[1] for row in rows] == [c.text for c in report.clips]
    for row, clip in zip(rows, report.clips, strict=True):
        out = prepared.audio_dir / row[0]
        info = sf.info(str(out))
        assert (info.samplerate, info.channels, info.subtype) == (TARGET_RATE, 1, "PCM_16")
        assert info.duration == pytest.approx(clip.duration_s, abs=2 / TARGET_RATE)
    assert prepared.total_seconds == pytest.approx(report.total_seconds, abs=len(rows) * 2 / TARGET_RATE)


def test_conversion_keeps_the_signal(tmp_path):
    folder = make_recorder_profile(tmp_path / "in", 1)
    report = validate_dataset(folder)
    source, source_rate = sf.read(report.clips[0].audio_path, dtype="float64")
    prepared = prepare_dataset(report, tmp_path / "cache", progress=False)
    out, _ = sf.read(prepared.audio_dir / _rows(prepared)[0][0], dtype="float64")
    # Back on the source's 48 kHz grid the waveform must match the original almost exactly.
    import soxr

    back = soxr.resample(out, TARGET_RATE, source_rate)[: len(source)]
    corr = np.corrcoef(source[: len(back)], back)[0, 1]
    assert corr > 0.99
    assert np.max(np.abs(out)) == pytest.approx(np.max(np.abs(source)), rel=0.05)


def test_stereo_input_is_downmixed_to_the_channel_mean(tmp_path):
    folder = make_piper_dataset(tmp_path / "in", 2)
    wav = folder / "wavs" / "sample_001.wav"
    mono, rate = sf.read(wav, dtype="int16")
    left = mono.astype(np.float64) / 32768
    sf.write(wav, np.stack([left, left * 0.5], axis=1), rate, subtype="FLOAT")
    prepared = prepare_dataset(validate_dataset(folder), tmp_path / "cache", progress=False)
    out, _ = sf.read(prepared.audio_dir / _rows(prepared)[0][0], dtype="int16")
    expected = np.round(left * 0.75 * 32768).astype(np.int16)
    assert np.max(np.abs(out.astype(int) - expected.astype(int))) <= 1


def test_second_call_converts_nothing_and_rewrites_nothing(tmp_path, capsys):
    folder = make_recorder_profile(tmp_path / "in", 3)
    report = validate_dataset(folder)
    first = prepare_dataset(report, tmp_path / "cache", progress=True)
    cache_before = snapshot(tmp_path / "cache")
    capsys.readouterr()

    second = prepare_dataset(report, tmp_path / "cache", progress=True)

    assert (second.converted, second.reused) == (0, 3)
    assert second.csv_path == first.csv_path and second.dataset_key == first.dataset_key
    assert snapshot(tmp_path / "cache") == cache_before
    assert "nothing converted" in capsys.readouterr().err


def test_cache_follows_content_not_names(tmp_path):
    folder = make_piper_dataset(tmp_path / "in", 4)
    first = prepare_dataset(validate_dataset(folder), tmp_path / "cache", progress=False)

    moved = shutil.move(folder, tmp_path / "renamed")
    again = prepare_dataset(validate_dataset(moved), tmp_path / "cache", progress=False)
    assert (again.converted, again.dataset_key) == (0, first.dataset_key)

    wav = moved / "wavs" / "sample_003.wav"
    data, rate = sf.read(wav, dtype="int16")
    sf.write(wav, (data // 2).astype(np.int16), rate, subtype="PCM_16")  # a re-recorded take
    changed = prepare_dataset(validate_dataset(moved), tmp_path / "cache", progress=False)
    assert (changed.converted, changed.reused) == (1, 3)
    assert changed.dataset_key != first.dataset_key
    assert len(list(changed.audio_dir.glob("*.wav"))) == 5


def test_other_voice_rate_gets_its_own_cache_entries(tmp_path):
    report = validate_dataset(make_piper_dataset(tmp_path / "in", 2))
    normal = prepare_dataset(report, tmp_path / "cache", progress=False)
    low = prepare_dataset(report, tmp_path / "cache", progress=False, sample_rate=16000)
    assert (low.converted, low.sample_rate) == (2, 16000)
    assert low.dataset_key != normal.dataset_key
    rates = {sf.info(str(low.audio_dir / row[0])).samplerate for row in _rows(low)}
    assert rates == {16000}
    assert low.total_seconds == pytest.approx(normal.total_seconds, abs=2 / 16000)


def test_multi_speaker_rows_and_ids_follow_piper_numbering(tmp_path):
    folder = make_piper_dataset(tmp_path / "in", 5, speakers=["zoe", "adam"])
    prepared = prepare_dataset(validate_dataset(folder), tmp_path / "cache", progress=False)
    assert prepared.num_speakers == 2
    assert prepared.speaker_ids == {"zoe": 0, "adam": 1}
    assert [row[1] for row in _rows(prepared)] == ["zoe", "adam", "zoe", "adam", "zoe"]
    assert all(len(row) == 3 for row in _rows(prepared))


def test_text_with_quotes_and_pipes_survives_piper_csv_reader(tmp_path):
    folder = make_recorder_profile(tmp_path / "in", 2)
    jsonl = folder / "metadata.jsonl"
    objs = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    objs[0]["sentence"] = 'She said "stop" | then   left.'
    objs[1]["sentence"] = '"Quoted from the start," he wrote.'
    jsonl.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")

    prepared = prepare_dataset(validate_dataset(folder), tmp_path / "cache", progress=False)

    assert [row[-1] for row in _rows(prepared)] == [
        'She said "stop" | then left.', '"Quoted from the start," he wrote.']


def test_refuses_a_report_with_problems_and_writes_nothing(tmp_path):
    broken = make_broken_dataset("missing-audio", tmp_path / "in")
    with pytest.raises(ValueError, match="problem"):
        prepare_dataset(validate_dataset(broken.path), tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


def test_failure_mid_run_leaves_only_complete_files(tmp_path, monkeypatch):
    folder = make_piper_dataset(tmp_path / "in", 4)
    report = validate_dataset(folder)
    real_convert = audio_prep.convert_audio
    calls = []

    def convert_then_fail(data, sample_rate):
        # Fault injection: the third clip fails as a full disk or Ctrl-C would.
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_convert(data, sample_rate)

    monkeypatch.setattr(audio_prep, "convert_audio", convert_then_fail)
    with pytest.raises(KeyboardInterrupt):  # in this process: the fault injection counts calls here
        prepare_dataset(report, tmp_path / "cache", progress=False, workers=1)

    files = sorted((tmp_path / "cache").rglob("*"))
    wavs = [p for p in files if p.is_file()]
    assert len(wavs) == 2 and all(p.suffix == ".wav" and not p.name.startswith(".") for p in wavs)
    assert all(sf.info(str(p)).frames > 0 for p in wavs)
    monkeypatch.setattr(audio_prep, "convert_audio", real_convert)
    resumed = prepare_dataset(report, tmp_path / "cache", progress=False)
    assert (resumed.converted, resumed.reused) == (2, 2)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["recorder-profile", "multi-speaker-csv"])
def test_piper_datamodule_loads_the_prepared_dataset(layout, tmp_path):
    from piper.train.vits.dataset import VitsDataModule

    if layout == "recorder-profile":
        folder = make_recorder_profile(tmp_path / "in", 5)
    else:
        folder = make_piper_dataset(tmp_path / "in", 5, speakers=["zoe", "adam"])
    prepared = prepare_dataset(validate_dataset(folder), tmp_path / "cache", progress=False)

    module = VitsDataModule(
        csv_path=prepared.csv_path, audio_dir=prepared.audio_dir, cache_dir=tmp_path / "piper",
        espeak_voice="en-us", config_path=tmp_path / "config.json", voice_name="test",
        sample_rate=prepared.sample_rate, num_speakers=prepared.num_speakers, batch_size=2,
        num_workers=0, validation_split=0.0, num_test_examples=0)
    module.prepare_data()
    module.setup("fit")

    assert len(module.train_dataset) == prepared.num_clips
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["speaker_id_map"] == (prepared.speaker_ids or {})
    batch = next(iter(module.train_dataloader()))
    assert batch.audios.shape[0] == 2 and float(batch.audios.abs().max()) > 0.01


def test_conversion_on_two_processes_writes_the_same_bytes_and_rows_as_one(tmp_path):
    report = validate_dataset(make_recorder_profile(tmp_path / "in", 6))  # 48 kHz: every clip resampled
    one = prepare_dataset(report, tmp_path / "one", progress=False, workers=1)
    two = prepare_dataset(report, tmp_path / "two", progress=False, workers=2)
    assert (two.converted, two.num_clips, two.total_seconds) == (6, 6, one.total_seconds)
    assert _rows(two) == _rows(one) and two.dataset_key == one.dataset_key
    for row in _rows(one):
        assert (two.audio_dir / row[0]).read_bytes() == (one.audio_dir / row[0]).read_bytes()
    again = prepare_dataset(report, tmp_path / "two", progress=False, workers=2)
    assert (again.converted, again.reused) == (0, 6)
