"""The steps between the plan and the fit: own the output folder, start it (``train_config.json`` and
the schedule printed), prepare the audio, fit.

Each takes the ``RunPlan`` and what the step before produced, and can be called on its own in
tests.
"""

from __future__ import annotations

import contextlib
import time

from utils.files import atomic_write_json
from utils.machine.versions import stack_versions
from utils.voice.console import is_worker_process, say
from utils.voice.run.fit import trainer as fit_trainer
from utils.voice.run.fit.result import RunResult
from utils.voice.run.output.disk_space import naming_disk_full
from utils.voice.run.output.ownership import OwnedOutput
from utils.voice.run.plan.decisions import RunPlan
from utils.voice.run.plan.resume_checks import refuse_a_finished_run
from utils.voice.run_config import CONFIG_NAME


@contextlib.contextmanager
def own_output(plan: RunPlan):
    """The run lock on the output folder for the rest of the run (a live owner: exit 2), then the
    temp files a killed run left there removed. DDP worker processes work under rank 0's lock."""
    if is_worker_process():
        yield OwnedOutput(plan.output)
        return
    with OwnedOutput(plan.output, list(plan.command), say=say) as owned:
        refuse_a_finished_run(plan.output, plan.previous)  # a run that finished while we planned
        yield owned


def start_output(plan: RunPlan) -> None:
    """The first write of the run: the output folder and its ``train_config.json``."""
    if is_worker_process():
        return
    settings = plan.settings
    plan.output.mkdir(parents=True, exist_ok=True)
    settings.versions = stack_versions()
    settings.command = list(plan.command)
    settings.output = str(plan.output)
    atomic_write_json(plan.output / CONFIG_NAME, settings.to_json())
    say(f"training '{settings.voice.voice_name}' ({settings.voice.quality}, {settings.voice.sample_rate} Hz) "
        f"into {plan.output}; device {settings.trainer.accelerator}, precision {settings.trainer.precision}"
        + (f"\n  why: {settings.device_reason}" if settings.device_reason else ""))
    from utils.voice.run.configure.schedule_text import describe_schedule, planned_estimate

    say(describe_schedule(settings) + f"\n  {planned_estimate(settings)}"
        + f"\n  live report: {plan.output / 'report.html'}")
    if plan.content is not None:  # dataset_check.json + flagged clips for the report page's dataset section
        from utils.voice.publish.dataset_page import write_dataset_check

        write_dataset_check(plan.output, plan.report, plan.content, settings.voice.sample_rate, plan.cache_root)


def prepare(plan: RunPlan, seconds: dict[str, float]):
    """The dataset converted into the cache at the voice's rate (content-keyed: a rerun is instant)."""
    from utils.voice.data.audio_prep import prepare_dataset

    t = time.perf_counter()
    prepared = prepare_dataset(plan.report, plan.cache_root, progress=not is_worker_process(),
                               sample_rate=plan.settings.voice.sample_rate, trim_silence=plan.settings.trim_silence)
    seconds["prepare"] = time.perf_counter() - t
    return prepared


def fit(plan: RunPlan, prepared, seconds: dict[str, float]) -> RunResult:
    """Train with Lightning; a disk that fills up names what needed the space. The fine-tune
    weights are handed over and then dropped here (they are in the model now)."""
    with naming_disk_full(plan.output, plan.checkpoint_bytes, "a checkpoint"):
        result = fit_trainer.run_training(plan.settings, prepared, plan.output, plan.cache_root,
                                            resume=plan.previous is not None, finetune=plan.finetune,
                                            progress=plan.progress)
    plan.finetune = None
    if plan.base is not None and result.finetune is not None:
        result.finetune |= plan.base.summary() | {"warmup_batches": plan.settings.warmup_batches,
                                                  "finetune_lr_scale": plan.settings.finetune_lr_scale}
        plan.base.finetune = None
    seconds.update(result.seconds)
    return result
