"""``RunPlan``: everything decided before the first byte is written (dataset report, settings, base,
output folder, resume source, disk space), and the refusals that go with deciding it.

Everything that can be refused is refused here (exit 2), before anything is written: the dataset, a
resumed run's settings and checkpoint, the device, the voice's file name, long clips, free disk
space.

``utils.voice.pipeline.plan_run`` reads the command line once and calls these with the values
each needs; ``RunPlan`` is what it hands to the steps that write.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import BadInput
from utils.voice.console import is_worker_process, say
from utils.voice.options import DeviceRequest
from utils.voice.run.output import disk_space
from utils.voice.run_config import (
    RunSettings,
)


@dataclass
class RunPlan:
    """Everything decided before the first byte is written."""

    report: Any                          # utils.voice.data.dataset.DatasetReport
    settings: RunSettings
    output: Path
    cache_root: Path
    previous: RunSettings | None = None  # the run being resumed
    finetune: dict | None = None         # weights of the fine-tune checkpoint
    base: Any = None                     # utils.voice.base.finetune.BaseChoice of a fine-tune
    command: list[str] = field(default_factory=list)  # the command line, for run.lock and train_config.json
    progress: bool = True                # the training progress bar (--quiet: off)
    content: Any = None                  # utils.voice.data.content_checks.ContentResult
    checkpoint_bytes: int = 0            # one checkpoint on disk (utils.voice.run.output.disk_space)
    export_bytes: int = 0


def check_dataset(dataset: str | Path | None):
    """The dataset's report (the bundled sample when None); every problem printed, then exit 2."""
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset

    report = validate_dataset(dataset if dataset is not None else SAMPLE_DATASET, progress=not is_worker_process())
    if not report.ok:
        print(report.format_report(), file=sys.stderr)
        raise BadInput(f"dataset {report.path} has {len(report.problems)} problem(s); nothing was written")
    return report


def name_voice(settings: RunSettings, language: str | None) -> None:
    """Settle the voice's language code and check the exported file name before anything is written."""
    from utils.voice.publish.voice_naming import NamingError, resolve_language, voice_file_stem

    voice = settings.voice
    try:
        if voice.language is None:
            voice.language = resolve_language(language, voice.espeak_voice, voice.voice_name)
        voice_file_stem(voice.voice_name, voice.quality, voice.language, settings.dataset.demo)
    except NamingError as exc:
        raise BadInput(str(exc)) from exc


def device_runtime(device: DeviceRequest) -> dict:
    """The in-process runtime patches and the precision policy's choice (a refusal is exit 2)."""
    from utils.machine.runtime_patches import apply_runtime_patches

    quiet_known_noise()
    runtime = apply_runtime_patches(accelerator=device.accelerator, precision=device.precision)
    for warning in runtime.get("warnings", []):
        say(f"warning: {warning}")
    return runtime


def check_disk_space(plan: RunPlan) -> None:
    """One checkpoint (two with validation: the best one too), a temp copy and the export must fit."""

    generator, discriminator = disk_space.count_parameters(plan.settings.model.kwargs())
    kept = 2 if plan.settings.schedule.validation else 1
    existing = sum(p.stat().st_size for p in (plan.output / "checkpoints").glob("*.ckpt")) \
        if plan.previous is not None else 0
    plan.checkpoint_bytes = disk_space.check_before_training(plan.output, generator, discriminator, kept,
                                                             existing, export=plan.settings.export)
    plan.export_bytes = disk_space.export_bytes_for(generator)


def leave_out_long_clips(report, settings: RunSettings) -> None:
    """--max-phoneme-ids: list the clips over the limit (the data module drops them in training)."""
    from utils.voice.data.phoneme_filter import add_to_report

    limit = settings.watch.max_phoneme_ids
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


def quiet_known_noise() -> None:
    """Silence messages that say nothing to a user of this tool (the summary says what matters)."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("piper").setLevel(logging.WARNING)
    for message in (r".*weight_norm.* is deprecated", r".*pin_memory.*no accelerator",
                    r".*LeafSpec.*deprecated", r"Constant folding", r".*does not have many workers",
                    r"Converting a tensor to a Python boolean",
                    r"Checkpoint directory .* exists and is not empty",  # voice_config.json lives there
                    # on a machine with Slurm installed, a run outside a job (a login node, a test)
                    r"The `srun` command is available on your system but is not used"):
        warnings.filterwarnings("ignore", message=message)
