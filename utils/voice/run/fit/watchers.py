"""The callbacks that watch a run: samples, the report page, the best checkpoints, the stall stop.

``make_watchers`` builds the Lightning callbacks from the resolved watch options (samples, live
report page, keep-best checkpoints, stalled stop, out-of-memory guard); ``best_of`` says which
checkpoint won, for the summary and the export.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.voice.publish import report_page, samples
from utils.voice.run.configure import watch_options
from utils.voice.run.configure.schedule_text import page_facts
from utils.voice.run.fit import keep_best, memory_guard


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
    found.oom = memory_guard.make_oom_guard(last_checkpoint)
    found.callbacks = [found.speaker, found.page, found.oom]
    if settings.schedule.validation:
        found.keep_best = keep_best.make_keep_best(ckpt_dir, watch.keep_best, say=say, monitor=watch.best_by)
        found.callbacks.append(found.keep_best)
        if watch.stop_when_stalled:
            found.stall = keep_best.make_stall_stop(watch.stop_when_stalled, say=say)
            found.callbacks.append(found.stall)
    return found


def best_of(watchers: Watchers | None, ckpt_dir: Path) -> dict | None:
    """{"step", "val_mel", "checkpoint"} of the best checkpoint on disk (after training); ranked by
    another --best-by measure: {"step", "by", <that metric>, "checkpoint"}."""
    kept = keep_best.best_checkpoints(ckpt_dir)
    if watchers is not None and watchers.keep_best is not None and watchers.keep_best.best_model_path:
        chosen = keep_best.parse_best_name(Path(watchers.keep_best.best_model_path))
        if chosen is not None and chosen.path.is_file():
            kept = [chosen]
    if not kept:
        return None
    best = kept[0]
    if best.metric != watch_options.MONITOR:
        return {"step": best.step, "by": best.metric, best.metric: best.val_mel, "checkpoint": str(best.path)}
    return {"step": best.step, "val_mel": best.val_mel, "checkpoint": str(best.path)}
