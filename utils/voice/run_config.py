"""A training run's settings, typed: what the user asked (``TrainOptions``), what was resolved from
it (``RunSettings``, saved as ``train_config.json`` beside the outputs so a voice explains itself)
and the errors that decide the exit code.

Defaults live in one place below, one per line with their unit. ``resolve_settings`` merges, in
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


class BadInput(ValueError):
    """A user error found before anything was written (exit code 2)."""


class TrainingFailed(RuntimeError):
    """The run started but could not finish (exit code 1)."""


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
    watch: dict[str, Any] = field(default_factory=dict)  # samples, keep-best, stops: utils.voice.watch
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


# -- resolution --------------------------------------------------------------------------------

def resolve_settings(options: TrainOptions, report, runtime: dict | None = None,
                     previous: RunSettings | None = None, finetune_arch: dict | None = None) -> RunSettings:
    """Merge command-line choices, a resumed run's settings, the fine-tune checkpoint's
    architecture and the defaults into the settings that drive the run."""
    demo = previous.dataset.demo if previous is not None else options.dataset is None
    base = DEMO if demo else DEFAULTS
    voice = _resolve_voice(options, base, previous)
    schedule = _resolve_schedule(options, base, previous, n_clips=len(report.clips))
    model, data = _resolve_model_and_data(options, voice, schedule, previous, finetune_arch,
                                          n_clips=len(report.clips), num_speakers=report.num_speakers)
    voice.sample_rate = model["sample_rate"]
    watch = _resolve_watch(options, schedule, previous)
    runtime = runtime or {}
    return RunSettings(
        voice=voice,
        dataset=DatasetSpec(path=str(report.path), demo=demo, layout=report.layout, clips=len(report.clips),
                            seconds=round(report.total_seconds, 2), speakers=report.speakers),
        schedule=schedule, model=model, data=data,
        trainer=_resolve_trainer(options, schedule, runtime, demo),
        device_reason=runtime.get("reason"),
        seed=_first(options.seed, previous and previous.seed, SEED),
        sample_text=" ".join(watch["sample_texts"]),
        checkpoint_every=_first(options.checkpoint_every, previous and previous.checkpoint_every),
        finetune=str(options.finetune) if options.finetune else (previous.finetune if previous else None),
        export=not options.no_export,
        watch=watch,
    )


def _resolve_watch(options: TrainOptions, schedule: Schedule, previous: RunSettings | None) -> dict:
    from utils.voice import watch

    before = previous.watch if previous is not None else {}
    if previous is not None and not before.get("sample_texts"):
        before = {**before, "sample_texts": [previous.sample_text]}
    try:
        return watch.resolve(dataclasses.asdict(options), schedule.validation, SAMPLE_TEXT, before)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc


def _first(*values):
    return next((v for v in values if v is not None), None)


def _resolve_voice(options: TrainOptions, base: dict, previous: RunSettings | None) -> VoiceSpec:
    if previous is not None:
        # The network and the voice are fixed by the checkpoint being resumed.
        for key in ("quality", "voice_name", "espeak_voice"):
            given, before = getattr(options, key), getattr(previous.voice, key)
            if given is not None and given != before:
                raise BadInput(f"--{key.replace('_', '-')} {given} differs from the run being resumed "
                               f"({before}); drop the option or train into a new --output folder")
        return dataclasses.replace(previous.voice)
    quality = options.quality or base["quality"]
    if quality not in QUALITIES:
        raise BadInput(f"--quality {quality}: choose one of {', '.join(QUALITIES)}")
    voice_name = options.voice_name or base["voice_name"]
    if any(ch in voice_name for ch in '/\\:*?"<>|') or voice_name.startswith("."):
        raise BadInput(f"--voice-name {voice_name!r}: use letters, digits, '-' or '_' (it names files)")
    return VoiceSpec(voice_name=voice_name, quality=quality, espeak_voice=options.espeak_voice or ESPEAK_VOICE,
                     sample_rate=QUALITIES[quality]["sample_rate"])


def _resolve_schedule(options: TrainOptions, base: dict, previous: RunSettings | None,
                      n_clips: int) -> Schedule:
    before = dataclasses.asdict(previous.schedule) if previous is not None else {}
    values = {key: getattr(options, key) if getattr(options, key) is not None
              else before.get(key, base[key]) for key in SCHEDULE_KEYS}
    if options.max_steps is not None and options.max_epochs is None:
        values["max_epochs"] = None  # an explicit step budget alone decides when to stop
    if options.max_epochs is not None and options.max_steps is None:
        values["max_steps"] = None
    for key in ("max_steps", "max_epochs", "batch_size", "segment_size", "num_workers"):
        value, least = values[key], (0 if key == "num_workers" else 1)
        if value is not None and (not isinstance(value, int) or value < least):
            raise BadInput(f"--{key.replace('_', '-')} {value}: must be a whole number >= {least}")
    if values["segment_size"] % HOP_LENGTH:
        raise BadInput(f"--segment-size {values['segment_size']}: must be a multiple of the hop length "
                       f"{HOP_LENGTH}, e.g. {max(HOP_LENGTH, values['segment_size'] // HOP_LENGTH * HOP_LENGTH)}")
    validation = before.get("validation", base["validation"] and n_clips >= MIN_CLIPS_FOR_VALIDATION)
    return Schedule(**values, validation=validation)


def _resolve_model_and_data(options: TrainOptions, voice: VoiceSpec, schedule: Schedule,
                            previous: RunSettings | None, finetune_arch: dict | None,
                            n_clips: int, num_speakers: int) -> tuple[dict, dict]:
    preset = QUALITIES[voice.quality]
    passthrough = options.passthrough
    model = dict(previous.model) if previous is not None else dict(preset["model"])
    model.setdefault("sample_rate", preset["sample_rate"])
    if finetune_arch:
        model.update({k: _jsonable(v) for k, v in finetune_arch.items()})
    n_test = min(5, max(1, n_clips // 20)) if schedule.validation else 0
    data = {
        "espeak_voice": voice.espeak_voice,
        "validation_split": 0.1 if schedule.validation else 0.0,
        "num_test_examples": n_test,
        "num_workers": schedule.num_workers,
    }
    data.update(passthrough["data"])
    model.update(passthrough["model"])
    for key in LINKED:
        if key in data and key not in passthrough["model"]:
            model[key] = data[key]
    if "batch_size" not in passthrough["model"]:
        model["batch_size"] = schedule.batch_size
    if "segment_size" not in passthrough["model"] and "segment_size" not in passthrough["data"]:
        model["segment_size"] = schedule.segment_size
    model["num_speakers"] = max(1, num_speakers)
    model["mos_metric"] = "none"  # the MOS model is a download; offline it is never logged
    return model, data


def _resolve_trainer(options: TrainOptions, schedule: Schedule, runtime: dict, demo: bool) -> dict:
    trainer = {
        "accelerator": runtime.get("accelerator", options.accelerator or "auto"),
        "devices": options.devices or runtime.get("devices", 1),
        "num_nodes": options.num_nodes or 1,
        "precision": runtime.get("precision", options.precision or "32-true"),
        # Lightning counts optimizer steps; each batch makes two (generator, discriminator).
        "max_steps": 2 * schedule.max_steps if schedule.max_steps else -1,
        "max_epochs": schedule.max_epochs if schedule.max_epochs else -1,
    }
    if not schedule.validation:
        trainer |= {"limit_val_batches": 0, "num_sanity_val_steps": 0}
    if demo:
        trainer["num_sanity_val_steps"] = 0
    trainer.update(options.passthrough["trainer"])
    return trainer


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
