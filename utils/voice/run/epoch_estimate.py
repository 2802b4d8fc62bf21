"""How long an epoch is, in batches and in seconds on this device: the numbers a schedule is chosen by.

Batches per epoch follow piper.train's split (``VitsDataModule.setup``): ``int(clips x
validation_split)`` clips held out for validation, up to ``num_test_examples`` for test
sentences, the rest trained in ``ceil(clips / batch_size)`` batches by length (every clip once,
none dropped: ``utils/voice/data/bucket_sampler.py``), then ``--trainer.limit_train_batches``. The time
per epoch is the median time of this run's batches (the first, which includes warm-up, left out)
times that count: training batches only, validation not included.
"""

from __future__ import annotations

import math
import statistics

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
