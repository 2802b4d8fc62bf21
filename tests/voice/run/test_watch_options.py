"""The watch options of tasks.train: checked before anything is written, kept on resume, printed
as the schedule."""

from __future__ import annotations

import dataclasses

import pytest
from support.settings_helpers import settings_for

from tasks.train import main
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
from utils.voice.run.configure import schedule_text
from utils.voice.run_config import SAMPLE_TEXT


def _refused(argv, tmp_path, capsys) -> str:
    output = tmp_path / "out"
    code = main([*argv, "--output", str(output), "--cache-dir", str(tmp_path / "cache")])
    text = capsys.readouterr().err
    assert code == 2, text
    assert not output.exists() and not (tmp_path / "cache").exists()
    return text


@pytest.mark.parametrize("argv,message", [
    (["--stop-when-stalled", "3"], "--stop-when-stalled needs validation"),
    (["--export-from", "best"], "--export-from best needs validation"),
    (["--dataset", str(SAMPLE_DATASET), "--keep-best", "0"], "--keep-best 0"),
    (["--dataset", str(SAMPLE_DATASET), "--sample-every", "-1"], "--sample-every -1"),
    (["--dataset", str(SAMPLE_DATASET), "--max-phoneme-ids", "5"], "--max-phoneme-ids 5"),
    (["--dataset", str(SAMPLE_DATASET), "--max-phoneme-ids", "20"], "no clip is within --max-phoneme-ids 20"),
])
def test_bad_watch_options_exit_2_before_writing(argv, message, tmp_path, capsys):
    assert message in _refused(argv, tmp_path, capsys)


def test_missing_sample_text_file_exits_2(tmp_path, capsys):
    text = _refused(["--sample-text", str(tmp_path / "sentences.txt")], tmp_path, capsys)
    assert "sentences.txt: no such file" in text


def test_validate_only_lists_clips_over_the_phoneme_limit(capsys):
    assert main(["--validate-only", "--max-phoneme-ids", "100"]) == 0
    out = capsys.readouterr().out
    assert "over --max-phoneme-ids 100" in out and "metadata.csv:" in out


def test_defaults_export_from_best_with_validation_and_last_without():
    report = validate_dataset(SAMPLE_DATASET)
    real = settings_for(report, dataset=str(SAMPLE_DATASET))
    demo = settings_for(report)
    assert real.watch.export_from == "best" and demo.watch.export_from == "last"
    assert real.watch.keep_best == 1 and real.watch.sample_texts == [SAMPLE_TEXT]
    printed = schedule_text.describe_schedule(real)
    assert printed.startswith("schedule: 1000 epochs") and "best 1 by validation mel loss" in printed
    demo_printed = schedule_text.describe_schedule(demo)
    assert "no validation" in demo_printed and "10 batches" in demo_printed


def test_resume_keeps_watch_settings_unless_given_again(tmp_path):
    report = validate_dataset(SAMPLE_DATASET)
    sentences = tmp_path / "s.txt"
    sentences.write_text("One.\nTwo.\n", encoding="utf-8")
    first = settings_for(report, dataset=str(SAMPLE_DATASET), keep_best=3, stop_when_stalled=4,
                         sample_text=[str(sentences)], sample_every=50)
    assert first.sample_text == "One. Two."
    resumed = settings_for(report, previous=first, resume=True)
    assert resumed.watch == first.watch
    changed = settings_for(report, previous=first, resume=True, keep_best=2)
    assert changed.watch == dataclasses.replace(first.watch, keep_best=2)
