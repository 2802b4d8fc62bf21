"""Dataset validation: accepted layouts, every refused kind named by file and line, nothing written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from support.dataset_builders import (
    BROKEN_KINDS,
    RECORDER_RATE,
    make_broken_dataset,
    make_piper_dataset,
    make_recorder_profile,
    snapshot,
)

from utils.voice.data.dataset import (
    LONG_CLIP_S,
    PIPER_CSV,
    RECORDER_PROFILE,
    SAMPLE_DATASET,
    SHORT_CLIP_S,
    validate_dataset,
)


def test_bundled_sample_validates_clean():
    before = snapshot(SAMPLE_DATASET)
    report = validate_dataset(SAMPLE_DATASET)
    assert report.ok, report.format_report()
    assert report.layout == PIPER_CSV
    assert report.problems == [] and report.warnings == []
    assert 24 <= len(report.clips) <= 30
    assert all(c.sample_rate == 22050 and c.channels == 1 for c in report.clips)
    assert all(sf.info(str(c.audio_path)).subtype == "PCM_16" for c in report.clips)
    total_bytes = sum(p.stat().st_size for p in SAMPLE_DATASET.rglob("*") if p.is_file())
    assert total_bytes < 3_000_000
    assert snapshot(SAMPLE_DATASET) == before


@pytest.mark.parametrize("kind", sorted(BROKEN_KINDS))
def test_refuses_broken_dataset_naming_file_and_line_and_writes_nothing(kind, tmp_path):
    broken = make_broken_dataset(kind, tmp_path)
    before = snapshot(tmp_path)

    report = validate_dataset(broken.path)
    text = report.format_report()

    assert not report.ok
    assert report.problems, text
    where = f"{broken.culprit}:{broken.line}" if broken.line else str(broken.culprit)
    assert any(str(p).startswith(where) for p in report.problems), text
    assert "NOT OK" in text and where in text
    assert all(p.fix for p in report.problems)
    assert snapshot(tmp_path) == before


def test_at_least_ten_broken_kinds_are_built():
    assert len(BROKEN_KINDS) >= 10


def test_problem_prints_path_line_message_and_fix(tmp_path):
    broken = make_broken_dataset("empty-text", tmp_path)
    problem = validate_dataset(broken.path).problems[0]
    assert str(problem) == f"{broken.culprit}:{broken.line}: {problem.message} — {problem.fix}"


def test_every_problem_in_a_file_is_reported_not_just_the_first(tmp_path):
    folder = make_piper_dataset(tmp_path, 6)
    csv_path = folder / "metadata.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    lines[1] = "sample_002|"
    lines[3] = "sample_999|No audio for this one."
    lines[5] = "sample_001|Second use of an id."
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = validate_dataset(folder)

    assert {(p.line, p.kind) for p in report.problems} == {
        (2, "empty-text"), (4, "missing-audio"), (6, "duplicate-id")}
    assert len(report.clips) == 3


def test_accepts_audio_beside_csv_and_ids_with_wav_suffix(tmp_path):
    folder = make_piper_dataset(tmp_path, 4, audio_beside_csv=True)
    csv_path = folder / "metadata.csv"
    csv_path.write_text(csv_path.read_text(encoding="utf-8").replace("sample_002|", "sample_002.wav|"),
                        encoding="utf-8")
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert [c.audio_path for c in report.clips] == [folder / f"sample_00{i}.wav" for i in range(1, 5)]


def test_accepts_metadata_file_path_and_utf8_bom(tmp_path):
    folder = make_piper_dataset(tmp_path, 3)
    csv_path = folder / "metadata.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())
    report = validate_dataset(csv_path)
    assert report.ok, report.format_report()
    assert report.clips[0].id == "sample_001"


def test_multi_speaker_csv_numbers_speakers_in_order_of_appearance(tmp_path):
    folder = make_piper_dataset(tmp_path, 6, speakers=["bob", "alice"])
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert report.speakers == ["bob", "alice"]
    assert report.num_speakers == 2
    assert [c.speaker for c in report.clips[:3]] == ["bob", "alice", "bob"]


def test_ljspeech_three_columns_read_as_single_speaker_text(tmp_path):
    folder = make_piper_dataset(tmp_path, 4)
    csv_path = folder / "metadata.csv"
    rows = [line.split("|", 1) for line in csv_path.read_text(encoding="utf-8").splitlines()]
    csv_path.write_text("".join(f"{i}|{t.upper()}|{t}\n" for i, t in rows), encoding="utf-8")

    report = validate_dataset(folder)

    assert report.ok, report.format_report()
    assert report.speakers == []
    assert [c.text for c in report.clips] == [t for _, t in rows]
    assert any(w.kind == "ljspeech" for w in report.warnings)


def test_mixed_column_counts_are_refused_on_the_odd_line(tmp_path):
    folder = make_piper_dataset(tmp_path, 4, speakers=["a", "b"])
    csv_path = folder / "metadata.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    lines[2] = "sample_003|Speaker missing on this line."
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_dataset(folder)
    assert [(p.line, p.kind) for p in report.problems] == [(3, "column-count")]


def test_recorder_profile_at_48k_32bit_validates(tmp_path):
    folder = make_recorder_profile(tmp_path, 5)
    before = snapshot(tmp_path)
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert report.layout == RECORDER_PROFILE
    assert len(report.clips) == 5
    assert {(c.sample_rate, c.channels) for c in report.clips} == {(RECORDER_RATE, 1)}
    assert all(sf.info(str(c.audio_path)).subtype == "PCM_32" for c in report.clips)
    assert all(c.audio_path.parent == folder / "recordings" for c in report.clips)
    assert snapshot(tmp_path) == before


def test_recorder_profile_audio_in_preprocessed_folder_is_found(tmp_path):
    folder = make_recorder_profile(tmp_path, 3, preprocessed=True)
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert all(c.audio_path.parent == folder / "recordings" / "preprocessed" for c in report.clips)


def test_recorder_repeated_line_with_same_sentence_warns_but_passes(tmp_path):
    folder = make_recorder_profile(tmp_path, 3)
    jsonl = folder / "metadata.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    jsonl.write_text("\n".join([*lines, lines[0]]) + "\n", encoding="utf-8")
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert len(report.clips) == 3
    assert [(w.line, w.kind) for w in report.warnings if w.kind == "duplicate-id"] == [(4, "duplicate-id")]


def test_recorder_line_that_is_not_an_object_is_refused(tmp_path):
    folder = make_recorder_profile(tmp_path, 3)
    jsonl = folder / "metadata.jsonl"
    jsonl.write_text(jsonl.read_text(encoding="utf-8") + json.dumps(["a", "list"]) + "\n", encoding="utf-8")
    report = validate_dataset(folder)
    assert [(p.line, p.kind) for p in report.problems] == [(4, "broken-json")]


def test_very_short_and_very_long_clips_warn_without_failing(tmp_path):
    folder = make_piper_dataset(tmp_path, 4)
    wavs = folder / "wavs"
    data, rate = sf.read(wavs / "sample_001.wav", dtype="int16")
    sf.write(wavs / "sample_001.wav", data[: int(rate * SHORT_CLIP_S / 2)], rate, subtype="PCM_16")
    repeats = int(LONG_CLIP_S * rate / len(data)) + 2
    sf.write(wavs / "sample_002.wav", np.tile(data, repeats), rate, subtype="PCM_16")

    report = validate_dataset(folder)

    assert report.ok, report.format_report()
    kinds = {(w.file.name, w.kind) for w in report.warnings}
    assert ("sample_001.wav", "short-clip") in kinds
    assert ("sample_002.wav", "long-clip") in kinds


def test_truncated_wav_is_used_with_a_warning(tmp_path):
    folder = make_piper_dataset(tmp_path, 3)
    wav = folder / "wavs" / "sample_003.wav"
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert [(w.file, w.kind) for w in report.warnings if w.kind == "truncated-audio"] == [
        (wav, "truncated-audio")]


def test_stereo_float_and_other_rates_are_accepted(tmp_path):
    folder = make_piper_dataset(tmp_path, 3)
    wavs = folder / "wavs"
    data, rate = sf.read(wavs / "sample_001.wav", dtype="float32")
    sf.write(wavs / "sample_001.wav", np.stack([data, data * 0.5], axis=1), rate, subtype="FLOAT")
    sf.write(wavs / "sample_002.wav", data[::2], rate // 2, subtype="PCM_24")
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    assert [(c.channels, c.sample_rate) for c in report.clips[:2]] == [(2, rate), (1, rate // 2)]


def test_symlink_inside_the_dataset_is_allowed(tmp_path):
    folder = make_piper_dataset(tmp_path, 3)
    shutil.move(folder / "wavs" / "sample_002.wav", folder / "real_002.wav")
    (folder / "wavs" / "sample_002.wav").symlink_to(folder / "real_002.wav")
    report = validate_dataset(folder)
    assert report.ok, report.format_report()


def test_no_metadata_hint_points_at_a_subfolder_that_has_it(tmp_path):
    make_piper_dataset(tmp_path, 3)
    report = validate_dataset(tmp_path)
    assert not report.ok
    assert "piper" in report.problems[0].fix and str(tmp_path / "piper") in report.problems[0].fix


def test_thousands_of_identical_problems_are_summarised(tmp_path):
    folder = make_piper_dataset(tmp_path, 2)
    lines = [f"missing_{i:04d}|Text number {i}." for i in range(200)]
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_dataset(folder)
    text = report.format_report()
    assert len(report.problems) == 200
    assert "more like 'missing-audio'" in text
    assert text.count("not found") < 50
