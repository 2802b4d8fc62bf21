"""Near misses in a dataset get a hint that says what is wrong, once."""

from __future__ import annotations

import json

from support.dataset_builders import make_piper_dataset, make_recorder_profile

from utils.voice.data.dataset import validate_dataset


def _lines(profile):
    return [json.loads(line) for line in (profile / "metadata.jsonl").read_text().splitlines()]


def _write(profile, rows):
    (profile / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_recordings_in_upper_case_on_disk_are_named_with_the_fix(tmp_path):
    profile = make_recorder_profile(tmp_path, n=3)
    first = profile / "recordings" / "0000_take1.wav"
    first.rename(first.with_suffix(".WAV"))
    report = validate_dataset(profile)
    assert len(report.problems) == 1
    text = str(report.problems[0])
    assert "found recordings/0000_take1.WAV with different case" in text
    assert "rename it to 0000_take1.wav or fix the metadata" in text and "metadata.jsonl:1" in text
    assert not any("not listed" in str(w) for w in report.warnings)


def test_piper_csv_ids_whose_wav_differs_in_case_are_named(tmp_path):
    folder = make_piper_dataset(tmp_path, n=3)
    wav = sorted((folder / "wavs").iterdir())[0]
    wav.rename(wav.with_name(wav.stem.upper() + ".Wav"))
    report = validate_dataset(folder)
    assert [p.kind for p in report.problems] == ["missing-audio"]
    assert "with different case" in report.problems[0].message


def test_an_absolute_filename_inside_recordings_is_refused_once_with_the_relative_name(tmp_path):
    profile = make_recorder_profile(tmp_path, n=3)
    rows = _lines(profile)
    rows[1]["filename"] = str(profile / "recordings" / rows[1]["filename"])
    _write(profile, rows)
    report = validate_dataset(profile)
    assert [p.kind for p in report.problems] == ["path-escape"]
    assert "write it relative to the dataset folder: '0001_take1.wav'" in report.problems[0].fix
    assert not any("not listed" in str(w) for w in report.warnings)


def test_files_no_line_mentions_are_still_reported_as_unlisted(tmp_path):
    profile = make_recorder_profile(tmp_path, n=3)
    _write(profile, _lines(profile)[:2])
    report = validate_dataset(profile)
    assert report.ok
    assert any("1 audio file(s) not listed in the metadata (e.g. 0002_take1.wav)" in str(w) for w in report.warnings)
