"""Checkpoint files: atomic writes, loading without unpickling code, fine-tune weight transfer.

A Lightning checkpoint of a Piper voice is a dict of tensors, numbers, strings and containers, so
``torch.load(weights_only=True)`` reads all of it. Anything else inside (a pickled function or
class instance) is refused: unpickling arbitrary objects runs code chosen by whoever made the file.
``pathlib`` paths are the one exception, because upstream Piper stores its dataset paths in the
hyper-parameters and a path cannot execute anything when rebuilt. They are rebuilt as *pure* paths
(``PurePosixPath`` / ``PureWindowsPath``): a checkpoint made on Linux then loads on Windows and the
other way round, and nothing here ever opens those paths.

The allowlist names each class the way the file spells it. The published ``piper_train``
checkpoints (Python 3.8-3.10) say ``pathlib.PosixPath``; on Python 3.13 that class lives in
``pathlib._local``, so registering the class object alone would allow only the new spelling and
still refuse every published file.
"""

from __future__ import annotations

import os
import pathlib
import pickle
from pathlib import Path
from typing import Any

from utils.errors import UserError

# Keys of VitsModel's hyper-parameters that fix tensor shapes: a fine-tune must build the same
# network as the checkpoint, whatever --quality says.
ARCHITECTURE_KEYS = (
    "sample_rate", "num_symbols", "resblock", "resblock_kernel_sizes", "resblock_dilation_sizes",
    "upsample_rates", "upsample_initial_channel", "upsample_kernel_sizes", "filter_length",
    "hop_length", "win_length", "mel_channels", "inter_channels", "hidden_channels", "filter_channels",
    "n_heads", "n_layers", "kernel_size", "n_layers_q", "use_spectral_norm", "use_sdp", "use_mrd",
)


def _path_globals() -> list:
    """(stand-in class, name as pickled) for every spelling of a pathlib path class."""
    pure = {"PosixPath": pathlib.PurePosixPath, "PurePosixPath": pathlib.PurePosixPath,
            "WindowsPath": pathlib.PureWindowsPath, "PureWindowsPath": pathlib.PureWindowsPath}
    names = []
    for module in ("pathlib", "pathlib._local"):  # Python <= 3.12 and >= 3.13 spellings
        names += [(stand_in, f"{module}.{name}") for name, stand_in in pure.items()]
    return names


_SAFE_GLOBALS = _path_globals()


class CheckpointError(UserError, ValueError):
    """A checkpoint cannot be used; the message names the file and what to do instead."""

    def __init__(self, message: str, reason: str = "unusable"):
        super().__init__(message)
        self.reason = reason

    exit_code = 2


def load_checkpoint_safely(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> dict:
    """Load a checkpoint with ``weights_only=True``; raise CheckpointError for code or non-checkpoints.

    ``mmap=True`` reads and vets the pickle but leaves the tensors on disk (a cheap look inside).
    The error's ``reason`` says which way it failed: "missing", "code", "unreadable" or "no-state-dict"."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file — check the path", reason="missing")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            data = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        # torch words the reason on its first line ("Unsupported global: GLOBAL x.y").
        why = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln or "global" in ln), "")
        raise CheckpointError(
            f"{path}: refused — the checkpoint carries pickled Python objects that would run code when "
            f"loaded ({why or 'not plain tensors and containers'}). Use a checkpoint written by "
            "piper.train or coaxial-train, or re-save only its state_dict.", reason="code",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc}) — check the file",
                              reason="unreadable") from exc
    if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no 'state_dict' inside — expected a Piper (Lightning) .ckpt file",
                              reason="no-state-dict")
    return data


def plain(value: Any) -> Any:
    """Tuples as lists, recursively: hyper-parameters compare and serialise the same from any source."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def transfer_weights(model, checkpoint: dict, source: str | os.PathLike) -> tuple[int, int]:
    """Copy every parameter whose name and shape match into ``model``; returns (copied, skipped).

    Shape mismatches are skipped rather than fatal so a single-speaker checkpoint can seed a
    multi-speaker voice; a checkpoint that shares nothing with the model is refused.
    """
    own = model.state_dict()
    copied, skipped = 0, 0
    for key, value in checkpoint["state_dict"].items():
        if key in own and getattr(value, "shape", None) == own[key].shape:
            own[key] = value
            copied += 1
        else:
            skipped += 1
    generator = sum(1 for key in own if key.startswith("model_g."))
    if copied == 0 or not any(k.startswith("model_g.") for k in checkpoint["state_dict"]):
        raise CheckpointError(
            f"{source}: no generator weights match this model ({copied} of {generator} copied) — "
            "is it a Piper VITS checkpoint?"
        )
    model.load_state_dict(own)
    return copied, skipped
