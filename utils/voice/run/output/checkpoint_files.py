"""Writing checkpoints during a run: atomic, with free space checked first, and Lightning's
checkpoint plugin that reads them back through the safe loader (``utils.voice.base.checkpoints``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from utils.files import atomic_path
from utils.voice.base.checkpoints import load_checkpoint_safely


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through ``utils.files.atomic_path``: readers never see half a file, and a killed
    writer leaves only a ``TEMP_GLOB`` file that the next run removes.

    Free space is checked first (the old file stays until the new one is complete, so the new one
    must fit beside it); a disk that fills up anyway raises DiskFull, with ``path`` untouched."""
    import torch

    from utils.voice.run.output.disk_space import check_room, checkpoint_bytes_of, disk_full_from

    path = Path(path)
    need = checkpoint_bytes_of(obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_room(path.parent, need)
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except Exception as exc:
        full = disk_full_from(exc, path.parent, need)
        if full is None:
            raise
        raise full from exc


class AtomicCheckpointIO(TorchCheckpointIO):
    """A Lightning CheckpointIO plugin: atomic saves, weights-only loads (resume included)."""

    # Lightning's default writes the whole checkpoint into a BytesIO first (a second copy of
    # ~600 MB in memory) and then overwrites the target in place; this streams to a temp file.
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint_safely(path, map_location=map_location or "cpu")


def make_checkpoint_io() -> AtomicCheckpointIO:
    return AtomicCheckpointIO()
