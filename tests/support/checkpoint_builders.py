"""Checkpoints in the format the old ``piper_train`` published, built here with real weights.

The published files (``rhasspy/piper-checkpoints``) were written by piper_train under
pytorch-lightning 1.7.7 with pickle protocol 2: top-level keys ``epoch``, ``global_step``,
``pytorch-lightning_version``, ``state_dict``, ``loops``, ``callbacks`` (one ModelCheckpoint entry
holding ``kth_value = tensor(inf)``), two AdamW ``optimizer_states``, two ExponentialLR
``lr_schedulers``, ``hparams_name`` and ``hyper_parameters``: 99 entries, the old VitsModel's 45
arguments, four of its own options and the 50 Lightning 1.7 Trainer options, with
``pathlib.PosixPath`` values in ``dataset`` (a list), ``dataset_dir`` and ``default_root_dir``
(rhasspy/piper ``src/python/piper_train/__main__.py`` and ``vits/lightning.py``).

Paths are written under the name ``pathlib.PosixPath`` (or ``pathlib.WindowsPath``) whatever
Python runs the tests: on 3.13 a real ``PosixPath`` would pickle as ``pathlib._local.PosixPath``,
which is not what the published files contain.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import types
from pathlib import Path, PurePosixPath, PureWindowsPath

# A network small enough to build in a second; its weights are real piper1-gpl VitsModel weights.
TINY = {"hidden_channels": 32, "inter_channels": 32, "filter_channels": 64, "n_layers": 2,
        "upsample_initial_channel": 32}
X_LOW = {"hidden_channels": 96, "inter_channels": 96, "filter_channels": 384}
HIGH = {"resblock": "1", "resblock_kernel_sizes": (3, 7, 11),
        "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)), "upsample_rates": (8, 8, 2, 2),
        "upsample_initial_channel": 512, "upsample_kernel_sizes": (16, 16, 4, 4)}

_OLD_VITS_DEFAULTS = {
    "resblock": "2", "resblock_kernel_sizes": (3, 5, 7), "resblock_dilation_sizes": ((1, 2), (2, 6), (3, 12)),
    "upsample_rates": (8, 8, 4), "upsample_initial_channel": 256, "upsample_kernel_sizes": (16, 16, 8),
    "filter_length": 1024, "hop_length": 256, "win_length": 1024, "mel_channels": 80, "sample_rate": 22050,
    "sample_bytes": 2, "channels": 1, "mel_fmin": 0.0, "mel_fmax": None, "inter_channels": 192,
    "hidden_channels": 192, "filter_channels": 768, "n_heads": 2, "n_layers": 6, "kernel_size": 3,
    "p_dropout": 0.1, "n_layers_q": 3, "use_spectral_norm": False, "gin_channels": 0, "use_sdp": True,
    "segment_size": 8192, "learning_rate": 2e-4, "betas": (0.8, 0.99), "eps": 1e-9, "batch_size": 32,
    "lr_decay": 0.999875, "init_lr_ratio": 1.0, "warmup_epochs": 0, "c_mel": 45, "c_kl": 1.0,
    "grad_clip": None, "num_workers": 1, "seed": 1234, "num_test_examples": 5, "validation_split": 0.1,
    "max_phoneme_ids": None,
}
_LIGHTNING_17_TRAINER = {
    "logger": True, "enable_checkpointing": True, "gradient_clip_val": None, "gradient_clip_algorithm": None,
    "num_nodes": 1, "num_processes": None, "devices": "1", "gpus": None, "auto_select_gpus": False,
    "tpu_cores": None, "ipus": None, "enable_progress_bar": True, "overfit_batches": 0.0,
    "track_grad_norm": -1, "check_val_every_n_epoch": 1, "fast_dev_run": False,
    "accumulate_grad_batches": None, "max_epochs": 10000, "min_epochs": None, "max_steps": -1,
    "min_steps": None, "max_time": None, "limit_train_batches": None, "limit_val_batches": None,
    "limit_test_batches": None, "limit_predict_batches": None, "val_check_interval": None,
    "log_every_n_steps": 50, "accelerator": "gpu", "strategy": None, "sync_batchnorm": False,
    "precision": 32, "enable_model_summary": True, "weights_save_path": None, "num_sanity_val_steps": 2,
    "profiler": None, "benchmark": None, "deterministic": None, "reload_dataloaders_every_n_epochs": 0,
    "auto_lr_find": False, "replace_sampler_ddp": True, "detect_anomaly": False,
    "auto_scale_batch_size": False, "plugins": None, "amp_backend": "native", "amp_level": None,
    "move_metrics_to_cpu": False, "multiple_trainloader_mode": "max_size_cycle",
}


def old_piper_hparams(quality: str = "medium", sample_rate: int = 22050, num_speakers: int = 1,
                      arch: dict | None = None, windows: bool = False, num_symbols: int = 256) -> dict:
    """The 99 hyper-parameters piper_train stored, with its quality preset applied the way it did."""
    path = PureWindowsPath if windows else PurePosixPath
    dataset_dir = path("C:/piper/lessac" if windows else "/home/piper/lessac")
    hparams = {"num_symbols": num_symbols, "num_speakers": num_speakers, **_OLD_VITS_DEFAULTS}
    hparams.update({"sample_rate": sample_rate, "dataset": [dataset_dir / "dataset.jsonl"]})
    hparams.update(X_LOW if quality == "x-low" else HIGH if quality == "high" else {})
    hparams.update(arch or {})
    if num_speakers > 1:
        hparams["gin_channels"] = 512  # what the old VitsModel set for multi-speaker models
    hparams.update({"dataset_dir": dataset_dir, "checkpoint_epochs": 1, "quality": quality,
                    "resume_from_single_speaker_checkpoint": None})
    hparams.update(_LIGHTNING_17_TRAINER)
    hparams.update({"default_root_dir": dataset_dir, "resume_from_checkpoint": str(dataset_dir / "last.ckpt")})
    return hparams


def tiny_state_dict(hparams: dict, discriminator: bool = True, seed: int = 0) -> dict:
    """Real weights of a piper1-gpl VitsModel with the network ``hparams`` describe."""
    import torch
    from piper.train.vits.lightning import VitsModel

    keys = ("num_symbols", "num_speakers", "gin_channels", "resblock", "resblock_kernel_sizes",
            "resblock_dilation_sizes", "upsample_rates", "upsample_initial_channel", "upsample_kernel_sizes",
            "inter_channels", "hidden_channels", "filter_channels", "n_layers", "sample_rate")
    torch.manual_seed(seed)
    model = VitsModel(mos_metric="none", **{k: hparams[k] for k in keys})
    return {k: v for k, v in model.state_dict().items() if discriminator or k.startswith("model_g.")}


def published_layout(state_dict: dict, hparams: dict, epoch: int = 2164, global_step: int = 1355540) -> dict:
    """The top-level structure of a pytorch-lightning 1.7.7 checkpoint as piper_train wrote it."""
    import torch

    n_g = sum(1 for k in state_dict if k.startswith("model_g."))
    n_d = sum(1 for k in state_dict if k.startswith("model_d."))

    def adamw(n):
        return {"state": {}, "param_groups": [{
            "lr": 2e-4 * 0.999875 ** epoch, "betas": (0.8, 0.99), "eps": 1e-9, "weight_decay": 0.01,
            "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
            "initial_lr": 2e-4, "params": list(range(n))}]}

    def scheduler():
        return {"gamma": 0.999875, "base_lrs": [2e-4], "last_epoch": epoch, "_step_count": epoch + 1,
                "verbose": False, "_get_lr_called_within_step": False, "_last_lr": [2e-4 * 0.999875 ** epoch]}

    callback_key = ("ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, "
                    "'every_n_epochs': 1, 'train_time_interval': None, 'save_on_train_epoch_end': True}")
    progress = {"total": {"ready": global_step // 2, "completed": global_step // 2}}
    return {
        "epoch": epoch, "global_step": global_step, "pytorch-lightning_version": "1.7.7",
        "state_dict": state_dict,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": global_step},
                               "epoch_loop.batch_progress": progress, "epoch_progress": progress}},
        "callbacks": {callback_key: {"monitor": None, "best_model_score": None, "best_model_path": "",
                                     "current_score": None, "dirpath": str(hparams["dataset_dir"]),
                                     "best_k_models": {}, "kth_best_model_path": "",
                                     "kth_value": torch.tensor(math.inf), "last_model_path": ""}},
        "optimizer_states": [adamw(n_g), adamw(n_d)],
        "lr_schedulers": [scheduler(), scheduler()],
        "hparams_name": "kwargs",
        "hyper_parameters": hparams,
    }


class _PublishedNamesPickler(pickle._Pickler):
    """Pure-Python pickler that names path classes as Python 3.8-3.12 did (``pathlib.PosixPath``),
    or, with ``module = b"pathlib._local"``, as Python 3.13 does."""

    NAMES = {PurePosixPath: b"PosixPath", PureWindowsPath: b"WindowsPath"}
    module = b"pathlib"

    def save_global(self, obj, name=None):
        spelled = self.NAMES.get(obj) or (b"PosixPath" if obj.__name__ == "PosixPath" and
                                          obj.__module__.startswith("pathlib") else None)
        if spelled is None:
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + self.module + b"\n" + spelled + b"\n")
        self.memoize(obj)


class _Python313NamesPickler(_PublishedNamesPickler):
    module = b"pathlib._local"


def save_published(checkpoint: dict, path: Path, python313_names: bool = False) -> Path:
    """torch.save with pickle protocol 2 and the published path class names (or 3.13's)."""
    import torch

    pickler = _Python313NamesPickler if python313_names else _PublishedNamesPickler
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, pickle_module=types.SimpleNamespace(Pickler=pickler, __name__="published_pickle"),
               pickle_protocol=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def write_published_checkpoint(path: Path, quality: str = "medium", sample_rate: int = 22050,
                               num_speakers: int = 1, arch: dict | None = None, windows: bool = False,
                               discriminator: bool = False, epoch: int = 2164, global_step: int = 1355540,
                               seed: int = 0) -> Path:
    """A checkpoint shaped like a published one; ``arch`` (e.g. TINY) overrides the preset's widths."""
    hparams = old_piper_hparams(quality, sample_rate, num_speakers, arch, windows)
    state_dict = tiny_state_dict(hparams, discriminator=discriminator, seed=seed)
    return save_published(published_layout(state_dict, hparams, epoch, global_step), path)


class _MakesDirectory:
    """Unpickles as ``os.mkdir(target)``: the shape of every pickle exploit, harmless in a tmp dir."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def write_checkpoint_with_callable(path: Path, marker: Path) -> Path:
    """A published-layout checkpoint whose hyper-parameters smuggle in a call to ``os.mkdir(marker)``."""
    hparams = old_piper_hparams(arch=TINY)
    hparams["callbacks"] = _MakesDirectory(marker)
    state_dict = tiny_state_dict(hparams, discriminator=False)
    return save_published(published_layout(state_dict, hparams), path)
