"""A training run's settings, typed: what the user asked (``TrainOptions``), what was resolved from
it (``RunSettings``, saved as ``train_config.json`` beside the outputs so a voice explains itself)
and the errors that decide the exit code.

Defaults live in one place below, one per line with their unit. ``utils.voice.run.resolve`` merges, in
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
SCHEDULE_KEYS = ("max_steps", "max_epochs", "batch_size", "segment_size", "num_workers")

# piper's LightningCLI links these data and model arguments; without the CLI we set both.
LINKED = ("batch_size", "num_speakers", "sample_rate", "filter_length", "hop_length", "win_length",
          "segment_size")
CHECKPOINT_NAME = "last.ckpt"
CONFIG_NAME = "train_config.json"
CONFIG_VERSION = 2               # train_config.json layout; bump when a field changes meaning


@dataclass
class TrainOptions:
    """The command line, parsed. ``None`` means "not given": the run being resumed or a default
    decides."""

    dataset: str | None = None
    validate_only: bool = False
    cache_dir: str | None = None
    output: str | None = None
    voice_name: str | None = None
    espeak_voice: str | None = None
    quality: str | None = None
    sample_text: str | list[str] | None = None   # a sentence or a file of them; repeatable
    max_steps: int | None = None
    max_epochs: int | None = None
    batch_size: int | None = None
    segment_size: int | None = None
    num_workers: int | None = None
    checkpoint_every: int | None = None
    seed: int | None = None
    accelerator: str | None = None
    precision: str | None = None
    devices: int | None = None
    num_nodes: int | None = None
    resume: bool = False
    finetune: str | None = None
    base: str | None = None              # catalog name (data/base_checkpoints.toml)
    base_url: str | None = None
    base_sha256: str | None = None
    base_speaker: int | None = None      # speaker of a multi-speaker base to start from
    language: str | None = None          # e.g. en_US; default: from the espeak voice
    no_export: bool = False
    quiet: bool = False
    sample_every: int | None = None
    keep_best: int | None = None
    export_from: str | None = None
    stop_when_stalled: int | None = None
    max_phoneme_ids: int | None = None
    json: bool = False                   # --validate-only --json: the report as one JSON object
    exclude: list[str] | None = None     # content-check kinds to leave out (utils.voice.data.content_checks)
    trim_silence: bool | None = None     # trim leading/trailing non-speech in the converted copy
    passthrough: dict[str, dict[str, Any]] = field(default_factory=lambda: {"trainer": {}, "model": {},
                                                                            "data": {}})
    argv: list[str] = field(default_factory=list)

    @classmethod
    def from_namespace(cls, namespace: Any, **extra: Any) -> TrainOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(namespace).items() if k in names}, **extra)


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
class RunSettings:
    """Everything that drives and documents one run; ``train_config.json`` is its JSON form."""

    voice: VoiceSpec
    dataset: DatasetSpec
    schedule: Schedule
    model: dict[str, Any]        # piper.train VitsModel arguments
    data: dict[str, Any]         # piper.train VitsDataModule arguments
    trainer: dict[str, Any]      # Lightning Trainer arguments
    device_reason: str | None = None
    seed: int = SEED
    sample_text: str = SAMPLE_TEXT
    checkpoint_every: int | None = None
    finetune: str | None = None
    export: bool = True
    versions: dict[str, str | None] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    output: str | None = None
    watch: dict[str, Any] = field(default_factory=dict)  # samples, keep-best, stops: utils.voice.run.watch
    exclude: list[str] = field(default_factory=list)  # content-check kinds left out; kept by --resume
    trim_silence: bool = False
    config_version: int = CONFIG_VERSION

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
                     "schedule": Schedule(**data["schedule"])}
            plain = {f.name: data[f.name] for f in dataclasses.fields(cls)
                     if f.name not in parts and f.name in data}
            settings = cls(**parts, **plain)
        except KeyError as exc:
            raise BadInput(f"{source}: field {exc.args[0]!r} is missing — {fix}") from None
        except TypeError as exc:
            raise BadInput(f"{source}: {exc} — {fix}") from None
        if settings.voice.quality not in QUALITIES or not isinstance(settings.model, dict):
            raise BadInput(f"{source}: voice.quality {settings.voice.quality!r} or model is not valid — {fix}")
        return settings


def load_settings(path: Path) -> RunSettings:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: cannot read the settings of the run to resume ({exc}) — start a new run "
                       "in another --output folder") from exc
    return RunSettings.from_json(data, path)
