"""Watching a run: the options for hearing, keeping and stopping, and the callbacks that do it.

One place for the training flow to call: ``add_arguments`` (the command-line flags),
``resolve`` (their checked values, saved in ``train_config.json`` under "watch"),
``describe_schedule`` (the line printed before training), ``make_watchers`` (the Lightning
callbacks: samples, live report page, keep-best checkpoints, stalled stop, out-of-memory guard)
and ``best_of`` (which checkpoint won, for the summary and the export).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.voice.data.phoneme_filter import check_limit
from utils.voice.options import WatchRequest
from utils.voice.publish import report_page, samples
from utils.voice.run import retention, stopping
from utils.voice.run.schedule_text import passthrough_lines, schedule_facts, validation_text
from utils.voice.run_config import WatchSettings

EXPORT_CHOICES = ("best", "last")


def add_arguments(parser) -> None:
    """The flags of this module, as their own argparse group (``--sample-text`` stays with voice)."""
    group = parser.add_argument_group("watching and keeping")
    group.add_argument("--sample-every", type=int, metavar="N",
                       help=f"also speak the sample text every N batches (default {samples.DEFAULT_SAMPLE_EVERY}; "
                            "always at each validation) into samples/step-N.wav; 0 = at validations only")
    group.add_argument("--keep-best", type=int, metavar="K",
                       help=f"keep last.ckpt plus the K best checkpoints by validation mel loss (or --best-by) "
                            f"(default {retention.DEFAULT_KEEP_BEST})")
    group.add_argument("--best-by", metavar="MEASURE",
                       help="rank the kept checkpoints by this validation measure, lowest best: "
                            + ", ".join(m.removeprefix("val_") for m in retention.BEST_BY)
                            + " (default mel: piper's validation mel loss; the others are the voice "
                              "measures on held-out clips, README 'How close is the voice to its speaker')")
    group.add_argument("--export-from", choices=EXPORT_CHOICES,
                       help="export the best checkpoint or the last state (default: best when validation ran)")
    group.add_argument("--stop-when-stalled", type=int, metavar="N",
                       help="stop when validation mel loss has not improved for N validations (default: off)")
    group.add_argument("--max-phoneme-ids", type=int, metavar="N",
                       help="leave out clips longer than N phoneme ids (against GPU out-of-memory; "
                            "typical 200-400; default: keep all)")


def resolve(asked: WatchRequest, sample_text, validation: bool, default_text: str,
            before: WatchSettings | None = None) -> WatchSettings:
    """Checked watch settings; ValueError names the flag and the fix. A resumed run keeps its
    values (``before``) unless a flag is given again; ``sample_text`` is --sample-text as given."""

    def pick(key, fallback):
        value = getattr(asked, key)
        if value is not None:
            return value
        return getattr(before, key) if before is not None else fallback

    every = pick("sample_every", samples.DEFAULT_SAMPLE_EVERY)
    if before is not None and asked.sample_every is None and every is None:
        every = 0  # the resumed run sampled at validations only
    if not isinstance(every, int) or every < 0:
        raise ValueError(f"--sample-every {every}: give a number of batches (0: samples at validations only)")
    texts = samples.load_sample_texts(sample_text, default_text) if sample_text \
        else (before.sample_texts if before is not None and before.sample_texts else [default_text])
    stall = stopping.check_stall_patience(pick("stop_when_stalled", None))
    export_from = pick("export_from", None) or ("best" if validation else "last")
    if not validation and (stall or export_from == "best"):
        flag = "--stop-when-stalled" if stall else "--export-from best"
        raise ValueError(f"{flag} needs validation, which this run does not have (it needs at least 20 clips "
                         "and no demo schedule) — drop the option or train on a larger dataset")
    best_by = retention.check_best_by(pick("best_by", None))
    if best_by != retention.MONITOR and not validation:
        raise ValueError(f"--best-by {best_by.removeprefix('val_')} needs validation, which this run does not have "
                         "(it needs at least 20 clips and no demo schedule) — drop the option")
    return WatchSettings(
        best_by=best_by,
        sample_every=every or None,
        sample_texts=texts,
        keep_best=retention.check_keep_best(pick("keep_best", None)),
        stop_when_stalled=stall,
        max_phoneme_ids=check_limit(pick("max_phoneme_ids", None)),
        export_from=export_from,
    )


def describe_schedule(settings) -> str:
    """What will happen, printed before training starts (``settings``: a RunSettings)."""
    schedule, watch = settings.schedule, settings.watch
    if schedule.max_steps:
        end = f"{schedule.max_steps} batches"
        if schedule.max_epochs:
            end += f" or {schedule.max_epochs} epochs, whichever comes first"
    else:
        end = f"{schedule.max_epochs} epochs"
    lines = [f"schedule: {end}, batch size {schedule.batch_size}"]
    trainer = settings.trainer.kwargs()  # pass-through options as Lightning will apply them
    lines.append(validation_text(trainer, schedule.validation))
    lines.extend(passthrough_lines(trainer, schedule.validation))
    if schedule.validation:
        lines.append(f"checkpoints: last.ckpt + the best {watch.keep_best} by "
                     f"{retention.BEST_BY.get(watch.best_by, watch.best_by)}")
    else:
        lines.append("checkpoints: last.ckpt")
    every = watch.sample_every
    lines.append("samples: " + (f"every {every} batches, " if every else "")
                 + ("at each validation and " if schedule.validation else "")
                 + f"at the end, into samples/ ({len(watch.sample_texts)} sentence(s))")
    stall = watch.stop_when_stalled
    lines.append(f"stop early: after {stall} validations without improvement" if stall else "stop early: off")
    if watch.max_phoneme_ids:
        lines.append(f"clips over {watch.max_phoneme_ids} phoneme ids left out")
    if settings.warmup_batches:
        lines.append(f"warm-up: batches 1-{settings.warmup_batches} train only what the voice's ONNX lacked "
                     "(posterior encoder, duration posterior, discriminators), the restored voice held still"
                     + (f"; then the generator at {settings.finetune_lr_scale:g} x its learning rate"
                        if settings.finetune_lr_scale != 1.0 else ""))
    lines.append(f"export: from the {watch.export_from} checkpoint")
    return "\n  ".join(lines)


def page_facts(settings) -> dict[str, str]:
    data, voice, trainer = settings.dataset, settings.voice, settings.trainer
    return {
        "voice": f"{voice.voice_name} ({voice.quality}, {voice.sample_rate} Hz, espeak-ng {voice.espeak_voice})",
        "data": f"{data.clips} clips, {data.seconds:.1f} s ({data.path})",
        "base": (f"fine-tune of {settings.finetune}" if settings.finetune else "from scratch")
        + (f"; warm-up of {settings.warmup_batches} batches with the restored voice held still"
           if settings.warmup_batches else ""),
        "device": f"{trainer.accelerator} x{trainer.devices}"
                  + (f" — {settings.device_reason}" if settings.device_reason else ""),
        "precision": str(trainer.precision),
        "schedule": describe_schedule(settings).split("\n", 1)[0].removeprefix("schedule: "),
        **schedule_facts(trainer.kwargs(), settings.schedule.validation),
    }


@dataclass
class Watchers:
    callbacks: list = field(default_factory=list)
    speaker: Any = None
    page: Any = None
    keep_best: Any = None
    stall: Any = None
    oom: Any = None


def make_watchers(settings, output: Path, last_checkpoint: Path, final_sample=None, say=None) -> Watchers:
    """The callbacks for one run (``settings``: a RunSettings); ``last_checkpoint`` is where the
    out-of-memory guard saves; ``final_sample()`` says whether to speak once more at the end."""
    say = say or (lambda message: print(message, file=sys.stderr, flush=True))
    watch, output = settings.watch, Path(output)
    ckpt_dir = Path(last_checkpoint).parent
    found = Watchers()
    found.speaker = samples.make_callback(output / samples.SAMPLES_DIR, watch.sample_texts,
                                          ckpt_dir / "voice_config.json", every=watch.sample_every,
                                          final=final_sample, say=say)
    state = report_page.PageState(title=settings.voice.voice_name, facts=page_facts(settings))
    schedule = {"max_steps": settings.schedule.max_steps, "max_epochs": settings.schedule.max_epochs}
    found.page = report_page.make_callback(output, state, schedule=schedule, say=say)
    found.oom = stopping.make_oom_guard(last_checkpoint)
    found.callbacks = [found.speaker, found.page, found.oom]
    if settings.schedule.validation:
        found.keep_best = retention.make_keep_best(ckpt_dir, watch.keep_best, say=say, monitor=watch.best_by)
        found.callbacks.append(found.keep_best)
        if watch.stop_when_stalled:
            found.stall = stopping.make_stall_stop(watch.stop_when_stalled, say=say)
            found.callbacks.append(found.stall)
    return found


def best_of(watchers: Watchers | None, ckpt_dir: Path) -> dict | None:
    """{"step", "val_mel", "checkpoint"} of the best checkpoint on disk (after training); ranked by
    another --best-by measure: {"step", "by", <that metric>, "checkpoint"}."""
    kept = retention.best_checkpoints(ckpt_dir)
    if watchers is not None and watchers.keep_best is not None and watchers.keep_best.best_model_path:
        chosen = retention.parse_best_name(Path(watchers.keep_best.best_model_path))
        if chosen is not None and chosen.path.is_file():
            kept = [chosen]
    if not kept:
        return None
    best = kept[0]
    if best.metric != retention.MONITOR:
        return {"step": best.step, "by": best.metric, best.metric: best.val_mel, "checkpoint": str(best.path)}
    return {"step": best.step, "val_mel": best.val_mel, "checkpoint": str(best.path)}


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
