"""The per-epoch estimate printed before a run comes from this machine's last run with the same
device, torch, quality, batch size and precision; each finished run records its own."""

from __future__ import annotations

import pytest
from support.settings_helpers import settings_for

from utils.machine import batch_times
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
from utils.voice.run.configure.schedule_text import batches_per_epoch, planned_estimate
from utils.voice.run.results.outcome import record_batch_time


@pytest.fixture(scope="module")
def report():
    return validate_dataset(SAMPLE_DATASET)


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COAXIAL_CACHE", str(tmp_path))
    monkeypatch.delenv("PIXI_PROJECT_ROOT", raising=False)
    return tmp_path


def _history(gaps: list[float]) -> list[dict]:
    seconds, rows = 0.0, []
    for gap in [7.0, *gaps]:  # the first batch (warm-up) is not a gap
        seconds += gap
        rows.append({"step": len(rows) + 1, "seconds": seconds})
    return rows


def test_a_finished_run_gives_the_next_its_estimate(report, own_cache):
    settings = settings_for(report, dataset=str(SAMPLE_DATASET), batch_size=2)
    assert "not measured yet" in planned_estimate(settings)
    assert record_batch_time(settings, _history([2.0, 2.5, 2.4, 9.0]))
    assert batch_times.times_path().parent == own_cache
    line = planned_estimate(settings)
    per_epoch = batches_per_epoch(settings)
    assert f"({per_epoch} batches x 2.45 s" in line  # the median of the gaps, not the warm-up batch
    assert f"about {round(2.45 * per_epoch)} s per epoch" in line
    other = settings_for(report, dataset=str(SAMPLE_DATASET), batch_size=4)
    assert "not measured yet" in planned_estimate(other)  # another batch size is another figure


def test_too_short_a_run_or_an_unreadable_file_records_nothing(report, own_cache):
    settings = settings_for(report, dataset=str(SAMPLE_DATASET), batch_size=2)
    assert not record_batch_time(settings, _history([2.0]))
    assert not batch_times.times_path().exists()
    batch_times.times_path().write_text("{not json")
    assert "not measured yet" in planned_estimate(settings)
    assert record_batch_time(settings, _history([1.0, 1.0, 1.0]))  # rewritten whole, atomically
    assert "x 1.00 s" in planned_estimate(settings)


def test_the_times_file_sits_beside_the_machine_profile(tmp_path):
    profile = tmp_path / ".pixi" / "coaxial-profile-cuda12.json"
    assert batch_times.times_path(profile) == tmp_path / ".pixi" / "coaxial-batch-times-cuda12.json"
