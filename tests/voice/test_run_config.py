"""Typed run settings: presets, defaults, resume precedence, train_config.json round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
from support.dataset_builders import make_piper_dataset
from support.settings_helpers import settings_for

from utils.errors import BadInput
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
from utils.voice.run.configure.passthrough import parse_passthrough
from utils.voice.run.fit.history import merge_resumed, read_history, write_history
from utils.voice.run_config import (
    CONFIG_VERSION,
    DEMO,
    QUALITIES,
    RunSettings,
    load_settings,
)


@pytest.fixture(scope="module")
def three_clips(module_tmp_path_factory):
    return validate_dataset(make_piper_dataset(module_tmp_path_factory.mktemp("data"), n=3))


def test_passthrough_values_are_parsed_as_json_or_text():
    parsed = parse_passthrough(["--trainer.max_time=00:00:10:00", "--model.c_mel", "40",
                                "--data.trim_silence=false", "--trainer.gradient_clip_val=none"])
    assert parsed["trainer"] == {"max_time": "00:00:10:00", "gradient_clip_val": None}
    assert parsed["model"] == {"c_mel": 40}
    assert parsed["data"] == {"trim_silence": False}


def test_each_quality_name_is_a_distinct_published_tier(three_clips):
    got = {q: settings_for(three_clips, dataset=str(three_clips.path), quality=q)
           for q in QUALITIES}
    rates = {q: s.voice.sample_rate for q, s in got.items()}
    assert rates == {"x_low": 16000, "low": 16000, "medium": 22050, "high": 22050}
    shapes = {q: (s.voice.sample_rate, json.dumps(s.model.kwargs(), sort_keys=True)) for q, s in got.items()}
    assert len(set(shapes.values())) == len(QUALITIES)
    assert got["x_low"].model.kwargs()["hidden_channels"] == 96
    assert got["high"].model.kwargs()["upsample_initial_channel"] == 512
    assert all(s.model.sample_rate == s.voice.sample_rate for s in got.values())


def test_lightning_counts_two_optimizer_steps_per_batch(three_clips):
    settings = settings_for(three_clips, dataset=str(three_clips.path), max_steps=7)
    assert settings.trainer.max_steps == 14 and settings.trainer.max_epochs == -1


def test_demo_defaults_apply_only_without_a_dataset(three_clips):
    demo = settings_for(validate_dataset(SAMPLE_DATASET))
    assert demo.dataset.demo and demo.voice.quality == "x_low"
    assert demo.schedule.max_steps == DEMO["max_steps"]
    real = settings_for(three_clips, dataset=str(three_clips.path))
    assert not real.dataset.demo and real.voice.quality == "medium" and real.schedule.max_epochs == 1000


@pytest.mark.parametrize("option,value", [("segment_size", 1000), ("batch_size", 0), ("max_steps", -3)])
def test_bad_schedule_values_are_refused_naming_the_option(three_clips, option, value):
    with pytest.raises(BadInput, match=f"--{option.replace('_', '-')} {value}"):
        settings_for(three_clips, dataset=str(three_clips.path), **{option: value})


def test_settings_round_trip_through_train_config_json(three_clips, tmp_path):
    settings = settings_for(three_clips, dataset=str(three_clips.path), quality="high", checkpoint_every=5,
                            seed=7)
    path = tmp_path / "train_config.json"
    path.write_text(json.dumps(settings.to_json()), encoding="utf-8")
    assert load_settings(path) == settings


def test_an_older_config_is_refused_with_the_file_and_the_fix(three_clips, tmp_path):
    data = settings_for(three_clips, dataset=str(three_clips.path)).to_json()
    del data["schedule"]["segment_size"]
    with pytest.raises(BadInput, match="train_config.json.*segment_size.*--output"):
        RunSettings.from_json(data, tmp_path / "train_config.json")
    data["config_version"] = CONFIG_VERSION - 1
    with pytest.raises(BadInput, match="config_version"):
        RunSettings.from_json(data, tmp_path / "train_config.json")


def test_resume_keeps_every_option_of_the_run_unless_overridden(three_clips):
    first = settings_for(three_clips, dataset=str(three_clips.path), quality="x_low", max_steps=40,
                         batch_size=3, segment_size=4096, checkpoint_every=5, seed=9, sample_text="Hello.")
    resumed = settings_for(three_clips, previous=first, resume=True)
    same = ("voice", "schedule", "model", "data", "seed", "sample_text", "checkpoint_every")
    assert {k: getattr(resumed, k) for k in same} == {k: getattr(first, k) for k in same}
    longer = settings_for(three_clips, previous=first, resume=True, max_steps=80)
    assert longer.schedule.max_steps == 80 and longer.checkpoint_every == 5
    assert dataclasses.replace(longer.schedule, max_steps=40) == first.schedule


@pytest.mark.parametrize("option,value", [("quality", "high"), ("voice_name", "other"), ("espeak_voice", "de")])
def test_resume_refuses_a_changed_voice_or_network(three_clips, option, value):
    first = settings_for(three_clips, dataset=str(three_clips.path))
    with pytest.raises(BadInput, match=f"--{option.replace('_', '-')} {value} differs"):
        settings_for(three_clips, previous=first, resume=True, **{option: value})


def test_history_round_trips_and_a_resume_keeps_the_rows_before_its_checkpoint(tmp_path):
    rows = [{"step": s, "epoch": s // 4, "seconds": s * 0.5, "loss_g": 10.0 - s} for s in range(1, 9)]
    path = tmp_path / "metrics.csv"
    write_history(rows, path)
    assert read_history(path) == rows
    # The interrupted run got to step 8, its checkpoint holds step 6: steps 7-8 are trained again.
    again = [{"step": s, "epoch": 1, "seconds": 0.1, "loss_g": 1.0} for s in (7, 8, 9)]
    merged = merge_resumed(read_history(path), again, resumed_from_step=6)
    assert [r["step"] for r in merged] == list(range(1, 10))
    assert merged[6]["loss_g"] == 1.0


def test_default_loader_workers_follow_the_cpu_share_and_an_explicit_count_wins(three_clips, monkeypatch):
    from utils.machine import cpu_share

    # FAKE share: a Slurm/docker quota of one CPU, which this machine's cgroup does not set.
    monkeypatch.setattr(cpu_share, "usable_cpus", lambda *a, **k: 1)
    assert settings_for(three_clips, dataset=str(three_clips.path)).schedule.num_workers == 1
    assert settings_for(three_clips, dataset=str(three_clips.path), num_workers=2).schedule.num_workers == 2
    assert settings_for(validate_dataset(SAMPLE_DATASET)).schedule.num_workers == 0  # the demo loads in-process
