"""Content checks: every kind of damage found on the clip it damages, a naturally varied
clean set left alone, measures cached per clip content, --trim-silence in the converted copy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from support.content_builders import DAMAGED, make_content_profile
from support.dataset_builders import snapshot

from utils.voice.data.audio_prep import audio_key, convert_audio, prepare_dataset
from utils.voice.data.content_checks import check_content, exclude_kinds, leave_out
from utils.voice.data.content_measure import CACHE_FOLDER, frame_levels, measure_file
from utils.voice.data.dataset import validate_dataset
from utils.voice.data.dataset_report import CONTENT_KINDS


@pytest.fixture(scope="module")
def clean(module_tmp_path_factory):
    return make_content_profile(module_tmp_path_factory.mktemp("clean"), 20)


@pytest.fixture(scope="module")
def damaged(module_tmp_path_factory):
    return make_content_profile(module_tmp_path_factory.mktemp("damaged"), 20, damaged=True)


def _flagged(folder, voice_rate=22050, cache=None):
    report = validate_dataset(folder)
    assert report.ok, report.format_report()
    result = check_content(report, voice_rate, cache)
    return report, result


def test_a_naturally_varied_clean_set_gives_at_most_one_warning_in_20_clips(clean):
    for voice_rate in (22050, 16000):
        report, result = _flagged(clean, voice_rate)
        assert len(report.clips) == 20
        assert len(result.flagged) <= len(report.clips) // 20, report.format_report()


def test_every_kind_is_found_on_the_clip_it_damages_and_nothing_else_is_flagged(damaged):
    report, result = _flagged(damaged)
    expected = {clip: kind for clip, kind in DAMAGED.items() if kind != "duplicate"}
    expected["0007_take1"] = "duplicate"  # 0006 holds 0007's file: the later line is the repeat
    assert {clip: kinds for clip, kinds in result.flagged.items()} == {c: [k] for c, k in expected.items()}
    assert {w.kind for w in report.warnings if w.kind in CONTENT_KINDS} == set(CONTENT_KINDS)
    assert report.ok  # warnings never refuse the dataset


def test_each_warning_names_file_line_clip_measure_and_fix(damaged):
    report, _ = _flagged(damaged)
    content = [w for w in report.warnings if w.kind in CONTENT_KINDS]
    assert len({(w.clip, w.kind) for w in content}) == len(content)  # one per clip and kind
    for warning in content:
        clip = next(c for c in report.clips if c.id == warning.clip)
        assert warning.file == clip.audio_path and warning.line == clip.line
        assert any(ch.isdigit() for ch in warning.message)  # what was measured
        assert f"--exclude {warning.kind}" in warning.fix
    level = next(w for w in content if w.kind == "level")
    assert "dB below" in level.message
    silence = next(w for w in content if w.kind == "silence")
    assert "before the speech" in silence.message and "--trim-silence" in silence.fix


def test_text_report_groups_warnings_by_kind_and_names_every_flagged_file(damaged):
    report, result = _flagged(damaged)
    text = report.format_report()
    assert "OK: dataset is ready to train." in text
    positions = [text.index(f"  {kind} (") for kind in CONTENT_KINDS]
    assert positions == sorted(positions)
    for clip in result.flagged:
        assert f"recordings/{clip}.wav" in text


def test_phone_band_judged_against_the_voice_band_not_the_file_rate(clean, damaged):
    # The clean takes are 48 kHz files whose speech stops near 11 kHz: fine for a 22050 Hz voice
    # (and a 16 kHz one); the 8 kHz phone take is flagged for both.
    for voice_rate in (22050, 16000):
        _, result = _flagged(clean, voice_rate)
        assert not result.clips_of(["bandwidth"])
        _, result = _flagged(damaged, voice_rate)
        assert result.clips_of(["bandwidth"]) == ["0008_take1"]


def test_a_reencoded_copy_is_a_duplicate_too(clean, tmp_path):
    folder = tmp_path / "profile"
    shutil.copytree(clean, folder)
    data, rate = sf.read(folder / "recordings" / "0003_take1.wav")
    sf.write(folder / "recordings" / "0011_take1.wav", data * 0.7, rate, subtype="PCM_16")  # re-exported quieter
    _, result = _flagged(folder)
    assert result.flagged == {"0011_take1": ["duplicate"]}


def test_measures_are_cached_per_clip_content(clean, tmp_path):
    folder, cache = tmp_path / "profile", tmp_path / "cache"
    shutil.copytree(clean, folder)
    first = _flagged(folder, cache=cache)[1]
    entries = sorted((cache / CACHE_FOLDER).iterdir())
    assert len(entries) == 20
    stamps = snapshot(cache)
    again = _flagged(folder, cache=cache)[1]
    assert snapshot(cache) == stamps  # nothing measured or written again
    assert {k: m.to_json() for k, m in again.measures.items()} == {k: m.to_json() for k, m in first.measures.items()}
    wav = folder / "recordings" / "0004_take1.wav"
    data, rate = sf.read(wav)
    sf.write(wav, data * 0.5, rate, subtype="PCM_32")  # re-recorded: new content, one new entry
    _flagged(folder, cache=cache)
    assert len(list((cache / CACHE_FOLDER).iterdir())) == 21


def test_a_broken_cache_entry_is_measured_again(clean, tmp_path):
    wav = clean / "recordings" / "0000_take1.wav"
    fresh = measure_file(wav, tmp_path)
    (entry,) = (tmp_path / CACHE_FOLDER).iterdir()
    entry.write_text("{ half written")
    assert measure_file(wav, tmp_path).to_json() == fresh.to_json()


def test_exclude_names_kinds_or_all_and_refuses_others():
    assert exclude_kinds("all") == list(CONTENT_KINDS)
    assert exclude_kinds("noise, clipped") == ["clipped", "noise"]
    with pytest.raises(ValueError, match="--exclude 'nois': choose from clipped, silence, noise"):
        exclude_kinds("nois")


def test_leave_out_removes_only_the_flagged_clips_of_those_kinds(damaged):
    report, result = _flagged(damaged)
    removed = leave_out(report, result, ["noise", "level"])
    assert sorted(c.id for c in removed) == ["0003_take1", "0009_take1"]
    assert len(report.clips) == 18


def test_trim_silence_trims_the_converted_copy_only(damaged, tmp_path):
    wav = damaged / "recordings" / "0002_take1.wav"  # 2.5 s of room tone before the speech
    before = snapshot(damaged)
    source = wav.read_bytes()
    key = audio_key(source, 16000, trim_silence=True)
    assert key != audio_key(source, 16000)
    report = validate_dataset(damaged)
    prepared = prepare_dataset(report, tmp_path / "cache", progress=False, sample_rate=16000, trim_silence=True)
    assert prepared.total_seconds < report.total_seconds - 2.5
    trimmed, rate = sf.read(prepared.audio_dir / f"{key}.wav", dtype="float32")
    levels, _ = frame_levels(trimmed, rate)
    loud = float(np.percentile(levels, 95))
    first_speech = int(np.flatnonzero(levels > loud - 40)[0]) * 0.02
    assert len(convert_audio(source, 16000)) - len(trimmed) > 2.5 * 16000
    assert first_speech <= 0.2  # the 0.15 s margin, to a frame
    assert snapshot(damaged) == before  # the user's files are never written


def test_exclude_and_trim_silence_survive_resume_and_old_configs_read_without_them(damaged, tmp_path):
    from support.settings_helpers import settings_for

    from utils.errors import BadInput
    from utils.voice.data.content_use import check_before_training
    from utils.voice.run_config import RunSettings

    report = validate_dataset(damaged)
    settings = settings_for(report, dataset=str(damaged), quality="x_low")
    check_before_training(report, settings, ["noise", "level"], True, None, tmp_path)
    assert (settings.exclude, settings.trim_silence, settings.dataset.clips) == (["noise", "level"], True, 18)
    assert not (tmp_path / CACHE_FOLDER).exists()  # the plan of a run writes nothing

    saved = settings.to_json()
    resumed_report = validate_dataset(damaged)
    previous = RunSettings.from_json(saved, "train_config.json")
    again = settings_for(resumed_report, previous=previous, resume=True)
    check_before_training(resumed_report, again, None, None, previous, tmp_path)
    assert (again.exclude, again.trim_silence, len(resumed_report.clips)) == (["noise", "level"], True, 18)

    old = {k: v for k, v in saved.items() if k not in ("exclude", "trim_silence")}
    assert RunSettings.from_json(old, "train_config.json").exclude == []

    one_clip = validate_dataset(damaged)
    one_clip.clips = [c for c in one_clip.clips if c.id == "0001_take1"]  # only the clipped take
    with pytest.raises(BadInput, match="leaves no clip to train on"):
        check_before_training(one_clip, settings_for(one_clip, dataset=str(damaged)), list(CONTENT_KINDS), None,
                              None, tmp_path)


def test_audio_holding_more_than_its_text_is_a_mismatch(clean, tmp_path):
    folder = tmp_path / "profile"
    shutil.copytree(clean, folder)
    first, rate = sf.read(folder / "recordings" / "0012_take1.wav")
    second, _ = sf.read(folder / "recordings" / "0013_take1.wav")
    sf.write(folder / "recordings" / "0012_take1.wav", np.concatenate([first, second]), rate, subtype="PCM_32")
    report, result = _flagged(folder)
    assert result.flagged == {"0012_take1": ["mismatch"]}
    (warning,) = [w for w in report.warnings if w.kind == "mismatch"]
    assert "holds more than its text" in warning.message


@pytest.mark.parametrize(("subtype", "channels"), [("PCM_16", 1), ("PCM_24", 1), ("FLOAT", 1), ("PCM_32", 2)])
def test_other_formats_measure_like_the_recorder_s_32_bit_pcm(clean, tmp_path, subtype, channels):
    wav = clean / "recordings" / "0005_take1.wav"
    data, rate = sf.read(wav, dtype="float64")
    other = tmp_path / "clip.wav"
    sf.write(other, np.stack([data] * channels, axis=1) if channels > 1 else data, rate, subtype=subtype)
    a, b = measure_file(wav, None).to_json(), measure_file(other, None).to_json()
    for name in ("duration_s", "level_db", "lead_s", "trail_s", "span_s", "clip_runs", "edge_hz"):
        assert a[name] == pytest.approx(b[name], abs=0.3), name


@pytest.mark.parametrize("damage", [False, True])
def test_the_issue_s_79_clip_profile(tmp_path, damage):
    # A recorder session as users make them: 79 takes, eight of them damaged; clean, at most 1 in 20 may be flagged.
    folder = make_content_profile(tmp_path, 79, damaged=damage, seed=79)
    _, result = _flagged(folder)
    if damage:
        expected = {clip: [kind] for clip, kind in DAMAGED.items() if kind != "duplicate"}
        assert result.flagged == expected | {"0007_take1": ["duplicate"]}
    else:
        assert len(result.flagged) <= 79 // 20, result.flagged
