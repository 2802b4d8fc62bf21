"""The command line of ``tasks.train``, parsed and typed, in groups by what each option is about.

``TrainOptions`` is read in two places only: ``tasks/train.py`` builds it from argparse, and
``utils.voice.pipeline.plan_run`` turns it into the typed ``RunSettings`` (``utils.voice.run_config``)
once. Below the spine, a helper receives the one group it needs (``VoiceRequest``,
``ScheduleRequest``, ``DeviceRequest``, ``BaseRequest``, ``WatchRequest``) or plain values, never the
whole command line. In every group ``None`` means "not given": the run being resumed, a fine-tune
base or a default decides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class VoiceRequest:
    voice_name: str | None = None
    quality: str | None = None
    espeak_voice: str | None = None
    language: str | None = None                  # e.g. en_US; default: from the espeak voice
    sample_text: str | list[str] | None = None   # a sentence or a file of them; repeatable


@dataclass
class ScheduleRequest:
    max_steps: int | None = None                 # batches in total
    max_epochs: int | None = None
    batch_size: int | None = None
    segment_size: int | None = None
    num_workers: int | None = None
    checkpoint_every: int | None = None          # batches between extra last.ckpt saves
    seed: int | None = None


@dataclass
class DeviceRequest:
    accelerator: str | None = None
    precision: str | None = None
    devices: int | None = None
    num_nodes: int | None = None


@dataclass
class BaseRequest:
    """Where a fine-tune starts: at most one of base (catalog name), base_url or finetune (a file)."""

    base: str | None = None
    base_url: str | None = None
    base_sha256: str | None = None
    base_speaker: int | None = None              # speaker of a multi-speaker base to start from
    finetune: str | None = None
    warmup_batches: int | None = None            # batches with a voice's restored parts held still
    finetune_lr_scale: float | None = None       # after the warm-up: generator learning rate x this

    def given(self) -> list[str]:
        """The flags that name a base, in command-line spelling."""
        return [flag for flag, value in (("--base", self.base), ("--base-url", self.base_url),
                                         ("--finetune", self.finetune)) if value]


@dataclass
class WatchRequest:
    sample_every: int | None = None
    keep_best: int | None = None
    best_by: str | None = None
    export_from: str | None = None
    stop_when_stalled: int | None = None
    max_phoneme_ids: int | None = None


GROUPS = {"voice": VoiceRequest, "schedule": ScheduleRequest, "device": DeviceRequest,
          "base": BaseRequest, "watch": WatchRequest}


@dataclass
class TrainOptions:
    """The command line, parsed: the run's own flags, then one typed group per concern."""

    dataset: str | None = None
    validate_only: bool = False
    cache_dir: str | None = None
    output: str | None = None
    resume: bool = False
    no_export: bool = False
    quiet: bool = False
    json: bool = False                           # --validate-only --json: the report as one JSON object
    exclude: list[str] | None = None             # content-check kinds left out (utils.voice.data.content_checks)
    trim_silence: bool | None = None             # trim leading/trailing non-speech in the converted copy
    voice: VoiceRequest = field(default_factory=VoiceRequest)
    schedule: ScheduleRequest = field(default_factory=ScheduleRequest)
    device: DeviceRequest = field(default_factory=DeviceRequest)
    base: BaseRequest = field(default_factory=BaseRequest)
    watch: WatchRequest = field(default_factory=WatchRequest)
    passthrough: dict[str, dict[str, Any]] = field(default_factory=lambda: {"trainer": {}, "model": {},
                                                                            "data": {}})
    argv: list[str] = field(default_factory=list)

    @classmethod
    def from_namespace(cls, namespace: Any, **extra: Any) -> TrainOptions:
        """From argparse's flat namespace (flags it does not know are ignored: --debug is the task's)."""
        values = vars(namespace)
        groups = {name: kind(**{f.name: values.get(f.name) for f in dataclasses.fields(kind)
                                if values.get(f.name) is not None})
                  for name, kind in GROUPS.items()}
        own = {f.name: values[f.name] for f in dataclasses.fields(cls)
               if f.name not in GROUPS and f.name in values}
        return cls(**own, **groups, **extra)

    @classmethod
    def of(cls, **flags: Any) -> TrainOptions:
        """From flag names as on the command line (``TrainOptions.of(dataset=..., max_steps=7)``);
        a name that is no flag raises TypeError, as a misspelled keyword would."""
        known = {f.name for kind in GROUPS.values() for f in dataclasses.fields(kind)}
        known |= {f.name for f in dataclasses.fields(cls)} - set(GROUPS)
        unknown = sorted(set(flags) - known)
        if unknown:
            raise TypeError(f"TrainOptions has no option {', '.join(unknown)}")
        extra = {key: flags.pop(key) for key in ("passthrough", "argv") if key in flags}
        return cls.from_namespace(SimpleNamespace(**flags), **extra)
