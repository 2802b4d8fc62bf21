"""A training run's settings, typed: what was resolved from the command line
(``utils.voice.options.TrainOptions``) into ``RunSettings``, saved as ``train_config.json`` beside
the outputs so a voice explains itself.

Defaults live in one place below, one per line with their unit. ``utils.voice.run.configure.settings`` merges, in
order of precedence: an explicit command-line value; the run being resumed; the preset of the
chosen quality; the demo or real-dataset defaults. A step is one batch: one generator and one
discriminator update (Lightning's ``global_step`` counts both, so it is twice the step).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import BadInput

# Piper's published quality tiers (rhasspy/piper's --quality and its voices): x_low shrinks the
# text encoder and trains at 16 kHz, low is the standard network at 16 kHz, medium the same
# network at 22050 Hz, high widens the HiFi-GAN decoder. A fine-tune keeps its base's shape and rate.
QUALITIES: dict[str, dict[str, Any]] = {
    "x_low": {"sample_rate": 16000, "model": {"hidden_channels": 96, "inter_channels": 96,
                                              "filter_channels": 384}},
    "low": {"sample_rate": 16000, "model": {}},
    "medium": {"sample_rate": 22050, "model": {}},
    "high": {"sample_rate": 22050, "model": {
        "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 8, 2, 2], "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 4, 4]}},
}

# Defaults, one place. DEMO applies when no --dataset is given (the bundled sample).
DEMO = {
    "voice_name": "demo",        # output folder and file names
    "quality": "x_low",          # smallest network: the demo must finish in under a minute
    "max_steps": 10,             # batches
    "max_epochs": None,
    "batch_size": 2,
    "segment_size": 4096,        # samples per training slice; multiple of the hop (256)
    "num_workers": 0,            # worker processes cost more than they save on 28 clips
    "validation": False,         # no held-out clips: every clip trains
}
DEFAULTS = {
    "voice_name": "voice",
    "quality": "medium",
    "max_steps": None,
    "max_epochs": 1000,          # open-ended in piper; a finite default so a run ends by itself
    "batch_size": 16,
    "segment_size": 8192,        # piper's default
    "num_workers": 2,
    "validation": True,          # piper's 10% validation split + up to 5 test sentences
}
ESPEAK_VOICE = "en-us"
SEED = 1234
SAMPLE_TEXT = "This voice was trained with coaxial train, on a Piper model."
MIN_CLIPS_FOR_VALIDATION = 20    # fewer: hold nothing out, a 10% split would be one clip
HOP_LENGTH = 256


def batches_done(trainer) -> int:
    """Batches a Lightning trainer has trained. piper's step runs two optimisers a batch (generator,
    then discriminator) and Lightning's ``global_step`` counts optimiser steps: two per batch."""
    return trainer.global_step // 2


SCHEDULE_KEYS = ("max_steps", "max_epochs", "batch_size", "segment_size", "num_workers")

# piper's LightningCLI links these data and model arguments; without the CLI we set both.
LINKED = ("batch_size", "num_speakers", "sample_rate", "filter_length", "hop_length", "win_length",
          "segment_size")
CHECKPOINT_NAME = "last.ckpt"
CONFIG_NAME = "train_config.json"
CONFIG_VERSION = 2               # train_config.json layout; bump when a field changes meaning


@dataclass
class VoiceSpec:
    voice_name: str
    quality: str
    espeak_voice: str
    sample_rate: int
    language: str | None = None  # published language code (en_US); names the exported files


@dataclass
class DatasetSpec:
    path: str
    demo: bool
    layout: str | None
    clips: int
    seconds: float
    speakers: list[str]


@dataclass
class Schedule:
    max_steps: int | None        # batches in total; None: max_epochs decides
    max_epochs: int | None
    batch_size: int
    segment_size: int            # audio samples per training slice
    num_workers: int
    validation: bool


@dataclass
class WatchSettings:
    """Hearing, keeping and stopping (``utils.voice.run.configure.watch_options`` resolves them)."""

    sample_every: int | None         # batches between samples; None: at validations and the end only
    sample_texts: list[str]
    keep_best: int                   # checkpoints kept by validation mel loss, besides last.ckpt
    stop_when_stalled: int | None    # validations without improvement before stopping; None: off
    max_phoneme_ids: int | None      # clips longer than this are left out; None: keep all
    export_from: str                 # "best" or "last"
    best_by: str = "val_mel"         # the validation metric ranking checkpoints (watch_options.BEST_BY)


class _Arguments:
    """Typed fields a run reads, plus ``extra``: the rest of the keyword arguments handed to piper or
    Lightning as they are (pass-through options included). JSON and ``kwargs()`` are one flat dict,
    as the class being configured takes it."""

    extra: dict[str, Any]

    def kwargs(self) -> dict[str, Any]:
        typed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **typed}

    @classmethod
    def from_kwargs(cls, values: dict[str, Any]):
        if not isinstance(values, dict):
            raise TypeError(f"{cls.__name__} expects an object, not {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = sorted(names - set(values))
        if missing:
            raise KeyError(missing[0])
        return cls(**{k: values[k] for k in names}, extra={k: v for k, v in values.items() if k not in names})


@dataclass
class ModelSettings(_Arguments):
    """piper.train ``VitsModel`` arguments; ``extra`` holds the network (quality preset or base) and
    ``--model.NAME`` pass-through."""

    sample_rate: int
    batch_size: int
    segment_size: int                # audio samples per training slice
    num_speakers: int
    mos_metric: str = "none"         # piper's val_mos: "utmos" only when its model is cached (evaluate.listener)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSettings(_Arguments):
    """piper.train ``VitsDataModule`` arguments; ``extra`` holds ``--data.NAME`` pass-through."""

    espeak_voice: str
    validation_split: float
    num_test_examples: int
    num_workers: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainerSettings(_Arguments):
    """Lightning ``Trainer`` arguments; ``extra`` holds the validation switches and ``--trainer.NAME``."""

    accelerator: str
    devices: int | str
    num_nodes: int
    precision: str
    max_steps: int                   # optimizer steps: two per batch; -1 none
    max_epochs: int                  # -1 none
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSettings:
    """Everything that drives and documents one run; ``train_config.json`` is its JSON form."""

    voice: VoiceSpec
    dataset: DatasetSpec
    schedule: Schedule
    model: ModelSettings
    data: DataSettings
    trainer: TrainerSettings
    watch: WatchSettings
    device_reason: str | None = None
    seed: int = SEED
    sample_text: str = SAMPLE_TEXT
    checkpoint_every: int | None = None
    finetune: str | None = None
    warmup_batches: int = 0              # batches with a voice's restored parts held still (ONNX bases)
    finetune_lr_scale: float = 1.0       # after the warm-up, the generator's learning rate x this (ONNX bases)
    export: bool = True
    versions: dict[str, str | None] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    output: str | None = None
    exclude: list[str] = field(default_factory=list)  # content-check kinds left out; kept by --resume
    trim_silence: bool = False           # leading/trailing non-speech trimmed in the converted copy
    config_version: int = CONFIG_VERSION

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(model=self.model.kwargs(), data=self.data.kwargs(), trainer=self.trainer.kwargs())
        return data

    @classmethod
    def from_json(cls, data: Any, source: Path | str) -> RunSettings:
        """Rebuild settings saved by ``to_json``; an unreadable, older or hand-broken file raises
        BadInput naming the file, the field and what to do."""
        fix = ("start a new run in another --output folder (or restore the train_config.json that "
               "this run wrote)")
        if not isinstance(data, dict):
            raise BadInput(f"{source}: not a coaxial-train run configuration — {fix}")
        version = data.get("config_version", 1)
        if version != CONFIG_VERSION:
            raise BadInput(f"{source}: written by another coaxial-train version (config_version {version}, "
                           f"this one reads {CONFIG_VERSION}) — {fix}")
        try:
            parts = {"voice": VoiceSpec(**data["voice"]), "dataset": DatasetSpec(**data["dataset"]),
                     "schedule": Schedule(**data["schedule"]), "watch": WatchSettings(**data["watch"]),
                     "model": ModelSettings.from_kwargs(data["model"]),
                     "data": DataSettings.from_kwargs(data["data"]),
                     "trainer": TrainerSettings.from_kwargs(data["trainer"])}
            plain = {f.name: data[f.name] for f in dataclasses.fields(cls)
                     if f.name not in parts and f.name in data}
            settings = cls(**parts, **plain)
        except KeyError as exc:
            raise BadInput(f"{source}: field {exc.args[0]!r} is missing — {fix}") from None
        except TypeError as exc:
            raise BadInput(f"{source}: {exc} — {fix}") from None
        if settings.voice.quality not in QUALITIES:
            raise BadInput(f"{source}: voice.quality {settings.voice.quality!r} is not valid — {fix}")
        return settings


def load_settings(path: Path) -> RunSettings:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: cannot read the settings of the run to resume ({exc}) — start a new run "
                       "in another --output folder") from exc
    return RunSettings.from_json(data, path)
