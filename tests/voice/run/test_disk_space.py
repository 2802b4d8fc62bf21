"""Disk full: refused before training, before each checkpoint write, and named when a write hits it."""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from utils.files import TEMP_GLOB
from utils.voice.base.checkpoints import load_checkpoint_safely
from utils.voice.run.output import disk_space
from utils.voice.run.output.checkpoint_files import make_checkpoint_io
from utils.voice.run.output.disk_space import MB, DiskFull

_Usage = namedtuple("_Usage", "total used free")


@pytest.fixture
def fake_disk_with_free_bytes(monkeypatch):
    """Pretend the output's disk has N bytes free: a full disk is hardware state this machine lacks."""
    real = shutil.disk_usage

    def install(free: int):
        def fake_disk_usage(path):
            usage = real(path)
            return _Usage(usage.total, usage.total - free, free)

        monkeypatch.setattr(disk_space.shutil, "disk_usage", fake_disk_usage)

    return install


def _checkpoint(value: float, n: int = 1024) -> dict:
    return {"state_dict": {"model_g.w": torch.full((n,), value)}, "global_step": 2, "epoch": 0}


def test_training_that_cannot_fit_is_refused_naming_free_and_needed_space(tmp_path, fake_disk_with_free_bytes):
    fake_disk_with_free_bytes(100 * MB)
    with pytest.raises(DiskFull) as refused:
        disk_space.check_before_training(tmp_path / "out", generator=7_073_360, discriminator=46_747_132)
    message = str(refused.value)
    one = disk_space.megabytes(disk_space.checkpoint_bytes_for(7_073_360 + 46_747_132))
    assert message.startswith(f"disk full: 100 MB free in {tmp_path / 'out'}, a checkpoint needs {one} MB")
    assert not (tmp_path / "out").exists()


def test_training_that_fits_passes_and_a_resume_counts_the_checkpoint_already_there(tmp_path,
                                                                                     fake_disk_with_free_bytes):
    one, total = disk_space.training_needs(7_073_360, 46_747_132)
    fake_disk_with_free_bytes(total)
    assert disk_space.check_before_training(tmp_path, 7_073_360, 46_747_132) == one
    fake_disk_with_free_bytes(total - one)
    with pytest.raises(DiskFull):
        disk_space.check_before_training(tmp_path, 7_073_360, 46_747_132)
    disk_space.check_before_training(tmp_path, 7_073_360, 46_747_132, existing_bytes=one)


def test_a_checkpoint_that_does_not_fit_is_not_started_and_the_last_good_one_stays(tmp_path,
                                                                                   fake_disk_with_free_bytes):
    io, last = make_checkpoint_io(), tmp_path / "last.ckpt"
    io.save_checkpoint(_checkpoint(1.0), last)
    before = last.read_bytes()
    big = _checkpoint(2.0, n=4 * MB)  # 16 MB of tensors
    fake_disk_with_free_bytes(10 * MB)
    with pytest.raises(DiskFull, match=rf"^disk full: 10 MB free in {tmp_path}, a checkpoint needs 2[01] MB"):
        io.save_checkpoint(big, last)
    assert last.read_bytes() == before
    assert not list(tmp_path.glob(TEMP_GLOB))


def test_enospc_in_the_middle_of_a_checkpoint_write_becomes_disk_full_and_keeps_the_last_good_one(
        tmp_path, monkeypatch):
    io, last = make_checkpoint_io(), tmp_path / "last.ckpt"
    io.save_checkpoint(_checkpoint(1.0), last)
    before = last.read_bytes()
    real_save = torch.save

    def save_onto_a_disk_that_fills_up(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04" + b"\0" * 65536)  # part of it made it to disk
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(torch, "save", save_onto_a_disk_that_fills_up)
    with pytest.raises(DiskFull, match=rf"^disk full: \d+ MB free in {tmp_path}, a checkpoint needs \d+ MB"):
        io.save_checkpoint(_checkpoint(2.0), last)
    monkeypatch.setattr(torch, "save", real_save)
    assert last.read_bytes() == before
    assert float(load_checkpoint_safely(last)["state_dict"]["model_g.w"][0]) == 1.0
    assert not list(tmp_path.glob(TEMP_GLOB))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full (a device that is always full) is Linux's")
def test_torch_saves_real_enospc_shape_is_recognised_as_disk_full():
    # What a full disk looked like before the check: "[enforce fail at inline_container.cc:672] . unexpected pos ...".
    with pytest.raises(RuntimeError) as real:
        torch.save(_checkpoint(1.0, n=1 << 20), "/dev/full")
    assert disk_space.is_disk_full(real.value)
    with pytest.raises(OSError) as plain, open("/dev/full", "wb") as handle:
        handle.write(b"x" * 65536)
        handle.flush()
    assert disk_space.is_disk_full(plain.value)
    assert not disk_space.is_disk_full(RuntimeError("CUDA out of memory"))
    assert not disk_space.is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_a_checkpoint_in_memory_is_sized_by_its_tensors_shared_ones_once():
    weights = torch.zeros(1000)
    checkpoint = {"state_dict": {"a": weights, "b": weights}, "optimizer_states": [{"m": torch.zeros(500)}]}
    assert disk_space.checkpoint_bytes_of(checkpoint) == 6000 + disk_space.CHECKPOINT_OVERHEAD


def test_parameter_count_of_x_low_matches_piper_published_figures():
    from utils.voice.run_config import QUALITIES

    generator, discriminator = disk_space.count_parameters(
        {**QUALITIES["x_low"]["model"], "num_symbols": 256, "num_speakers": 1, "sample_rate": 22050,
         "mos_metric": "none"})
    assert discriminator == 46_747_132  # the discriminator is the same for every quality (user guide: 46.7M)
    assert 5_000_000 < generator < 10_000_000
