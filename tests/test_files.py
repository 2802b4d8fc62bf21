"""utils/files.py: atomic writes that keep the target's name, and the debris a killed writer leaves."""

from __future__ import annotations

import pytest
import torch

from utils.files import TEMP_GLOB, atomic_path, remove_stale_temps


def test_keep_name_gives_the_bytes_a_direct_save_gives(tmp_path):
    # torch.save names the archive inside the file after the file: a temp name would change the bytes.
    tensor = torch.arange(12, dtype=torch.float32)
    direct = tmp_path / "direct" / "clip.pt"
    direct.parent.mkdir()
    torch.save(tensor, direct)
    target = tmp_path / "atomic" / "clip.pt"
    with atomic_path(target, keep_name=True) as tmp:
        assert tmp.name == "clip.pt" and tmp.parent != target.parent
        torch.save(tensor, tmp)
    assert target.read_bytes() == direct.read_bytes()
    assert list(target.parent.glob(TEMP_GLOB)) == []


def test_keep_name_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "clip.pt"
    with pytest.raises(RuntimeError), atomic_path(target, keep_name=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temp_folder_is_removed_with_its_file(tmp_path):
    # What a kill -9 inside atomic_path(keep_name=True) leaves: a temp folder holding the file.
    left = tmp_path / ".clip.pt.abc123.coaxial-tmp"
    left.mkdir()
    (left / "clip.pt").write_bytes(b"\0" * 100)
    (tmp_path / ".other.wav.xyz.coaxial-tmp").write_bytes(b"\0" * 20)
    (tmp_path / "keep.wav").write_bytes(b"user")
    removed, freed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".clip.pt.abc123.coaxial-tmp", ".other.wav.xyz.coaxial-tmp"]
    assert freed == 120
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
