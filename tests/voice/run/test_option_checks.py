"""Each option and input refused with one line naming the value and the fix (the checks themselves;
test_train_refusals.py proves the command exits 2 with nothing written)."""

from __future__ import annotations

import zipfile

import pytest
import torch

from utils.errors import BadInput
from utils.voice.options import TrainOptions
from utils.voice.run.configure import value_checks
from utils.voice.run.output.checkpoint_files import atomic_torch_save
from utils.voice.run.plan import option_checks, resume_checks


@pytest.mark.parametrize(("key", "value", "words"), [
    ("devices", 0, "--devices 0: must be 1 or more"),
    ("devices", -2, "--devices -2"),
    ("num_nodes", 0, "--num-nodes 0: must be a whole number of machines, 1 or more"),
    ("checkpoint_every", 0, "--checkpoint-every 0"),
    ("checkpoint_every", -5, "--checkpoint-every -5"),
    ("segment_size", 0, "--segment-size 0: must be a positive multiple of the hop length 256 (e.g. 256"),
    ("segment_size", 1000, "(e.g. 1024"),
    ("batch_size", 0, "--batch-size 0"),
    ("max_steps", 0, "--max-steps 0"),
    ("max_steps", -1, "--max-steps -1"),
    ("max_epochs", 0, "--max-epochs 0"),
    ("num_workers", -1, "--num-workers -1"),
    ("seed", -1, "--seed -1"),
])
def test_out_of_range_numbers_are_refused_by_name(key, value, words):
    with pytest.raises(BadInput) as refused:
        option_checks.check_numbers(*_requests(**{key: value}))
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_good_numbers_and_absent_options_pass():
    option_checks.check_numbers(*_requests(devices=-1, num_nodes=1, checkpoint_every=1, segment_size=8192,
                                        batch_size=1, max_steps=1, max_epochs=None, num_workers=0, seed=0))
    option_checks.check_numbers(*_requests())


def _requests(**flags):
    options = TrainOptions.of(**flags)
    return options.schedule, options.device


@pytest.mark.parametrize("name", ["two\nlines", "   ", "", "a/b", "a\\b", ".hidden", " padded", "tab\there",
                                  "x" * 101])
def test_voice_names_that_cannot_name_files_are_refused(name):
    with pytest.raises(BadInput, match=r"^--voice-name .*: it names the output files"):
        value_checks.check_voice_name(name)


@pytest.mark.parametrize("name", ["demo", "en_US-lessac-medium", "Ünïcödé-Stimme", "voice 2"])
def test_ordinary_voice_names_pass(name):
    value_checks.check_voice_name(name)


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(BadInput, match=rf"^--output {tmp_path / 'taken'} is a file — choose a folder"):
        option_checks.check_folder(tmp_path / "taken", "--output")


def test_a_cache_dir_below_a_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput, match=rf"cannot be created: {tmp_path / 'file'} is a file"):
        option_checks.check_folder(tmp_path / "file" / "cache", "--cache-dir")


def test_new_and_existing_folders_pass(tmp_path):
    option_checks.check_folder(tmp_path, "--output")
    option_checks.check_folder(tmp_path / "a" / "b", "--cache-dir")
    assert not (tmp_path / "a").exists()


def test_an_unknown_espeak_voice_is_refused_with_the_close_names():
    with pytest.raises(BadInput) as refused:
        option_checks.check_espeak_voice("en_US")
    assert str(refused.value).startswith("--espeak-voice en_US: espeak-ng has no such voice — did you mean en-us")
    with pytest.raises(BadInput, match="no such voice"):
        option_checks.check_espeak_voice("xx-yy")


@pytest.mark.parametrize("voice", ["en-us", "de", "en-gb-x-rp", "EN-US"])
def test_espeak_voices_piper_knows_pass(voice):
    option_checks.check_espeak_voice(voice)
    assert "en-us" in option_checks.espeak_voice_names()


def _training_checkpoint(path, hidden=96):
    atomic_torch_save({"epoch": 3, "global_step": 40, "state_dict": {"model_g.w": torch.ones(64, 64)},
                       "optimizer_states": [{"state": {}}], "hyper_parameters": {"hidden_channels": hidden}}, path)
    return path


def test_a_whole_resume_checkpoint_of_this_network_passes(tmp_path):
    ckpt = _training_checkpoint(tmp_path / "last.ckpt")
    assert resume_checks.check_resume_checkpoint(ckpt, {"hidden_channels": 96}) == {"global_step": 40, "epoch": 3}


@pytest.mark.parametrize("cut", [1, 100, 0.5])
def test_a_truncated_resume_checkpoint_is_refused_before_anything_is_written(tmp_path, cut):
    ckpt = _training_checkpoint(tmp_path / "last.ckpt")
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: int(len(data) * cut) if isinstance(cut, float) else len(data) - cut])
    with pytest.raises(BadInput, match=rf"^{ckpt}: (truncated|damaged).* — restore it from a backup"):
        resume_checks.check_resume_checkpoint(ckpt)


def test_foreign_files_as_resume_checkpoint_are_refused(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_text("not a checkpoint")
    with pytest.raises(BadInput, match="truncated or not a PyTorch checkpoint"):
        resume_checks.check_resume_checkpoint(ckpt)
    with zipfile.ZipFile(ckpt, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(BadInput, match="a zip file but not a PyTorch checkpoint"):
        resume_checks.check_resume_checkpoint(ckpt)
    torch.save(torch.ones(3), ckpt)
    with pytest.raises(BadInput, match="no 'state_dict' inside"):
        resume_checks.check_resume_checkpoint(ckpt)
    torch.save({"state_dict": {"model_g.w": torch.ones(3)}}, ckpt)
    with pytest.raises(BadInput, match="no training state.*--finetune"):
        resume_checks.check_resume_checkpoint(ckpt)


def test_a_checkpoint_of_another_network_is_refused_naming_the_difference(tmp_path):
    ckpt = _training_checkpoint(tmp_path / "last.ckpt", hidden=192)
    with pytest.raises(BadInput, match="belongs to another network \\(hidden_channels 192, this run's "
                                       "train_config.json says 96\\)"):
        resume_checks.check_resume_checkpoint(ckpt, {"hidden_channels": 96})


def test_a_resume_checkpoint_carrying_code_is_refused(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "optimizer_states": [], "hook": print}, ckpt)
    with pytest.raises(BadInput, match="pickled Python objects"):
        resume_checks.check_resume_checkpoint(ckpt)


def test_a_resume_checkpoint_with_a_flipped_byte_inside_is_refused(tmp_path):
    ckpt = _training_checkpoint(tmp_path / "last.ckpt")
    data = bytearray(ckpt.read_bytes())
    at = data.index(b"\x00\x00\x80\x3f")  # a float32 1.0 of the weights
    data[at + 3] = 0x40
    ckpt.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="fails its checksum"):
        resume_checks.check_resume_checkpoint(ckpt)
