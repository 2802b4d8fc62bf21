"""The predicted listener score on real audio: the bundled recordings above the same recordings with
noise at 10 dB SNR (the check the model was chosen by); piper's own MOS logging only when its model is
already on the machine."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from benchmarks.bench_listener_score import with_white_noise
from utils.voice.data.dataset import SAMPLE_DATASET
from utils.voice.evaluate import listener as listener_module
from utils.voice.evaluate.listener import LOWEST, ListenerScore, piper_mos_metric


@pytest.fixture(scope="module")
def listener() -> ListenerScore:
    return ListenerScore()


def test_clean_recordings_score_above_the_same_recordings_with_noise(listener):
    paths = sorted((SAMPLE_DATASET / "wavs").glob("*.wav"))[:4]
    assert len(paths) == 4
    for index, path in enumerate(paths):
        audio, rate = sf.read(path, dtype="float64")
        clean, noisy = listener.score(audio, rate), listener.score(with_white_noise(audio, 10.0, seed=index), rate)
        assert 1.0 <= noisy < clean <= 5.0, path.name


def test_the_rate_is_converted_and_silence_gets_the_floor(listener):
    audio, rate = sf.read(sorted((SAMPLE_DATASET / "wavs").glob("*.wav"))[0], dtype="float64")
    import soxr

    at_16k = listener.score(soxr.resample(audio, rate, 16000), 16000)
    assert listener.score(audio, rate) == pytest.approx(at_16k, abs=0.15)
    assert listener.score(np.zeros(rate), rate) == LOWEST and listener.score(np.zeros(0), rate) == LOWEST


def test_piper_mos_stays_off_unless_its_model_is_in_the_torch_hub_cache(tmp_path, monkeypatch):
    assert piper_mos_metric(tmp_path) == "none"
    (tmp_path / listener_module.PIPER_MOS_REPO_DIR).mkdir()
    (tmp_path / listener_module.PIPER_MOS_REPO_DIR / "hubconf.py").write_text("")
    assert piper_mos_metric(tmp_path) == "none"  # the repo without its weights would download them
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / listener_module.PIPER_MOS_WEIGHTS).write_bytes(b"")
    real_find_spec = listener_module.importlib.util.find_spec
    # FAKE torchaudio: its hubconf requires it, and this machine's environments do not carry it.
    monkeypatch.setattr(listener_module.importlib.util, "find_spec",
                        lambda name: object() if name == "torchaudio" else real_find_spec(name))
    assert piper_mos_metric(tmp_path) == "utmos"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path.parent))
    assert listener_module.torch_hub_dir() == tmp_path.parent / "hub"
