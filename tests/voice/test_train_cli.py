"""tasks.train refuses bad input with exit 2, a message naming the file, and nothing written."""

from __future__ import annotations

import os

import pytest
from dataset_builders import BROKEN_KINDS, make_broken_dataset, make_piper_dataset, snapshot

from tasks.train import main
from utils.voice import training
from utils.voice.dataset import SAMPLE_DATASET, validate_dataset


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("kind", sorted(BROKEN_KINDS))
def test_broken_dataset_exits_2_names_the_file_and_writes_nothing(kind, tmp_path, capsys):
    broken = make_broken_dataset(kind, tmp_path / "data")
    before = snapshot(tmp_path)
    output = tmp_path / "out"
    code, text = _run(["--dataset", str(broken.path), "--output", str(output),
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2
    assert str(broken.culprit) in text
    if broken.line:
        assert f"{broken.culprit}:{broken.line}" in text
    assert not output.exists()
    assert not (tmp_path / "cache").exists()
    assert snapshot(tmp_path) == before


def test_at_least_ten_kinds_of_broken_dataset_are_covered():
    assert len(BROKEN_KINDS) >= 10


def test_validate_only_prints_the_report_and_exits_0_for_the_sample(tmp_path, capsys):
    code = main(["--validate-only", "--output", str(tmp_path / "out")])
    assert code == 0
    assert capsys.readouterr().out.strip() == validate_dataset(SAMPLE_DATASET).format_report().strip()
    assert not (tmp_path / "out").exists()


def test_validate_only_exits_2_for_a_broken_dataset(tmp_path, capsys):
    broken = make_broken_dataset("missing-audio", tmp_path)
    code, text = _run(["--dataset", str(broken.path), "--validate-only"], capsys)
    assert code == 2
    assert str(broken.culprit) in text


def test_unknown_option_exits_2(tmp_path, capsys):
    code, text = _run(["--output", str(tmp_path / "out"), "--not-an-option", "1"], capsys)
    assert code == 2
    assert "--not-an-option" in text
    assert not (tmp_path / "out").exists()


def test_misspelled_trainer_option_exits_2_before_writing(tmp_path, capsys):
    code, text = _run(["--output", str(tmp_path / "out"), "--trainer.max_stepz=3",
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2
    assert "max_stepz" in text
    assert not (tmp_path / "out").exists()


def test_resume_without_a_checkpoint_exits_2(tmp_path, capsys):
    code, text = _run(["--output", str(tmp_path / "out"), "--resume"], capsys)
    assert code == 2
    assert "last.ckpt" in text
    assert not (tmp_path / "out").exists()


def test_finetune_from_a_checkpoint_carrying_a_pickled_callable_is_refused(tmp_path, capsys):
    import torch

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"model_g.emb_g.weight": torch.zeros(2, 2)},
                "hyper_parameters": {"on_load": os.system}}, evil)
    code, text = _run(["--finetune", str(evil), "--output", str(tmp_path / "out"),
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2
    assert str(evil) in text
    assert "refused" in text
    assert not (tmp_path / "out").exists()


def test_finetune_from_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    code, text = _run(["--finetune", str(junk), "--output", str(tmp_path / "out")], capsys)
    assert code == 2
    assert str(junk) in text


def test_passthrough_values_are_parsed_as_json_or_text():
    parsed = training.parse_passthrough(["--trainer.max_time=00:00:10:00", "--model.c_mel", "40",
                                         "--data.trim_silence=false", "--trainer.gradient_clip_val=none"])
    assert parsed["trainer"] == {"max_time": "00:00:10:00", "gradient_clip_val": None}
    assert parsed["model"] == {"c_mel": 40}
    assert parsed["data"] == {"trim_silence": False}


def test_quality_presets_all_train_at_the_cache_rate_with_piper_shapes(tmp_path):
    report = validate_dataset(make_piper_dataset(tmp_path, n=3))
    got = {}
    for quality in training.QUALITIES:
        settings = training.resolve_settings({"dataset": str(report.path), "quality": quality}, report)
        got[quality] = settings
    assert {settings["voice"]["sample_rate"] for settings in got.values()} == {22050}
    assert got["x_low"]["model"]["hidden_channels"] == 96
    assert "hidden_channels" not in got["low"]["model"]  # piper's defaults are the low/medium network
    assert got["high"]["model"]["upsample_initial_channel"] == 512
    # Lightning counts two optimizer steps per batch.
    settings = training.resolve_settings({"dataset": str(report.path), "max_steps": 7}, report)
    assert settings["trainer"]["max_steps"] == 14


def test_demo_defaults_apply_only_without_a_dataset(tmp_path):
    sample = validate_dataset(SAMPLE_DATASET)
    demo = training.resolve_settings({}, sample)
    assert demo["dataset"]["demo"] and demo["voice"]["quality"] == "x_low"
    assert demo["schedule"]["max_steps"] == training.DEMO["max_steps"]
    mine = validate_dataset(make_piper_dataset(tmp_path, n=3))
    real = training.resolve_settings({"dataset": str(mine.path)}, mine)
    assert not real["dataset"]["demo"] and real["voice"]["quality"] == "low"
