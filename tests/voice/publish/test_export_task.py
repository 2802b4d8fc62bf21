"""tasks.export: a checkpoint becomes a voice the piper runtime speaks with; bad files exit 2.

The checkpoint here holds what Lightning writes for piper's VitsModel (state_dict,
hyper_parameters, global_step) from an untrained x_low network; test_watch_training.py exports
the checkpoints of a real run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.export import main


def _x_low_checkpoint(path: Path, **hparam_changes) -> None:
    import torch

    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(0)
    model = VitsModel(num_symbols=256, hidden_channels=96, inter_channels=96, filter_channels=384,
                      mos_metric="none", sample_rate=22050)
    hparams = dict(model.hparams) | hparam_changes
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams, "global_step": 24,
                "epoch": 1}, path)


def test_not_a_checkpoint_exits_2_and_writes_nothing(tmp_path, capsys):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint", encoding="utf-8")
    assert main([str(bogus), "--output", str(tmp_path / "out")]) == 2
    assert f"error: {bogus}: " in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main([str(tmp_path / "missing.ckpt")]) == 2


def test_weights_that_do_not_fit_exit_2(tmp_path, capsys):
    ckpt = tmp_path / "wrong.ckpt"
    _x_low_checkpoint(ckpt, hidden_channels=192)  # the hyper-parameters describe a bigger network
    assert main([str(ckpt), "--output", str(tmp_path / "out")]) == 2
    assert "do not fit the network" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_checkpoint_outside_a_run_becomes_a_speaking_voice(tmp_path, capsys):
    from piper import PiperVoice

    ckpt = tmp_path / "somewhere" / "model.ckpt"
    _x_low_checkpoint(ckpt)
    out = tmp_path / "voice"
    assert main([str(ckpt), "--output", str(out), "--voice-name", "en_US-test-x_low"]) == 0
    printed = capsys.readouterr().out
    assert "(batch 12)" in printed  # Lightning's global_step 24 = 12 batches of two optimizer steps
    config = json.loads((out / "en_US-test-x_low.onnx.json").read_text(encoding="utf-8"))
    assert config["dataset"] == "en_US-test-x_low" and config["audio"]["quality"] == "x_low"
    assert config["espeak"]["voice"] == "en-us"
    voice = PiperVoice.load(out / "en_US-test-x_low.onnx")
    assert voice.config.sample_rate == 22050
    assert (out / "sample.wav").stat().st_size > 1000
