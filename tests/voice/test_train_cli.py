"""tasks.train refuses bad input with exit 2, a message naming the file, and nothing written."""

from __future__ import annotations

import os

import pytest
from dataset_builders import BROKEN_KINDS, make_broken_dataset, snapshot

from tasks.train import main
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset


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


def test_resume_and_finetune_together_exit_2(tmp_path, capsys):
    code, text = _run(["--output", str(tmp_path / "out"), "--resume", "--finetune", "x.ckpt"], capsys)
    assert code == 2
    assert "exclude each other" in text


def _fake_finished_run(output, config_text):
    """A run folder as a crashed or older coaxial-train leaves it: a checkpoint and a config."""
    (output / "checkpoints").mkdir(parents=True)
    (output / "checkpoints" / "last.ckpt").write_bytes(b"placeholder: never read when the config is refused")
    (output / "train_config.json").write_text(config_text, encoding="utf-8")


@pytest.mark.parametrize("config_text,named", [
    ('{"voice": {"voice_name": "demo"}}', "config_version"),       # written before typed settings
    ("{ not json", "cannot read"),
    ('{"config_version": 2, "voice": {}}', "voice_name"),            # hand-edited, field removed
])
def test_resume_with_an_outdated_or_broken_config_exits_2_with_the_fix(tmp_path, capsys, config_text, named):
    output = tmp_path / "out"
    _fake_finished_run(output, config_text)
    before = snapshot(tmp_path)
    code, text = _run(["--output", str(output), "--resume"], capsys)
    assert code == 2, text
    assert "train_config.json" in text and named in text and "--output" in text
    assert "Traceback" not in text
    assert snapshot(tmp_path) == before


def test_training_into_a_folder_that_holds_a_run_exits_2(tmp_path, capsys):
    output = tmp_path / "out"
    _fake_finished_run(output, "{}")
    before = snapshot(tmp_path)
    code, text = _run(["--output", str(output), "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2
    assert "--resume" in text and str(output) in text
    assert snapshot(tmp_path) == before
