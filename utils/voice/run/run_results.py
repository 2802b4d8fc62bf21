"""Steps 6-7 of the train flow: export the voice and report the run (``summary.json``, the
printed summary, the report page's final state).
"""

from __future__ import annotations

import dataclasses
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import TrainingFailed
from utils.files import atomic_write_json
from utils.voice.console import say
from utils.voice.run import lightning_run
from utils.voice.run.disk_space import naming_disk_full
from utils.voice.run.epoch_estimate import record_batch_time, schedule_lines
from utils.voice.run.retention import BEST_BY
from utils.voice.run.run_plan import RunPlan
from utils.voice.run.stop_signals import stopped_message
from utils.voice.run_config import CHECKPOINT_NAME, CONFIG_NAME


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


def export(plan: RunPlan, result: lightning_run.RunResult, seconds: dict[str, float]) -> ExportedVoice | None:
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


def finish(plan: RunPlan, result: lightning_run.RunResult, summary: RunSummary, history: list[dict]) -> int:
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


def _export_source(plan: RunPlan, result: lightning_run.RunResult, model) -> tuple[Any, dict]:
    """--export-from: the best checkpoint's generator (rebuilt from its file) or the last state."""
    from utils.voice.run.watch import best_of

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


def _voice_measures(result: lightning_run.RunResult) -> dict | None:
    records = result.measures.records if result.measures is not None else []
    if not records:
        return None
    return {"clips": records[-1].clips, "recordings_wer": records[-1].recordings_wer, "held_out": "held_out.json",
            "validations": [{"step": r.step, "seconds": round(r.seconds, 3), **r.values} for r in records]}


def _add_watch_results(summary: RunSummary, result: lightning_run.RunResult, exported: ExportedVoice | None,
                       output: Path) -> None:
    """Best step, stalled stop, left-out clips into the summary; the report page's final rewrite."""
    from utils.voice.publish import report_page
    from utils.voice.run.watch import best_of, final_status

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
