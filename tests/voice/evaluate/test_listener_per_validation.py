"""The predicted listener score (``val_listener``) at each validation, and a run without it.

Unit level, no training: the voice-measures callback gets a stand-in trainer whose data module
holds out two recordings of the bundled sample, and a stand-in voice that speaks each sentence as
its recording with loud noise added (``speak_texts`` replaced), so the listener score must rate
the voice below the recordings. The real training run is tests/voice/evaluate/test_voice_measures_run.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning.pytorch")

from utils.voice.data.dataset import SAMPLE_DATASET  # noqa: E402
from utils.voice.evaluate import during_training, listener  # noqa: E402
from utils.voice.publish import samples  # noqa: E402

RATE = 22050
CLIPS = ("sample_001", "sample_002")
TRAINED_MEASURES = ("val_mcd", "val_f0_rmse", "val_voicing_error", "val_duration_error")


def test_metric_values_and_publish_carry_the_listener_score():
    values = during_training.metric_values({"mcd_db": 9.0, "duration_ratio": 1.2, "listener": 2.75})
    assert values["val_listener"] == 2.75 and values["val_duration_error"] == pytest.approx(0.2)
    trainer = SimpleNamespace(callback_metrics={})
    during_training._publish(trainer, values)
    assert float(trainer.callback_metrics["val_listener"]) == 2.75
    assert "val_wer" not in trainer.callback_metrics  # not measured: absent, not NaN
    assert torch.isnan(trainer.callback_metrics["val_f0_rmse"])  # measured, no value this time: NaN

    without = SimpleNamespace(callback_metrics={})
    during_training._publish(without, during_training.metric_values({"mcd_db": 9.0}))
    assert "val_listener" not in without.callback_metrics and "val_mcd" in without.callback_metrics


class _HeldOutSplit:
    """What ``held_out_of`` reads of piper's validation split: indices into utterances."""

    def __init__(self, utts):
        self.indices = list(range(len(utts)))
        self.dataset = SimpleNamespace(utts=utts)


@pytest.fixture()
def validation(tmp_path, monkeypatch):
    """Run one or more validations of the callback; returns (callback, trainer, records, said lines)."""
    import soundfile

    texts = dict(line.split("|", 1) for line in (SAMPLE_DATASET / "metadata.csv").read_text("utf-8").splitlines())
    utts, noisy = [], {}
    noise = np.random.default_rng(31)
    for name in CLIPS:
        audio, rate = soundfile.read(SAMPLE_DATASET / "wavs" / f"{name}.wav")
        assert rate == RATE
        torch.save(torch.from_numpy(audio).float().unsqueeze(0), tmp_path / f"{name}.pt")  # as piper caches it
        utts.append(SimpleNamespace(text=texts[name], audio_norm_path=tmp_path / f"{name}.pt"))
        level = np.sqrt(np.mean(audio ** 2))
        noisy[texts[name]] = (audio + noise.normal(0.0, level, audio.size)).astype(np.float32)  # 0 dB SNR

    config = SimpleNamespace(espeak_voice="de", sample_rate=RATE)  # not English: no recogniser to load
    monkeypatch.setattr(samples.SamplePhonemizer, "from_file", classmethod(lambda cls, path: SimpleNamespace(
        config=config)))
    monkeypatch.setattr(samples, "speak_texts", lambda generator, phonemizer, sentences: noisy[sentences[0]])
    records, said = [], []
    callback = during_training.make_callback(
        tmp_path, tmp_path / "voice_config.json", [str(SAMPLE_DATASET / "wavs" / f"{n}.wav") for n in CLIPS],
        [RATE] * len(CLIPS), on_scores=records.append, say=said.append)
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, global_step=0, callback_metrics={},
                              strategy=SimpleNamespace(broadcast=lambda value, src=0: value),
                              datamodule=SimpleNamespace(val_dataset=_HeldOutSplit(utts)))

    def validate(times: int = 1):
        for _ in range(times):
            trainer.global_step += 8  # four batches (two optimiser steps each)
            callback.on_validation_end(trainer, SimpleNamespace(model_g=None))
        return callback, trainer, records, said

    return validate


def test_each_validation_scores_the_voice_and_the_recordings_once_with_the_listener(validation):
    callback, trainer, records, said = validation(times=2)
    assert [record.step for record in records] == [4, 8]
    for record in records:
        assert 1.0 <= record.values["val_listener"] <= 5.0
        assert 1.0 <= record.recordings_listener <= 5.0
        # a voice with as much noise as speech sounds worse than the recordings: higher is better
        assert record.values["val_listener"] < record.recordings_listener
    assert records[0].recordings_listener == records[1].recordings_listener == callback.judges.recordings_listener
    assert float(trainer.callback_metrics["val_listener"]) == pytest.approx(records[-1].values["val_listener"])
    assert all(name in trainer.callback_metrics for name in TRAINED_MEASURES)
    assert any("val_listener" in line for line in said if line.startswith("voice measures at batch 8"))


def test_a_missing_listener_score_leaves_the_other_measures_working_without_val_listener(validation, monkeypatch):
    reason = "the listener score needs the speechmos wheel (locked in pixi.toml): reinstall the environment"
    monkeypatch.setattr(listener, "listener_missing", lambda: reason)
    monkeypatch.setattr(listener, "ListenerScore", lambda: pytest.fail("loaded the listener score without speechmos"))
    callback, trainer, records, said = validation(times=2)
    assert len(records) == 2
    for record in records:
        assert record.values["val_listener"] is None and record.recordings_listener is None
        assert record.values["val_mcd"] > 0 and record.values["val_voicing_error"] is not None
    assert "val_listener" not in trainer.callback_metrics
    assert all(name in trainer.callback_metrics for name in TRAINED_MEASURES)
    # said once, with the reason, however many validations follow
    assert [line for line in said if "listener" in line] == [
        f"voice measures: no predicted listener score (val_listener) in this run: {reason}"]
