"""How long an epoch is, in batches and in seconds on this device: the numbers a schedule is chosen by.

Batches per epoch follow piper.train's split (``VitsDataModule.setup``): ``int(clips x
validation_split)`` clips held out for validation, up to ``num_test_examples`` for test
sentences, the rest trained in ``ceil(clips / batch_size)`` batches by length (every clip once,
none dropped: ``utils/voice/data/bucket_sampler.py``), then ``--trainer.limit_train_batches``. The time
per epoch is the median time of this run's batches (the first, which includes warm-up, left out)
times that count: training batches only, validation not included. Before a run starts, the same
figure comes from the last finished run on this machine with the same device, torch, quality, batch
size and precision (``utils.machine.batch_times``); each finished run records its own.
"""

from __future__ import annotations

import math
import statistics

from utils.machine import batch_times
from utils.voice.run.schedule_text import train_batches
from utils.voice.run_config import RunSettings


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


def _times_key(settings: RunSettings) -> str:
    import torch

    return batch_times.key(settings.trainer.accelerator, torch.__version__, settings.voice.quality,
                           settings.schedule.batch_size, settings.trainer.precision)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def planned_estimate(settings: RunSettings) -> str:
    """The line printed before training: an epoch's time from this machine's last measured run."""
    per_epoch = batches_per_epoch(settings)
    what = (f"{settings.voice.quality} at batch {settings.schedule.batch_size} in {settings.trainer.precision} "
            "on this machine")
    found = batch_times.lookup(_times_key(settings))
    if found is None:
        return (f"estimate: not measured yet for {what}; this run's summary gives it and the next run "
                "starts from it")
    total = f", {_duration(found['median_s'] * settings.schedule.max_steps)} for the {settings.schedule.max_steps} " \
            "batches" if settings.schedule.max_steps else ""
    return (f"estimate: about {_duration(found['median_s'] * per_epoch)} per epoch ({per_epoch} batches x "
            f"{found['median_s']:.2f} s, the median batch of the last run of {what}, {found['measured_on']})"
            f"{total}; training batches only")


def record_batch_time(settings: RunSettings, history: list[dict]) -> bool:
    """Keep this run's median batch time for the next run's estimate."""
    batch_s = median_batch_seconds(history)
    timed = sum(1 for row in history if isinstance(row.get("seconds"), (int, float))) - 1
    if batch_s is None:
        return False
    try:
        return batch_times.record(_times_key(settings), batch_s, timed)
    except OSError:  # a read-only cache costs the next run its estimate, not this run its result
        return False


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
