"""Exported voices carry what Home Assistant needs, install atomically, and wyoming-piper lists and speaks them."""

from __future__ import annotations

import filecmp
import json
import os

import pytest
from support.checkpoint_builders import TINY
from support.wyoming_client import serve_and_ask

from tasks.install_voice import main as install_main
from utils.voice.publish.voice_naming import published_voice_name

VOICE = "en_US-anna-medium"


@pytest.fixture(scope="module")
def exported_voice(module_tmp_path_factory):
    """A real voice: a small piper1-gpl VitsModel exported to ONNX with the config piper.train writes."""
    import torch
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
    from piper.train.vits.lightning import VitsModel

    from utils.voice.publish.export import export_onnx, write_voice_config

    out = module_tmp_path_factory.mktemp("output")
    training_config = out / "checkpoints" / "voice_config.json"
    training_config.parent.mkdir()
    piper_config = PiperConfig(num_symbols=256, num_speakers=1, sample_rate=22050, espeak_voice="en-us",
                               phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
                               piper_version="1.5.0")
    training_config.write_text(json.dumps(piper_config.to_dict()), encoding="utf-8")
    torch.manual_seed(0)
    name = published_voice_name("en_US", "anna", "medium")
    export_onnx(VitsModel(mos_metric="none", **TINY), out / f"{name}.onnx")
    write_voice_config(training_config, out / f"{name}.onnx.json", name, "medium")
    return out


def test_voice_config_is_filled_like_published_voices(exported_voice):
    config = json.loads((exported_voice / f"{VOICE}.onnx.json").read_text(encoding="utf-8"))
    assert config["dataset"] == VOICE
    assert config["language"] == {"code": "en_US", "family": "en", "region": "US", "name_native": "English",
                                  "name_english": "English", "country_english": "United States"}
    assert config["audio"] == {"sample_rate": 22050, "quality": "medium"}
    assert config["espeak"]["voice"] == "en-us"


def test_install_copies_the_pair_and_says_how_to_reload(exported_voice, tmp_path, capsys):
    data = tmp_path / "share" / "piper"
    assert install_main([str(exported_voice), "--to", str(data)]) == 0
    out = capsys.readouterr().out
    for name in (f"{VOICE}.onnx", f"{VOICE}.onnx.json"):
        assert filecmp.cmp(exported_voice / name, data / name, shallow=False)
    assert sorted(os.listdir(data)) == [f"{VOICE}.onnx", f"{VOICE}.onnx.json"]  # no temp files left
    assert "installed voice en_US-anna-medium (en_US, medium)" in out
    assert "/share/piper" in out and "restart the Piper add-on" in out and "Reload" in out
    assert install_main([str(exported_voice / f"{VOICE}.onnx"), "--to", str(data)]) == 0
    assert "replaced voice" in capsys.readouterr().out


def test_voice_wyoming_would_mislabel_is_refused_and_nothing_copied(exported_voice, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "en_US-bob-low.onnx").write_bytes((exported_voice / f"{VOICE}.onnx").read_bytes())
    config = json.loads((exported_voice / f"{VOICE}.onnx.json").read_text(encoding="utf-8"))
    (broken / "en_US-bob-low.onnx.json").write_text(json.dumps(config), encoding="utf-8")  # dataset: anna
    data = tmp_path / "data"
    assert install_main([str(broken), "--to", str(data)]) == 2
    err = capsys.readouterr().err
    assert "en_US-bob-low.onnx.json" in err and "dataset is 'en_US-anna-medium'" in err
    assert not data.exists()
    assert install_main([str(tmp_path / "data"), "--to", str(tmp_path / "x")]) == 2  # no voice there


@pytest.mark.slow
def test_wyoming_piper_lists_the_installed_voice_by_name_and_language_and_speaks_it(exported_voice, tmp_path):
    pytest.importorskip("wyoming_piper", reason="wyoming-piper is not installed (pixi.toml dev feature)")
    data = tmp_path / "piper-data"
    assert install_main([str(exported_voice), "--to", str(data)]) == 0
    info, rate, samples, log = serve_and_ask(data, VOICE)
    voices = {voice.name: voice for voice in info.tts[0].voices}
    assert VOICE in voices, log
    assert voices[VOICE].languages == ["en_US"]
    assert voices[VOICE].description == f"{VOICE} (medium)"
    assert rate == 22050 and samples > 0, log
