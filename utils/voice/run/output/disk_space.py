"""Free disk space: checked before training and before every checkpoint write; ENOSPC named.

A Piper checkpoint holds every parameter three times (the weights and AdamW's two moments) at 4
bytes each, discriminator included: an x_low voice (7.1M generator + 46.7M discriminator
parameters) writes a 616 MB ``last.ckpt``. While a checkpoint is saved, the new one is written
beside the old one (atomic replace), so a run needs room for one more checkpoint than it keeps.

A disk that fills up mid-write shows up in two shapes: ``OSError(ENOSPC)`` from Python writes, and
from ``torch.save`` a ``RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos``
(PyTorch's zip writer noticing a short write). ``disk_full_from`` recognises both, so the user
reads "disk full: N MB free in DIR, a checkpoint needs M MB" instead of two tracebacks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Any

from utils.errors import UserError

MB = 1024 * 1024
BYTES_PER_PARAMETER = 4 * 3  # float32 weight + AdamW exp_avg + exp_avg_sq
CHECKPOINT_OVERHEAD = 4 * MB  # pickle, hyper-parameters, loop state: a few hundred kB, rounded up
EXPORT_OVERHEAD = 8 * MB      # the .onnx.json, sample.wav, plots, summary, metrics
# Words torch's C++ writer uses when the file system refused bytes (no errno survives).
_TORCH_SHORT_WRITE = ("unexpected pos", "file write failed", "No space left on device")


class DiskFull(UserError, RuntimeError):
    """Not enough room on the disk (exit code 1); the message says how much is free and needed."""

    exit_code = 1


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes (for this user) on the file system that holds ``folder`` or would hold it."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def megabytes(n_bytes: int) -> int:
    return -(-n_bytes // MB)  # round up: "needs 617 MB" must never understate


def checkpoint_bytes_for(parameters: int) -> int:
    """Size of a Lightning checkpoint of a model with ``parameters`` float32 parameters trained with Adam."""
    return parameters * BYTES_PER_PARAMETER + CHECKPOINT_OVERHEAD


def export_bytes_for(generator_parameters: int) -> int:
    """Size of the exported voice (float32 ONNX of the generator) and the files written beside it."""
    return generator_parameters * 4 + EXPORT_OVERHEAD


def checkpoint_bytes_of(checkpoint: Any) -> int:
    """Bytes the tensors in an in-memory checkpoint will take on disk (shared storages counted once)."""
    import torch

    seen: dict[int, int] = {}
    stack = [checkpoint]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            seen[storage.data_ptr() or id(storage)] = storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return sum(seen.values()) + CHECKPOINT_OVERHEAD


def count_parameters(model_kwargs: dict) -> tuple[int, int]:
    """(generator, discriminator) parameter counts of the VitsModel ``model_kwargs`` builds.

    Built on torch's "meta" device: shapes only, no memory, well under a second."""
    import torch
    from piper.train.vits.lightning import VitsModel

    with torch.device("meta"):
        model = VitsModel(**model_kwargs)
    return (sum(p.numel() for p in model.model_g.parameters()),
            sum(p.numel() for p in model.model_d.parameters()))


def training_needs(generator: int, discriminator: int, kept_checkpoints: int = 1,
                   existing_bytes: int = 0, export: bool = True) -> tuple[int, int]:
    """(bytes one checkpoint takes, bytes the whole run still needs on the output's disk).

    The run keeps ``kept_checkpoints`` files (last.ckpt, plus the best-by-validation one), each
    written beside its predecessor, so one extra copy must fit at any moment; ``existing_bytes``
    are checkpoint bytes already on disk that the run will overwrite (a --resume)."""
    one = checkpoint_bytes_for(generator + discriminator)
    total = one * (kept_checkpoints + 1) + (export_bytes_for(generator) if export else 0)
    return one, max(0, total - existing_bytes)


def disk_full_message(folder: str | os.PathLike, need: int, what: str = "a checkpoint",
                      free: int | None = None) -> str:
    free = free_bytes(folder) if free is None else free
    return (f"disk full: {megabytes(free)} MB free in {folder}, {what} needs {megabytes(need)} MB — free some "
            "space or choose an --output on another disk")


def check_room(folder: str | os.PathLike, need: int, what: str = "a checkpoint") -> None:
    """Raise DiskFull unless ``need`` bytes fit in ``folder``'s file system."""
    free = free_bytes(folder)
    if free < need:
        raise DiskFull(disk_full_message(folder, need, what, free))


def check_before_training(output: str | os.PathLike, generator: int, discriminator: int,
                          kept_checkpoints: int = 1, existing_bytes: int = 0, export: bool = True) -> int:
    """Refuse to start a run whose checkpoints and export cannot fit; returns one checkpoint's bytes."""
    one, total = training_needs(generator, discriminator, kept_checkpoints, existing_bytes, export)
    free = free_bytes(output)
    if free < total:
        raise DiskFull(
            f"disk full: {megabytes(free)} MB free in {output}, a checkpoint needs {megabytes(one)} MB and this "
            f"run {megabytes(total)} MB ({kept_checkpoints} checkpoint(s), a temp copy while saving"
            f"{', the exported voice' if export else ''}) — free some space or choose an --output on another disk")
    return one


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the file system running out of space or quota."""
    depth = 0
    while exc is not None and depth < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        if isinstance(exc, RuntimeError) and any(words in str(exc) for words in _TORCH_SHORT_WRITE):
            return True
        exc = exc.__cause__ or exc.__context__
        depth += 1
    return False


def disk_full_from(exc: BaseException, folder: str | os.PathLike, need: int,
                   what: str = "a checkpoint") -> DiskFull | None:
    """A DiskFull to raise in place of ``exc`` when that is what it means, else None."""
    if isinstance(exc, DiskFull):
        return exc
    if not is_disk_full(exc):
        return None
    return DiskFull(disk_full_message(folder, need, what))


@contextlib.contextmanager
def naming_disk_full(folder: str | os.PathLike, need: int, what: str = "a checkpoint"):
    """Inside the block, running out of space raises DiskFull naming ``folder`` and ``need``."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        full = disk_full_from(exc, folder, need, what)
        if full is None:
            raise
        raise full from exc


def disk_full_without_context(exc: BaseException) -> DiskFull:
    """The best "disk full" line for an ENOSPC nobody expected: the folder from the error if it has one."""
    filename = getattr(exc, "filename", None)
    folder = Path(filename).parent if filename else Path.cwd()
    return DiskFull(f"disk full: {megabytes(free_bytes(folder))} MB free in {folder}"
                    + (f" while writing {Path(filename).name}" if filename else "")
                    + " — free some space or choose an --output on another disk")
