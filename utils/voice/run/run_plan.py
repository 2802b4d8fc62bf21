"""Step 1 of the train flow: plan the run, refusing everything that can be refused (exit 2)
before anything is written: options, the dataset, a resumed run's settings and checkpoint, a
fine-tune base, the device, the voice's file name, free disk space.

``plan_run`` returns a ``RunPlan``; ``utils.voice.pipeline`` carries it out.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.errors import BadInput
from utils.files import user_cache_root
from utils.voice.console import is_worker_process, say
from utils.voice.run import lightning_run
from utils.voice.run.resolve import resolve_settings
from utils.voice.run.run_checks import check_folder, check_resume_checkpoint
from utils.voice.run.run_guard import check_options
from utils.voice.run_config import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    DEFAULTS,
    DEMO,
    RunSettings,
    TrainOptions,
    load_settings,
)


@dataclass
class RunPlan:
    """Everything decided before the first byte is written."""

    options: TrainOptions
    report: Any                          # utils.voice.data.dataset.DatasetReport
    settings: RunSettings
    output: Path
    cache_root: Path
    previous: RunSettings | None = None  # the run being resumed
    finetune: dict | None = None         # weights of the fine-tune checkpoint
    base: Any = None                     # utils.voice.base.finetune.BaseChoice of a fine-tune
    checkpoint_bytes: int = 0            # one checkpoint on disk (utils.voice.run.disk_space)
    export_bytes: int = 0
    content: Any = None                  # utils.voice.data.content_checks.ContentResult


def default_output(voice_name: str) -> Path:
    return Path("outputs") / voice_name


def _resume_source(options: TrainOptions) -> tuple[Path | None, RunSettings | None]:
    output = Path(options.output) if options.output else None
    if not options.resume:
        return output, None
    if options.finetune:
        raise BadInput("--resume and --finetune exclude each other: --resume continues the run in "
                       "--output, --finetune starts a new one from a checkpoint")
    if output is None:
        output = default_output(options.voice_name or (DEFAULTS if options.dataset else DEMO)["voice_name"])
    checkpoint = output / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        raise BadInput(f"{checkpoint}: no checkpoint to resume from — train into {output} first, or drop --resume")
    previous = load_settings(output / CONFIG_NAME)
    # Truncated, foreign or unsafe: refused now, not after the data was prepared (exit 2).
    check_resume_checkpoint(checkpoint, previous.model)
    return output, previous


def _load_base(options: TrainOptions, cache_root: Path):
    """The fine-tune base (downloaded and checked if named by --base/--base-url), and the options
    with its quality label; (None, options) for a run from scratch."""
    from utils.voice.base import finetune

    base = finetune.choose_base(options, cache_root, progress=not is_worker_process())
    return (base, options) if base is None else (base, finetune.apply_base(options, base))


def _name_voice(settings: RunSettings, options: TrainOptions) -> None:
    """Settle the voice's language code and check the exported file name before anything is written."""
    from utils.voice.publish.voice_naming import NamingError, resolve_language, voice_file_stem

    voice = settings.voice
    try:
        if voice.language is None:
            voice.language = resolve_language(options.language, voice.espeak_voice, voice.voice_name)
        voice_file_stem(voice.voice_name, voice.quality, voice.language, settings.dataset.demo)
    except NamingError as exc:
        raise BadInput(str(exc)) from exc


def _device_runtime(options: TrainOptions) -> dict:
    from utils.machine.precision_policy import PolicyError
    from utils.machine.runtime_patches import apply_runtime_patches

    lightning_run.quiet_known_noise()
    try:
        runtime = apply_runtime_patches(accelerator=options.accelerator, precision=options.precision)
    except PolicyError as exc:
        raise BadInput(str(exc)) from exc
    for warning in runtime.get("warnings", []):
        say(f"warning: {warning}")
    return runtime


def plan_run(options: TrainOptions, seconds: dict[str, float] | None = None) -> RunPlan:
    """Validate the dataset, options, device and checkpoints; decide the settings and folders."""
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
    from utils.voice.run.passthrough import check_passthrough_names

    seconds = {} if seconds is None else seconds
    check_options(options.__dict__)  # numbers, names, folders, espeak voice: before anything else
    output, previous = _resume_source(options)
    dataset = options.dataset
    if dataset is None and previous is not None and not previous.dataset.demo:
        dataset = previous.dataset.path
    t = time.perf_counter()
    report = validate_dataset(dataset if dataset is not None else SAMPLE_DATASET,
                              progress=not is_worker_process())
    seconds["validate"] = time.perf_counter() - t
    if not report.ok:
        print(report.format_report(), file=sys.stderr)
        raise BadInput(f"dataset {report.path} has {len(report.problems)} problem(s); nothing was written")
    cache_root = Path(options.cache_dir) if options.cache_dir else user_cache_root()
    base, options = _load_base(options, cache_root)
    t = time.perf_counter()
    runtime = _device_runtime(options)
    settings = resolve_settings(options, report, runtime=runtime, previous=previous,
                                finetune_arch=base.arch if base is not None else None)
    _name_voice(settings, options)
    check_passthrough_names(options.passthrough)
    _leave_out_long_clips(report, settings)
    from utils.voice.data.content_use import check_before_training  # warnings; --exclude, --trim-silence

    content = check_before_training(report, settings, options, previous, cache_root)
    seconds["setup"] = time.perf_counter() - t
    output = (output or default_output(settings.voice.voice_name)).resolve()
    check_folder(output, "--output")
    refuse_a_finished_run(output, previous)
    plan = RunPlan(options=options, report=report, settings=settings, output=output, cache_root=cache_root,
                   previous=previous, finetune=base.finetune if base is not None else None, base=base,
                   content=content)
    if not is_worker_process():
        _check_disk_space(plan)
    return plan


def refuse_a_finished_run(output: Path, previous: RunSettings | None) -> None:
    if previous is None and (output / "checkpoints" / CHECKPOINT_NAME).exists():
        raise BadInput(f"{output} already holds a trained run — add --resume to continue it, or choose "
                       "another --output")


def _check_disk_space(plan: RunPlan) -> None:
    """One checkpoint (two with validation: the best one too), a temp copy and the export must fit."""
    from utils.voice.run import disk_space

    generator, discriminator = disk_space.count_parameters(plan.settings.model)
    kept = 2 if plan.settings.schedule.validation else 1
    existing = sum(p.stat().st_size for p in (plan.output / "checkpoints").glob("*.ckpt")) \
        if plan.previous is not None else 0
    plan.checkpoint_bytes = disk_space.check_before_training(plan.output, generator, discriminator, kept,
                                                             existing, export=plan.settings.export)
    plan.export_bytes = disk_space.export_bytes_for(generator)


def _leave_out_long_clips(report, settings: RunSettings) -> None:
    """--max-phoneme-ids: list the clips over the limit (the data module drops them in training)."""
    from utils.voice.data.phoneme_filter import add_to_report

    limit = settings.watch.get("max_phoneme_ids")
    if not limit:
        return
    long_clips = add_to_report(report, limit, settings.voice.espeak_voice)
    if not report.ok:
        print(report.format_report(), file=sys.stderr)
        raise BadInput(f"dataset {report.path}: no clip is within --max-phoneme-ids {limit}; nothing was written")
    if long_clips:
        say(f"leaving out {len(long_clips)} of {len(report.clips)} clips over {limit} phoneme ids:")
        for clip in long_clips[:20]:
            say(f"  {clip.id}: {clip.phoneme_ids} phoneme ids")
