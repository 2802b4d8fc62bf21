"""After the fit: the voice exported, the summary and report written, the history recorded, the batch
time kept for the next run's estimate, and the run's exit code.

``summary.json``, the printed summary and the report page's final state; ``report_failure``
turns what stopped a run into its message and exit code.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import TrainingFailed, UserError
from utils.files import atomic_write_json
from utils.machine import batch_times
from utils.voice.console import say
from utils.voice.publish import report_page, samples
from utils.voice.run.configure.schedule_text import median_batch_seconds, schedule_lines, times_key
from utils.voice.run.configure.watch_options import BEST_BY
from utils.voice.run.fit import history as run_history
from utils.voice.run.fit.result import RunResult
from utils.voice.run.fit.signals import stopped_message
from utils.voice.run.output.disk_space import disk_full_without_context, is_disk_full, naming_disk_full
from utils.voice.run.plan.decisions import RunPlan
from utils.voice.run_config import CHECKPOINT_NAME, CONFIG_NAME, RunSettings


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
    # The voice measures on held-out clips at each validation (utils.voice.evaluate.during_training).
    voice_measures: dict | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def export(plan: RunPlan, result: RunResult, seconds: dict[str, float]) -> ExportedVoice | None:
    """The voice from the best checkpoint or the last state (--export-from), unless the run was
    stopped early or --no-export was given; the trained model is released either way."""
    model, result.model = result.model, None
    if not plan.settings.export or result.interrupted is not None:
        return None
    model, source = _export_source(plan, result, model)
    with naming_disk_full(plan.output, plan.export_bytes, "the export"):
        exported = export_voice(plan, model, seconds)
    exported.source = source
    return exported


def finish(plan: RunPlan, result: RunResult, summary: RunSummary, history: list[dict]) -> int:
    """Print the summary and the schedule it ran; a run stopped by a signal ends as TrainingFailed."""
    from utils.voice.publish import report as run_report

    print(run_report.summary_text(summary.to_json()))
    print("\n".join(schedule_lines(plan.settings, history, summary.finetune if plan.base else None)))
    record_batch_time(plan.settings, history)
    if result.interrupted:
        saved = plan.output / summary.files.get("checkpoint", f"checkpoints/{CHECKPOINT_NAME}")
        raise TrainingFailed(stopped_message(result.interrupted, result.steps, saved, plan.output,
                                             result.requeue_note))
    return 0


def _export_source(plan: RunPlan, result: RunResult, model) -> tuple[Any, dict]:
    """--export-from: the best checkpoint's generator (rebuilt from its file) or the last state."""
    from utils.voice.run.fit.watchers import best_of

    best = best_of(result.watchers, plan.output / "checkpoints")
    if plan.settings.watch.export_from != "best" or best is None:
        return model, {"from": "last", "step": result.steps}
    from utils.voice.publish.checkpoint_export import load_model

    del model
    gc.collect()
    by = best.get("by", "val_mel")
    say(f"exporting the best checkpoint: batch {best['step']}, {BEST_BY.get(by, by)} {best[by]:.4f}")
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


def write_report(plan: RunPlan, result: RunResult, history: list[dict],
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
    from utils.voice.run.results.outcome import watch_files

    files |= watch_files(output)
    files["summary"] = "summary.json"
    last = history[-1] if history else {}
    summary = RunSummary(
        voice=dataclasses.asdict(settings.voice), dataset=dataclasses.asdict(settings.dataset),
        device={**{k: getattr(settings.trainer, k) for k in ("accelerator", "devices", "num_nodes", "precision")},
                "reason": settings.device_reason},
        steps=result.steps, steps_this_run=result.steps_this_run, epochs=result.epochs,
        final_losses={k: v for k, v in last.items() if k in ("loss_g", "loss_d", "train_mel")},
        seconds=seconds, finetune=result.finetune, interrupted=result.interrupted, output=str(output),
        files=files, sample=exported.sample if exported is not None else None, crash_debris=crash_debris,
    )
    _add_watch_results(summary, result, exported, output)
    atomic_write_json(output / "summary.json", summary.to_json())
    return summary


def _voice_measures(result: RunResult) -> dict | None:
    records = result.measures.records if result.measures is not None else []
    if not records:
        return None
    # The recordings' own scores: the ceilings of val_wer (lower is better) and val_listener (higher is better).
    return {"clips": records[-1].clips, "recordings_wer": records[-1].recordings_wer,
            "recordings_listener": records[-1].recordings_listener, "held_out": "held_out.json",
            "validations": [{"step": r.step, "seconds": round(r.seconds, 3), **r.values} for r in records]}


def _add_watch_results(summary: RunSummary, result: RunResult, exported: ExportedVoice | None,
                       output: Path) -> None:
    """Best step, stalled stop, left-out clips into the summary; the report page's final rewrite."""
    from utils.voice.publish import report_page
    from utils.voice.run.fit.watchers import best_of
    from utils.voice.run.results.outcome import final_status

    watchers = result.watchers
    summary.best = best_of(watchers, output / "checkpoints")
    summary.exported_from = exported.source if exported is not None else None
    summary.left_out = [list(item) for item in result.left_out]
    summary.voice_measures = _voice_measures(result)
    if watchers is not None and watchers.stall is not None:
        summary.stopped_stalled_at = watchers.stall.stopped_at_step
    if watchers is None or watchers.page is None:
        return
    state = watchers.page.state
    state.running = False
    state.status = final_status(summary.steps, summary.interrupted, summary.stopped_stalled_at,
                                summary.exported_from)
    report_page.write_report(output, state)


def record_history(plan: RunPlan, result: RunResult) -> list[dict]:
    """metrics.csv with every batch of the run, a resumed run's earlier batches included."""
    history = result.history
    metrics = plan.output / "metrics.csv"
    if plan.previous is not None and not result.history_restored:  # a checkpoint from before history
        history = run_history.merge_resumed(run_history.read_history(metrics), history,
                                            resumed_from_step=result.steps - result.steps_this_run)
    run_history.write_history(history, metrics)
    return history


def report_failure(exc: BaseException, debug: bool = False) -> int:
    """Print why the run ended and return its exit code (2 bad input, 1 anything else)."""
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 1
    if not isinstance(exc, UserError) and is_disk_full(exc):
        exc = disk_full_without_context(exc)
    if not isinstance(exc, UserError):  # a bug or something unforeseen: the traceback is what a report needs
        traceback.print_exception(exc)
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if debug:
        traceback.print_exception(exc)
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code


def watch_files(output: Path) -> dict[str, str]:
    """The summary's file list entries for samples and the report page, where they exist."""
    found = {}
    if (Path(output) / samples.SAMPLES_DIR).is_dir():
        found["samples"] = f"{samples.SAMPLES_DIR}/"
    if (Path(output) / report_page.REPORT_NAME).is_file():
        found["report page"] = report_page.REPORT_NAME
    return found


def final_status(steps: int, interrupted: str | None, stalled_at: int | None, exported_from: dict | None) -> str:
    """The report page's last status line."""
    if interrupted:
        return f"stopped by {interrupted} at batch {steps}; continue with --resume"
    text = f"finished at batch {steps}"
    if stalled_at is not None:
        text += " (validation mel loss stopped improving: --stop-when-stalled)"
    if exported_from:
        text += f"; voice exported from the {exported_from['from']} checkpoint (batch {exported_from['step']})"
    return text


def record_batch_time(settings: RunSettings, history: list[dict]) -> bool:
    """Keep this run's median batch time for the next run's estimate."""
    batch_s = median_batch_seconds(history)
    timed = sum(1 for row in history if isinstance(row.get("seconds"), (int, float))) - 1
    if batch_s is None:
        return False
    try:
        return batch_times.record(times_key(settings), batch_s, timed)
    except OSError:  # a read-only cache costs the next run its estimate, not this run its result
        return False
