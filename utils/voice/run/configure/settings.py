"""From what the user asked to the settings that drive the run: ``resolve_settings`` merges, in
order of precedence, an explicit command-line value; the run being resumed; a fine-tune base's
network; the preset of the chosen quality; the demo or real-dataset defaults (all defined in
``utils.voice.run_config``). It takes the command line's typed groups (``utils.voice.options``),
never the whole command line.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from utils.errors import BadInput
from utils.voice.base.checkpoints import plain
from utils.voice.options import DeviceRequest, ScheduleRequest, VoiceRequest, WatchRequest
from utils.voice.run.configure.value_checks import check_segment_size, check_voice_name
from utils.voice.run_config import (
    DEFAULTS,
    DEMO,
    ESPEAK_VOICE,
    LINKED,
    MIN_CLIPS_FOR_VALIDATION,
    QUALITIES,
    SAMPLE_TEXT,
    SCHEDULE_KEYS,
    SEED,
    DatasetSpec,
    DataSettings,
    ModelSettings,
    RunSettings,
    Schedule,
    TrainerSettings,
    VoiceSpec,
    WatchSettings,
)


@dataclasses.dataclass
class Asked:
    """The command line's groups that settings are resolved from (``TrainOptions`` minus what the
    plan step consumes itself: folders, the dataset, the base)."""

    voice: VoiceRequest
    schedule: ScheduleRequest
    device: DeviceRequest
    watch: WatchRequest
    passthrough: dict[str, dict[str, Any]]
    demo: bool = False               # no --dataset: the bundled sample on the demo schedule
    export: bool = True
    finetune: str | None = None      # the base checkpoint's file
    warmup_batches: int | None = None  # --warmup-batches
    finetune_lr_scale: float | None = None  # --finetune-lr-scale
    onnx_base: bool = False          # the base came from a voice's ONNX: its fresh parts need a warm-up


def resolve_settings(asked: Asked, report, runtime: dict | None = None,
                     previous: RunSettings | None = None, finetune_arch: dict | None = None) -> RunSettings:
    """Merge command-line choices, a resumed run's settings, the fine-tune checkpoint's
    architecture and the defaults into the settings that drive the run."""
    demo = previous.dataset.demo if previous is not None else asked.demo
    base = DEMO if demo else DEFAULTS
    voice = _resolve_voice(asked.voice, base, previous)
    schedule = _resolve_schedule(asked.schedule, base, previous, n_clips=len(report.clips))
    model, data = _resolve_model_and_data(asked.passthrough, voice, schedule, previous, finetune_arch,
                                          n_clips=len(report.clips), num_speakers=report.num_speakers)
    voice.sample_rate = model.sample_rate
    watch = _resolve_watch(asked.watch, asked.voice.sample_text, schedule, previous)
    if watch.best_by == "val_wer" and not voice.espeak_voice.lower().startswith("en"):
        raise BadInput(f"--best-by wer: the recogniser knows English only and this voice is "
                       f"{voice.espeak_voice!r} — rank by mcd, f0_rmse, voicing_error, duration_error or mel")
    runtime = runtime or {}
    return RunSettings(
        voice=voice,
        dataset=DatasetSpec(path=str(report.path), demo=demo, layout=report.layout, clips=len(report.clips),
                            seconds=round(report.total_seconds, 2), speakers=report.speakers),
        schedule=schedule, model=model, data=data,
        trainer=_resolve_trainer(asked.device, asked.passthrough["trainer"], schedule, runtime, demo),
        device_reason=runtime.get("reason"),
        seed=_first(asked.schedule.seed, previous and previous.seed, SEED),
        sample_text=" ".join(watch.sample_texts),
        checkpoint_every=_first(asked.schedule.checkpoint_every, previous and previous.checkpoint_every),
        finetune=asked.finetune or (previous.finetune if previous else None),
        warmup_batches=_resolve_warmup(asked, previous),
        finetune_lr_scale=_resolve_lr_scale(asked, previous),
        export=asked.export,
        watch=watch,
    )


def _resolve_watch(asked: WatchRequest, sample_text, schedule: Schedule,
                   previous: RunSettings | None) -> WatchSettings:
    from utils.voice.run.configure.watch_options import resolve_watch

    before = previous.watch if previous is not None else None
    if before is not None and not before.sample_texts:
        before = dataclasses.replace(before, sample_texts=[previous.sample_text])
    try:
        return resolve_watch(asked, sample_text, schedule.validation, SAMPLE_TEXT, before)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc


def _resolve_voice_base_option(flag: str, field: str, asked: Asked, previous: RunSettings | None,
                               valid, why: str, default, neutral):
    """A setting of the fine-tune from a voice's ONNX (--warmup-batches, --finetune-lr-scale): kept by a
    resumed run, checked when given, the measured default for a voice's base, ``neutral`` otherwise."""
    given = getattr(asked, field)
    if previous is not None:
        before = getattr(previous, field)
        if given is not None and given != before:
            raise BadInput(f"{flag} {given} differs from the run being resumed ({before}); drop the option or "
                           "train into a new --output folder")
        return before
    if given is None:
        return default if asked.onnx_base else neutral
    if not valid(given):
        raise BadInput(f"{flag} {given}: {why}")
    if given != neutral and not asked.onnx_base:
        raise BadInput(f"{flag} goes with --finetune VOICE.onnx (or a checkpoint made by "
                       "tasks.voice_to_checkpoint): it is about the parts restored from a voice's graph")
    return given


def _resolve_warmup(asked: Asked, previous: RunSettings | None) -> int:
    """Batches with the restored parts of a voice held still while its fresh parts learn (0: none)."""
    from utils.voice.base.onnx_voice import DEFAULT_WARMUP_BATCHES

    return _resolve_voice_base_option("--warmup-batches", "warmup_batches", asked, previous, lambda n: n >= 0,
                                      "must be a whole number >= 0", DEFAULT_WARMUP_BATCHES, 0)


def _resolve_lr_scale(asked: Asked, previous: RunSettings | None) -> float:
    """The generator's learning rate after a voice's warm-up, as a fraction of piper's (1: unchanged)."""
    from utils.voice.base.onnx_voice import DEFAULT_FINETUNE_LR_SCALE

    return _resolve_voice_base_option("--finetune-lr-scale", "finetune_lr_scale", asked, previous,
                                      lambda f: 0 < f <= 1, "give a fraction in (0, 1]", DEFAULT_FINETUNE_LR_SCALE,
                                      1.0)


def _first(*values):
    return next((v for v in values if v is not None), None)


def _resolve_voice(asked: VoiceRequest, base: dict, previous: RunSettings | None) -> VoiceSpec:
    if previous is not None:
        # The network and the voice are fixed by the checkpoint being resumed.
        for key in ("quality", "voice_name", "espeak_voice"):
            given, before = getattr(asked, key), getattr(previous.voice, key)
            if given is not None and given != before:
                raise BadInput(f"--{key.replace('_', '-')} {given} differs from the run being resumed "
                               f"({before}); drop the option or train into a new --output folder")
        return dataclasses.replace(previous.voice)
    quality = asked.quality or base["quality"]
    if quality not in QUALITIES:
        raise BadInput(f"--quality {quality}: choose one of {', '.join(QUALITIES)}")
    voice_name = asked.voice_name or base["voice_name"]
    check_voice_name(voice_name)
    return VoiceSpec(voice_name=voice_name, quality=quality, espeak_voice=asked.espeak_voice or ESPEAK_VOICE,
                     sample_rate=QUALITIES[quality]["sample_rate"])


def _resolve_schedule(asked: ScheduleRequest, base: dict, previous: RunSettings | None,
                      n_clips: int) -> Schedule:
    before = dataclasses.asdict(previous.schedule) if previous is not None else {}
    values = {key: getattr(asked, key) if getattr(asked, key) is not None
              else before.get(key, base[key]) for key in SCHEDULE_KEYS}
    if asked.max_steps is not None and asked.max_epochs is None:
        values["max_epochs"] = None  # an explicit step budget alone decides when to stop
    if asked.max_epochs is not None and asked.max_steps is None:
        values["max_steps"] = None
    if asked.num_workers is None and "num_workers" not in before:
        from utils.machine.cpu_share import usable_cpus

        # The default's loader processes, no more than the CPUs this process may use (Slurm, docker --cpus).
        values["num_workers"] = min(values["num_workers"], usable_cpus())
    for key in ("max_steps", "max_epochs", "batch_size", "segment_size", "num_workers"):
        value, least = values[key], (0 if key == "num_workers" else 1)
        if value is not None and (not isinstance(value, int) or value < least):
            raise BadInput(f"--{key.replace('_', '-')} {value}: must be a whole number >= {least}")
    check_segment_size(values["segment_size"])
    validation = before.get("validation", base["validation"] and n_clips >= MIN_CLIPS_FOR_VALIDATION)
    return Schedule(**values, validation=validation)


def _resolve_model_and_data(passthrough: dict[str, dict[str, Any]], voice: VoiceSpec, schedule: Schedule,
                            previous: RunSettings | None, finetune_arch: dict | None,
                            n_clips: int, num_speakers: int) -> tuple[ModelSettings, DataSettings]:
    preset = QUALITIES[voice.quality]
    model = previous.model.kwargs() if previous is not None else dict(preset["model"])
    model.setdefault("sample_rate", preset["sample_rate"])
    if finetune_arch:
        model.update({k: plain(v) for k, v in finetune_arch.items()})
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
    if "mos_metric" not in passthrough["model"]:
        # piper's val_mos model is a torch.hub download: logged only when it is already here
        from utils.voice.evaluate.listener import piper_mos_metric

        model["mos_metric"] = piper_mos_metric()
    return ModelSettings.from_kwargs(model), DataSettings.from_kwargs(data)


def _resolve_trainer(asked: DeviceRequest, passthrough: dict[str, Any], schedule: Schedule, runtime: dict,
                     demo: bool) -> TrainerSettings:
    trainer = {
        "accelerator": runtime.get("accelerator", asked.accelerator or "auto"),
        "devices": asked.devices or runtime.get("devices", 1),
        "num_nodes": asked.num_nodes or 1,
        "precision": runtime.get("precision", asked.precision or "32-true"),
        # Lightning counts optimizer steps; each batch makes two (generator, discriminator).
        "max_steps": 2 * schedule.max_steps if schedule.max_steps else -1,
        "max_epochs": schedule.max_epochs if schedule.max_epochs else -1,
    }
    if not schedule.validation:
        trainer |= {"limit_val_batches": 0, "num_sanity_val_steps": 0}
    if demo:
        trainer["num_sanity_val_steps"] = 0
    trainer.update(passthrough)
    return TrainerSettings.from_kwargs(trainer)
