"""What a run says about its schedule: the lines printed before training and on the report page, how
Lightning's pass-through options change it, batches per epoch, and the time per epoch (before the
run from this machine's last run with the same device, torch, quality, batch size and precision;
after it from its own batches).

Batches per epoch follow piper.train's split (``VitsDataModule.setup``): ``int(clips x
validation_split)`` clips held out for validation, up to ``num_test_examples`` for test sentences,
the rest trained in ``ceil(clips / batch_size)`` batches by length (every clip once, none dropped:
``utils/voice/data/bucket_sampler.py``), then ``--trainer.limit_train_batches``.

Some pass-through options change the schedule without changing the run's own flags:
``--trainer.check_val_every_n_epoch=25`` works, so the printed schedule and ``report.html`` must
not say "validation after every epoch". ``trainer`` below is ``RunSettings.trainer``: the Lightning
``Trainer`` arguments, pass-through options included. Lightning's meaning of each, as of 2.6:

- ``check_val_every_n_epoch`` N: validate at the end of every N-th epoch; ``None`` with an integer
  ``val_check_interval``: every that many batches, counted across epochs.
- ``val_check_interval``: a fraction of an epoch (0.25: four times per epoch) or a number of
  batches (one batch here = one Lightning training batch = two optimizer steps).
- ``limit_train_batches`` / ``limit_val_batches``: a number of batches per epoch / per validation,
  or a fraction of them; ``limit_val_batches=0`` turns validation off.
- ``limit_test_batches`` / ``limit_predict_batches``: no effect, training runs no test or predict.
- ``max_time``: training stops after that long ("DD:HH:MM:SS", or days/hours/minutes/seconds),
  whichever of it and the batch/epoch limit comes first; ``last.ckpt`` is saved as at any end.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from utils.machine import batch_times
from utils.voice.publish.report_page import format_duration
from utils.voice.run.configure import watch_options
from utils.voice.run_config import RunSettings

_TIME_UNITS = ("days", "hours", "minutes", "seconds")


def _flag(name: str, value: Any) -> str:
    return f"--trainer.{name}={value}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fraction(value: Any) -> bool:
    return isinstance(value, float) and not isinstance(value, bool)


def validation_text(trainer: dict[str, Any], validation: bool) -> str:
    """When validation runs, in words."""
    if not validation:
        return "no validation (too few clips, or the demo schedule)"
    limit = trainer.get("limit_val_batches")
    if limit == 0:
        return f"no validation ({_flag('limit_val_batches', 0)})"
    every_epochs = trainer.get("check_val_every_n_epoch", 1)
    interval = trainer.get("val_check_interval")
    flags = [_flag(name, trainer[name]) for name in ("check_val_every_n_epoch", "val_check_interval")
             if name in trainer]
    if interval is not None and not _fraction(interval) and isinstance(interval, int):
        scope = "counted across epochs" if every_epochs is None else \
            ("within each epoch" if every_epochs == 1 else f"within every {_ordinal(every_epochs)} epoch")
        when = f"validation every {interval} batches ({scope})"
    elif interval is not None and _fraction(interval) and interval < 1.0:
        when = f"validation every {interval:g} of an epoch ({1 / interval:g} times per epoch)"
        if every_epochs not in (None, 1):
            when += f", in every {_ordinal(every_epochs)} epoch"
    elif interval is not None and not isinstance(interval, (int, float)):
        when = f"validation every {interval} of training time"
    elif every_epochs in (None, 1):
        when = "validation after every epoch"
    else:
        when = f"validation after every {_ordinal(every_epochs)} epoch"
    text = f"{when} (held-out clips, mel loss)"
    return f"{text} [{', '.join(flags)}]" if flags else text


def _limit_text(name: str, value: Any, what: str) -> str:
    if _fraction(value):
        return f"{what}: only {value:.0%} of the batches ({_flag(name, value)})"
    return f"{what}: only {value} batch(es) ({_flag(name, value)})"


def describe_max_time(value: Any) -> str:
    """``max_time`` as Lightning reads it ("DD:HH:MM:SS", a dict of units, or a timedelta), in words."""
    seconds = max_time_seconds(value)
    if seconds is None:
        return str(value)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"


def max_time_seconds(value: Any) -> float | None:
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if isinstance(value, dict):
        return sum(float(value.get(unit, 0)) * factor
                   for unit, factor in zip(_TIME_UNITS, (86400, 3600, 60, 1), strict=True))
    if isinstance(value, str) and value.count(":") == 3:
        try:
            days, hours, minutes, secs = (int(part) for part in value.split(":"))
        except ValueError:
            return None
        return days * 86400 + hours * 3600 + minutes * 60 + secs
    return None


def passthrough_lines(trainer: dict[str, Any], validation: bool) -> list[str]:
    """One line per pass-through option that changes the schedule (other than the validation
    timing, which ``validation_text`` states), as Lightning will apply it."""
    lines = []
    limit = trainer.get("limit_train_batches")
    if limit is not None and limit != 1.0:
        lines.append(_limit_text("limit_train_batches", limit, "each epoch trains"))
    limit = trainer.get("limit_val_batches")
    if validation and limit not in (None, 0, 1.0):
        lines.append(_limit_text("limit_val_batches", limit, "each validation uses"))
    if not validation and any(name in trainer for name in ("check_val_every_n_epoch", "val_check_interval")):
        lines.append("validation options have no effect: this run has no validation")
    for name in ("limit_test_batches", "limit_predict_batches"):
        if name in trainer:
            lines.append(f"{_flag(name, trainer[name])}: no effect (training runs no test or prediction)")
    if trainer.get("max_time") is not None:
        lines.append(f"time limit: training stops after {describe_max_time(trainer['max_time'])} "
                     f"({_flag('max_time', trainer['max_time'])}), whichever limit comes first; "
                     "last.ckpt is saved as at any end")
    return lines


def schedule_facts(trainer: dict[str, Any], validation: bool) -> dict[str, str]:
    """The report page's lines for the same: "validation", and "Lightning options" when any act."""
    facts = {"validation": validation_text(trainer, validation)}
    lines = passthrough_lines(trainer, validation)
    if lines:
        facts["Lightning options"] = "; ".join(lines)
    return facts


def train_batches(batches: int, trainer: dict[str, Any]) -> int:
    """Training batches per epoch once ``limit_train_batches`` has acted (Lightning rounds a
    fraction down)."""
    limit = trainer.get("limit_train_batches")
    if limit is None or limit == 1.0:
        return batches
    if _fraction(limit):
        return max(1, int(batches * limit)) if limit > 0 else 0
    return min(batches, int(limit))


def train_clips(clips: int, validation_split: float, num_test_examples: int) -> int:
    held_out = int(clips * validation_split)
    tests = min(num_test_examples, max(0, clips - held_out - 1))
    return clips - held_out - tests


def batches_per_epoch(settings: RunSettings) -> int:
    clips = train_clips(settings.dataset.clips, settings.data.validation_split,
                        settings.data.num_test_examples)
    return train_batches(max(1, math.ceil(clips / settings.schedule.batch_size)), settings.trainer.kwargs())


def median_batch_seconds(history: list[dict]) -> float | None:
    """Median wall time of one batch from the per-batch ``seconds`` column (time since training began)."""
    times = [row["seconds"] for row in history if isinstance(row.get("seconds"), (int, float))]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b >= a]
    if not gaps and len(times) == 1:
        gaps = times
    return statistics.median(gaps) if gaps else None


def times_key(settings: RunSettings) -> str:
    import torch

    return batch_times.key(settings.trainer.accelerator, torch.__version__, settings.voice.quality,
                           settings.schedule.batch_size, settings.trainer.precision)


def planned_estimate(settings: RunSettings) -> str:
    """The line printed before training: an epoch's time from this machine's last measured run."""
    per_epoch = batches_per_epoch(settings)
    what = (f"{settings.voice.quality} at batch {settings.schedule.batch_size} in {settings.trainer.precision} "
            "on this machine")
    found = batch_times.lookup(times_key(settings))
    if found is None:
        return (f"estimate: not measured yet for {what}; this run's summary gives it and the next run "
                "starts from it")
    steps = settings.schedule.max_steps
    total = f", {format_duration(found['median_s'] * steps)} for the {steps} batches" if steps else ""
    return (f"estimate: about {format_duration(found['median_s'] * per_epoch)} per epoch ({per_epoch} batches x "
            f"{found['median_s']:.2f} s, the median batch of the last run of {what}, {found['measured_on']})"
            f"{total}; training batches only")


def schedule_lines(settings: RunSettings, history: list[dict], base: dict | None = None) -> list[str]:
    """The lines the printed summary adds: clips, batches per epoch, time per epoch, and for a
    fine-tune what the base had done."""
    per_epoch = batches_per_epoch(settings)
    train = train_clips(settings.dataset.clips, settings.data.validation_split,
                        settings.data.num_test_examples)
    lines = [f"  schedule:  {settings.dataset.clips} clips ({train} trained on), batch {settings.schedule.batch_size} "
             f"-> {per_epoch} batches per epoch"]
    batch_s = median_batch_seconds(history)
    if batch_s is not None:
        device = settings.trainer.accelerator
        lines.append(f"  estimate:  about {batch_s * per_epoch:.1f} s per epoch on this device ({device}, "
                     f"median batch {batch_s:.2f} s; training batches only)")
    if base and base.get("base_onnx"):  # a voice's graph does not say how long it trained
        lines.append(f"  base:      {base['base']}, a published voice (its training length is not in the graph); "
                     "this run's --max-steps/--max-epochs came on top (fresh optimizer, counters from zero)")
    elif base:
        epochs = f"{base['base_epochs']} epochs / " if base.get("base_epochs") is not None else ""
        lines.append(f"  base:      {base['base']} had trained {epochs}{base['base_batches']} batches; this run's "
                     "--max-steps/--max-epochs came on top (fresh optimizer, counters from zero)")
    return lines


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
                     f"{watch_options.BEST_BY.get(watch.best_by, watch.best_by)}")
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
