"""Settings resolved the way ``utils.voice.pipeline.plan_run`` resolves them, from flags as on the
command line, without the plan's dataset, device and disk checks."""

from __future__ import annotations

from utils.voice.options import TrainOptions
from utils.voice.run.configure.settings import Asked, resolve_settings
from utils.voice.run_config import RunSettings


def settings_for(report, previous: RunSettings | None = None, runtime: dict | None = None,
                 **flags) -> RunSettings:
    options = TrainOptions.of(**flags)
    asked = Asked(voice=options.voice, schedule=options.schedule, device=options.device, watch=options.watch,
                  passthrough=options.passthrough, demo=options.dataset is None, export=not options.no_export,
                  finetune=options.base.finetune)
    return resolve_settings(asked, report, runtime=runtime, previous=previous)
