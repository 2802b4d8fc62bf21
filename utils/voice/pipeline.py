"""The whole ``tasks.train`` flow as named steps: plan -> own -> start -> prepare -> fit -> export
-> report.

Order matters for the exit-code contract: ``plan_run`` (``utils.voice.run.run_plan``) checks
everything that can be refused before anything is written, so a run that exits 2 leaves nothing
behind. Each step takes what the previous one produced and can be called on its own in tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import TrainingFailed
from utils.files import atomic_write_json
from utils.machine.versions import stack_versions
from utils.voice.console import is_worker_process, say
from utils.voice.run import history as run_history
from utils.voice.run import lightning_run
from utils.voice.run.disk_space import naming_disk_full
from utils.voice.run.epoch_estimate import schedule_lines
from utils.voice.run.run_guard import OwnedOutput
from utils.voice.run.run_plan import RunPlan, plan_run, refuse_a_finished_run
from utils.voice.run_config import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    TrainOptions,
)


@dataclass
class ExportedVoice:
    onnx: Path
    sample: dict[str, Any]
    files: dict[str, str]
    source: dict[str, Any] = field(default_factory=dict)  # which checkpoint: "best"/"last", step, file


@dataclass
class RunSummary:
    """What ``summary.json`` holds and the printed summary shows."""

    voice: dict[str, Any]
    dataset: dict[str, Any]
    device: dict[str, Any]
    steps: int
    steps_this_run: int
    epochs: int
    final_losses: dict[str, float]
    seconds: dict[str, float]
    finetune: dict | None
    interrupted: str | None
    output: str
    files: dict[str, str] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    crash_debris: dict[str, int] | None = None  # temp files of a killed run removed at the start
    best: dict[str, Any] | None = None          # step, val_mel, checkpoint of the best validation
    exported_from: dict[str, Any] | None = None
    stopped_stalled_at: int | None = None       # batch where --stop-when-stalled ended the run
    left_out: list = field(default_factory=list)  # [text, phoneme ids] over --max-phoneme-ids

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train(options: TrainOptions) -> int:
    """Run ``tasks.train``; returns the exit code (raises BadInput for 2, TrainingFailed for 1)."""
    started = time.perf_counter()
    if options.validate_only:
        return validate_only(options)
    seconds: dict[str, float] = {}
    plan = plan_run(options, seconds)
    with own_output(plan) as owned:
        start_output(plan)
        t = time.perf_counter()
        prepared = prepare(plan)
        seconds["prepare"] = time.perf_counter() - t
        with naming_disk_full(plan.output, plan.checkpoint_bytes, "a checkpoint"):
            result = lightning_run.run_training(plan.settings, prepared, plan.output, plan.cache_root,
                                                resume=plan.previous is not None, finetune=plan.finetune,
                                                progress=not options.quiet)
        plan.finetune = None  # the fine-tune weights are in the model now; free the copy
        if plan.base is not None and result.finetune is not None:
            result.finetune |= plan.base.summary()
            plan.base.finetune = None
        seconds.update(result.seconds)
        if is_worker_process() or result.model is None:
            return 0
        history = record_history(plan, result)
        model, result.model = result.model, None
        exported = None
        if plan.settings.export and result.interrupted is None:
            model, source = _export_source(plan, result, model)
            with naming_disk_full(plan.output, plan.export_bytes, "the export"):
                exported = export_voice(plan, model, seconds)
            exported.source = source
        del model
        seconds["total"] = time.perf_counter() - started
        summary = write_report(plan, result, history, exported, seconds, crash_debris=owned.debris.as_dict())
    print(_summary_text(summary))
    print("\n".join(schedule_lines(plan.settings, history, summary.finetune if plan.base else None)))
    if result.interrupted:
        saved = plan.output / summary.files.get("checkpoint", f"checkpoints/{CHECKPOINT_NAME}")
        raise TrainingFailed(f"stopped by {result.interrupted} after {result.steps} batches; checkpoint "
                             f"{saved} saved — continue with: python -m tasks.train --output {plan.output} "
                             "--resume")
    return 0


def validate_only(options: TrainOptions) -> int:
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset

    report = validate_dataset(options.dataset if options.dataset is not None else SAMPLE_DATASET, progress=True)
    if options.max_phoneme_ids and report.clips:
        from utils.voice.data.phoneme_filter import add_to_report
        from utils.voice.run_config import ESPEAK_VOICE

        add_to_report(report, options.max_phoneme_ids, options.espeak_voice or ESPEAK_VOICE)
    from utils.voice.data.content_use import validation_output  # content checks; --json

    print(validation_output(report, options))
    return 0 if report.ok else 2


# -- steps 2-3: own and start the output folder, prepare the data -------------------------------

@contextlib.contextmanager
def own_output(plan: RunPlan):
    """The run lock on the output folder for the rest of the run (a live owner: exit 2), then the
    temp files a killed run left there removed. DDP worker processes work under rank 0's lock."""
    if is_worker_process():
        yield OwnedOutput(plan.output)
        return
    with OwnedOutput(plan.output, list(plan.options.argv), say=say) as owned:
        refuse_a_finished_run(plan.output, plan.previous)  # a run that finished while we planned
        yield owned


def start_output(plan: RunPlan) -> None:
    """The first write of the run: the output folder and its ``train_config.json``."""
    if is_worker_process():
        return
    settings = plan.settings
    plan.output.mkdir(parents=True, exist_ok=True)
    settings.versions = stack_versions()
    settings.command = list(plan.options.argv)
    settings.output = str(plan.output)
    atomic_write_json(plan.output / CONFIG_NAME, settings.to_json())
    say(f"training '{settings.voice.voice_name}' ({settings.voice.quality}, {settings.voice.sample_rate} Hz) "
         f"into {plan.output}; device {settings.trainer['accelerator']}, precision {settings.trainer['precision']}")
    from utils.voice.run.watch import describe_schedule

    say(describe_schedule(settings) + f"\n  live report: {plan.output / 'report.html'}")
    if plan.content is not None:  # dataset_check.json + flagged clips for the report page's dataset section
        from utils.voice.publish.dataset_page import write_dataset_check

        write_dataset_check(plan.output, plan.report, plan.content, settings.voice.sample_rate, plan.cache_root)


def prepare(plan: RunPlan):
    from utils.voice.data.audio_prep import prepare_dataset

    return prepare_dataset(plan.report, plan.cache_root, progress=not is_worker_process(),
                           sample_rate=plan.settings.voice.sample_rate, trim_silence=plan.settings.trim_silence)


# -- steps 4-6: history, export, report ---------------------------------------------------------

def record_history(plan: RunPlan, result: lightning_run.RunResult) -> list[dict]:
    """metrics.csv with every batch of the run, a resumed run's earlier batches included."""
    history = result.history
    metrics = plan.output / "metrics.csv"
    if plan.previous is not None and not result.history_restored:  # a checkpoint from before history
        history = run_history.merge_resumed(run_history.read_history(metrics), history,
                                            resumed_from_step=result.steps - result.steps_this_run)
    run_history.write_history(history, metrics)
    return history


def _export_source(plan: RunPlan, result: lightning_run.RunResult, model) -> tuple[Any, dict]:
    """--export-from: the best checkpoint's generator (rebuilt from its file) or the last state."""
    from utils.voice.run.watch import best_of

    best = best_of(result.watchers, plan.output / "checkpoints")
    if plan.settings.watch.get("export_from") != "best" or best is None:
        return model, {"from": "last", "step": result.steps}
    from utils.voice.publish.checkpoint_export import load_model

    del model
    gc.collect()
    say(f"exporting the best checkpoint: batch {best['step']}, validation mel loss {best['val_mel']:.4f}")
    return load_model(Path(best["checkpoint"]))[0], {"from": "best", **best}


def export_voice(plan: RunPlan, model, seconds: dict[str, float]) -> ExportedVoice:
    """``<name>.onnx`` + ``.onnx.json`` from the trained generator, then a sentence spoken by the
    piper runtime from those files, and its spectrogram."""
    from utils.voice.publish import export
    from utils.voice.publish import report as run_report
    from utils.voice.publish.voice_naming import voice_file_stem

    settings, output = plan.settings, plan.output
    name = voice_file_stem(settings.voice.voice_name, settings.voice.quality, settings.voice.language,
                           settings.dataset.demo)
    # The discriminator (46.7M parameters) is not part of the voice: drop it before tracing.
    model.model_d = None
    gc.collect()
    t = time.perf_counter()
    onnx_path = export.export_onnx(model, output / f"{name}.onnx")
    export.write_voice_config(output / "checkpoints" / "voice_config.json", output / f"{name}.onnx.json",
                              name, settings.voice.quality, settings.voice.language)
    seconds["export"] = time.perf_counter() - t
    t = time.perf_counter()
    info = export.speak(onnx_path, settings.sample_text, output / "sample.wav")
    seconds["speak"] = time.perf_counter() - t
    run_report.plot_spectrogram(info.path, output / "sample_spectrogram.png", f"{name}: \"{settings.sample_text}\"")
    return ExportedVoice(
        onnx=onnx_path,
        sample={"text": settings.sample_text, "seconds": info.seconds, "sample_rate": info.sample_rate,
                "rms": info.rms, "peak": info.peak},
        files={"voice": onnx_path.name, "voice config": f"{onnx_path.name}.json", "sample": "sample.wav",
               "spectrogram": "sample_spectrogram.png"},
    )


def write_report(plan: RunPlan, result: lightning_run.RunResult, history: list[dict],
                 exported: ExportedVoice | None, seconds: dict[str, float],
                 crash_debris: dict[str, int] | None = None) -> RunSummary:
    from utils.voice.publish import report as run_report

    settings, output = plan.settings, plan.output
    files: dict[str, str] = {"config": CONFIG_NAME}
    if result.checkpoint is not None:
        files["checkpoint"] = str(result.checkpoint.relative_to(output))
    files["tensorboard"] = "logs/"
    if history:
        files["metrics"] = "metrics.csv"
    plot = run_report.plot_losses(history, output / "loss_curves.png", f"{settings.voice.voice_name}: losses per batch")
    if plot:
        files["loss curves"] = plot.name
    if exported is not None:
        files |= exported.files
    from utils.voice.run.watch import watch_files

    files |= watch_files(output)
    files["summary"] = "summary.json"
    last = history[-1] if history else {}
    summary = RunSummary(
        voice=dataclasses.asdict(settings.voice), dataset=dataclasses.asdict(settings.dataset),
        device={**{k: settings.trainer.get(k) for k in ("accelerator", "devices", "num_nodes", "precision")},
                "reason": settings.device_reason},
        steps=result.steps, steps_this_run=result.steps_this_run, epochs=result.epochs,
        final_losses={k: v for k, v in last.items() if k in ("loss_g", "loss_d", "train_mel")},
        seconds=seconds, finetune=result.finetune, interrupted=result.interrupted, output=str(output),
        files=files, sample=exported.sample if exported is not None else None, crash_debris=crash_debris,
    )
    _add_watch_results(summary, result, exported, output)
    atomic_write_json(output / "summary.json", summary.to_json())
    return summary


def _add_watch_results(summary: RunSummary, result: lightning_run.RunResult, exported: ExportedVoice | None,
                       output: Path) -> None:
    """Best step, stalled stop, left-out clips into the summary; the report page's final rewrite."""
    from utils.voice.publish import report_page
    from utils.voice.run.watch import best_of, final_status

    watchers = result.watchers
    summary.best = best_of(watchers, output / "checkpoints")
    summary.exported_from = exported.source if exported is not None else None
    summary.left_out = [list(item) for item in result.left_out]
    if watchers is not None and watchers.stall is not None:
        summary.stopped_stalled_at = watchers.stall.stopped_at_step
    if watchers is None or watchers.page is None:
        return
    state = watchers.page.state
    state.running = False
    state.status = final_status(summary.steps, summary.interrupted, summary.stopped_stalled_at,
                                summary.exported_from)
    report_page.write_report(output, state)


def _summary_text(summary: RunSummary) -> str:
    from utils.voice.publish import report as run_report

    return run_report.summary_text(summary.to_json())
