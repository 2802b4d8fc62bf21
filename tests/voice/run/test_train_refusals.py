"""tasks.train refuses bad input before writing anything, with exit 2 and a message naming the file
and the fix: broken datasets, unknown or bad options and values, an unsafe or broken checkpoint, a
broken last.ckpt on --resume, a folder another run owns, a disk too small; and it labels a
fine-tune by its network."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from support.dataset_builders import BROKEN_KINDS, make_broken_dataset, make_piper_dataset, snapshot
from support.settings_helpers import settings_for
from support.train_process import call_main

from tasks.train import main
from utils.files import atomic_write_json
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
from utils.voice.options import TrainOptions
from utils.voice.pipeline import plan_run
from utils.voice.run.output import disk_space
from utils.voice.run.output.checkpoint_files import atomic_torch_save
from utils.voice.run_config import QUALITIES


@pytest.mark.parametrize(("args", "named"), [
    (["--espeak-voice", "en_US"], "--espeak-voice en_US: espeak-ng has no such voice — did you mean en-us"),
    (["--devices", "0"], "--devices 0"),
    (["--num-nodes", "0"], "--num-nodes 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every 0"),
    (["--checkpoint-every", "-3"], "--checkpoint-every -3"),
    (["--segment-size", "0"], "--segment-size 0"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--max-steps", "-1"], "--max-steps -1"),
    (["--voice-name", "two\nlines"], "--voice-name 'two\\nlines' contains a control character"),
    (["--voice-name", "   "], "--voice-name '   ' is empty or only spaces"),
    (["--voice-name", "a/b"], "--voice-name 'a/b' contains a path separator"),
    (["--cache-dir", "{file}"], "--cache-dir {file} is a file"),
    (["--output", "{file}"], "--output {file} is a file"),
])
def test_bad_values_exit_2_with_one_line_and_nothing_written(tmp_path, capsys, args, named):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    args = [a.replace("{file}", str(a_file)) for a in args]
    output = ["--output", str(tmp_path / "out")] if "--output" not in args else []
    cache = ["--cache-dir", str(tmp_path / "cache")] if "--cache-dir" not in args else []
    before = snapshot(tmp_path)
    code, out, err = call_main(main, [*output, *cache, *args], capsys)
    text = out + err
    assert code == 2, text
    assert named.replace("{file}", str(a_file)) in text
    assert text.count("\n") == 1 and text.startswith("error: ")  # one line, no traceback
    assert snapshot(tmp_path) == before


def _resumable_folder(output, checkpoint_bytes: bytes | None = None):
    """A run folder as coaxial-train writes it (real settings), with the given last.ckpt."""
    settings = settings_for(validate_dataset(SAMPLE_DATASET))
    atomic_write_json(output / "train_config.json", settings.to_json())
    ckpt = output / "checkpoints" / "last.ckpt"
    atomic_torch_save({"epoch": 0, "global_step": 4, "state_dict": {"model_g.w": torch.ones(256, 256)},
                       "optimizer_states": [{}], "hyper_parameters": settings.model.kwargs()}, ckpt)
    if checkpoint_bytes is not None:
        ckpt.write_bytes(checkpoint_bytes(ckpt.read_bytes()))
    return ckpt


@pytest.mark.parametrize(("damage", "named"), [
    (lambda data: data[: len(data) // 2], "truncated or not a PyTorch checkpoint"),
    (lambda data: data[:-10], "truncated or not a PyTorch checkpoint"),
    (lambda data: b"<html>404 Not Found</html>", "truncated or not a PyTorch checkpoint"),
])
def test_resume_from_a_truncated_or_foreign_checkpoint_exits_2_before_writing(tmp_path, capsys, damage, named):
    output = tmp_path / "out"
    ckpt = _resumable_folder(output, damage)
    before = snapshot(tmp_path)
    code, out, err = call_main(main, ["--output", str(output), "--resume", "--cache-dir", str(tmp_path / "cache")],
                               capsys)
    text = out + err
    assert code == 2, text
    assert text.startswith(f"error: {ckpt}: {named}") and text.count("\n") == 1
    assert snapshot(tmp_path) == before


def test_resume_from_a_checkpoint_of_another_network_exits_2(tmp_path, capsys):
    output = tmp_path / "out"
    ckpt = _resumable_folder(output)
    data = torch.load(ckpt, weights_only=True)
    data["hyper_parameters"]["hidden_channels"] = 192  # the demo is x_low (96)
    atomic_torch_save(data, ckpt)
    before = snapshot(tmp_path)
    code, out, err = call_main(main, ["--output", str(output), "--resume", "--cache-dir", str(tmp_path / "cache")],
                               capsys)
    text = out + err
    assert code == 2 and "belongs to another network (hidden_channels 192" in text
    assert snapshot(tmp_path) == before


HOLDER = """
import sys
from utils.voice.run.output.folder_lock import RunLock
with RunLock(sys.argv[1], command=["--output", sys.argv[1]]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_second_run_into_a_folder_in_use_exits_2_naming_the_first(tmp_path, capsys):
    output = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(output)], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        before = snapshot(tmp_path)
        code, out, err = call_main(main, ["--output", str(output), "--max-steps", "1", "--cache-dir",
                                          str(tmp_path / "cache")], capsys)
        text = out + err
        assert code == 2, text
        assert f"in use by another training run (pid {first.pid} on " in text and "running since" in text
        assert snapshot(tmp_path) == before  # no train_config.json from the second run
    finally:
        first.communicate("\n", timeout=30)


def test_a_disk_without_room_for_a_checkpoint_exits_1_before_writing(tmp_path, capsys, monkeypatch):
    def fake_disk_with_100_mb_free(folder):  # a full disk is hardware state this machine lacks
        return 100 * disk_space.MB

    monkeypatch.setattr(disk_space, "free_bytes", fake_disk_with_100_mb_free)
    before = snapshot(tmp_path)
    code, out, err = call_main(main, ["--output", str(tmp_path / "out"), "--max-steps", "1", "--cache-dir",
                       str(tmp_path / "cache")], capsys)
    text = out + err
    assert code == 1, text
    error = text.splitlines()[-1]
    assert error.startswith(f"error: disk full: 100 MB free in {tmp_path / 'out'}, a checkpoint needs ")
    assert "Traceback" not in text
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("asked", ["low", "medium", "high"])
def test_a_finetune_of_an_x_low_checkpoint_is_labelled_x_low_whatever_quality_was_asked(tmp_path, asked):
    x_low = {**QUALITIES["x_low"]["model"], "sample_rate": 16000}
    base = tmp_path / "x_low.ckpt"
    atomic_torch_save({"state_dict": {"model_g.enc_p.emb.weight": torch.zeros(4, 96)}, "global_step": 10,
                       "hyper_parameters": x_low}, base)
    dataset = make_piper_dataset(tmp_path, n=3)
    plan = plan_run(TrainOptions.of(dataset=str(dataset), finetune=str(base), quality=asked, no_export=True,
                                    output=str(tmp_path / "out"), accelerator="cpu"))
    assert plan.settings.voice.quality == "x_low"
    assert plan.settings.voice.sample_rate == 16000
    assert json.loads(json.dumps(plan.settings.to_json()))["voice"]["quality"] == "x_low"

@pytest.mark.parametrize("kind", sorted(BROKEN_KINDS))
def test_broken_dataset_exits_2_names_the_file_and_writes_nothing(kind, tmp_path, capsys):
    broken = make_broken_dataset(kind, tmp_path / "data")
    before = snapshot(tmp_path)
    output = tmp_path / "out"
    code, out, err = call_main(main, ["--dataset", str(broken.path), "--output", str(output),
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    text = out + err
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
    code, out, err = call_main(main, ["--dataset", str(broken.path), "--validate-only"], capsys)
    text = out + err
    assert code == 2
    assert str(broken.culprit) in text


def test_unknown_option_exits_2(tmp_path, capsys):
    code, out, err = call_main(main, ["--output", str(tmp_path / "out"), "--not-an-option", "1"], capsys)
    text = out + err
    assert code == 2
    assert "--not-an-option" in text
    assert not (tmp_path / "out").exists()


def test_misspelled_trainer_option_exits_2_before_writing(tmp_path, capsys):
    code, out, err = call_main(main, ["--output", str(tmp_path / "out"), "--trainer.max_stepz=3",
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    text = out + err
    assert code == 2
    assert "max_stepz" in text
    assert not (tmp_path / "out").exists()


def test_resume_without_a_checkpoint_exits_2(tmp_path, capsys):
    code, out, err = call_main(main, ["--output", str(tmp_path / "out"), "--resume"], capsys)
    text = out + err
    assert code == 2
    assert "last.ckpt" in text
    assert not (tmp_path / "out").exists()


def test_finetune_from_a_checkpoint_carrying_a_pickled_callable_is_refused(tmp_path, capsys):
    import torch

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"model_g.emb_g.weight": torch.zeros(2, 2)},
                "hyper_parameters": {"on_load": os.system}}, evil)
    code, out, err = call_main(main, ["--finetune", str(evil), "--output", str(tmp_path / "out"),
                       "--cache-dir", str(tmp_path / "cache")], capsys)
    text = out + err
    assert code == 2
    assert str(evil) in text
    assert "refused" in text
    assert not (tmp_path / "out").exists()


def test_finetune_from_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    code, out, err = call_main(main, ["--finetune", str(junk), "--output", str(tmp_path / "out")], capsys)
    text = out + err
    assert code == 2
    assert str(junk) in text


def test_resume_and_finetune_together_exit_2(tmp_path, capsys):
    code, out, err = call_main(main, ["--output", str(tmp_path / "out"), "--resume", "--finetune", "x.ckpt"], capsys)
    text = out + err
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
    code, out, err = call_main(main, ["--output", str(output), "--resume"], capsys)
    text = out + err
    assert code == 2, text
    assert "train_config.json" in text and named in text and "--output" in text
    assert "Traceback" not in text
    assert snapshot(tmp_path) == before


def test_training_into_a_folder_that_holds_a_run_exits_2(tmp_path, capsys):
    output = tmp_path / "out"
    _fake_finished_run(output, "{}")
    before = snapshot(tmp_path)
    code, out, err = call_main(main, ["--output", str(output), "--cache-dir", str(tmp_path / "cache")], capsys)
    text = out + err
    assert code == 2
    assert "--resume" in text and str(output) in text
    assert snapshot(tmp_path) == before
