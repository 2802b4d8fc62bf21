"""Published Piper checkpoints (old ``piper_train``, Lightning 1.7.7) as bases for piper.train.

What the old trainer saved: a Lightning 1.x checkpoint (``epoch``, ``global_step``,
``state_dict``, ``loops``, ``callbacks``, two AdamW ``optimizer_states``, two ``lr_schedulers``,
``hparams_name`` and ``hyper_parameters``). The hyper-parameters hold the 45 arguments of its
``VitsModel``, its own options (``quality`` spelled ``x-low``, ``dataset_dir``, ...) and every
Lightning 1.7 Trainer option, with ``pathlib`` paths among them. The ``state_dict`` key names and
shapes are those of piper1-gpl's ``VitsModel``, so the weights carry over as they are; only the
hyper-parameters need translating, and only the ones that fix tensor shapes (plus the sample
rate, which fixes the audio the network makes) do.

Loading goes through ``utils.voice.base.checkpoints.load_checkpoint_safely``: plain data and pure
paths only, never code. The optimizer and scheduler states are dropped: a fine-tune starts its
own AdamW on the new voice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.voice.base.checkpoints import ARCHITECTURE_KEYS, CheckpointError, load_checkpoint_safely, plain

# Shape-fixing arguments carried from a base to the new VitsModel (besides ARCHITECTURE_KEYS):
# speakers and the width of the speaker embedding.
SPEAKER_KEYS = ("num_speakers", "gin_channels")

# Arguments of the old VitsModel that piper1-gpl no longer has; reported, never passed on.
RETIRED_KEYS = ("sample_bytes", "channels", "num_workers", "seed", "num_test_examples",
                "validation_split", "max_phoneme_ids")

# The networks Piper publishes, told apart by the hyper-parameters that differ between them.
X_LOW_CHANNELS = {"hidden_channels": 96, "inter_channels": 96, "filter_channels": 384}
HIGH_DECODER = {"resblock": "1", "upsample_initial_channel": 512}


@dataclass
class BaseCheckpoint:
    """A base checkpoint, translated: what a fine-tune must build and where it starts from."""

    path: Path
    architecture: str                # x_low, medium or high (medium is also published "low" at 16 kHz)
    quality: str                     # the published label: x_low, low, medium or high
    sample_rate: int
    num_speakers: int
    model_kwargs: dict[str, Any]     # VitsModel arguments that fix the network's shape
    state_dict: dict[str, Any]
    epoch: int | None = None
    global_step: int | None = None   # Lightning optimizer steps (two per batch)
    lightning_version: str | None = None
    dropped: list[str] = field(default_factory=list)  # hyper-parameters not carried over
    # A checkpoint made from a published voice's ONNX (utils.voice.base.onnx_voice) carries that
    # voice's .onnx.json (its phoneme map is the one the weights know) and where it came from.
    voice_config: dict | None = None
    onnx_source: dict | None = None

    @property
    def espeak_voice(self) -> str | None:
        """The espeak voice a voice's own config names (the language its text encoder learned)."""
        return espeak_voice_of(self.voice_config)

    @property
    def batches_done(self) -> int:
        return (self.global_step or 0) // 2

    def describe(self) -> str:
        speakers = f", {self.num_speakers} speakers" if self.num_speakers > 1 else ""
        done = f", trained {self.epoch} epochs / {self.batches_done} batches" if self.epoch is not None else ""
        return (f"{self.path.name}: {self.quality} ({self.architecture} network, {self.sample_rate} Hz"
                f"{speakers}{done})")


def read_base_checkpoint(path: str | os.PathLike) -> BaseCheckpoint:
    """Load a base checkpoint (published piper_train or piper.train/coaxial-train) and translate it."""
    path = Path(path)
    checkpoint = load_checkpoint_safely(path)
    hparams = checkpoint.get("hyper_parameters") or {}
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{path}: hyper_parameters is a {type(hparams).__name__}, expected a dict — "
                              "not a Piper checkpoint")
    try:
        kwargs = model_kwargs_from_hparams(hparams)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    _check_generator_present(path, checkpoint["state_dict"])
    sample_rate = int(kwargs["sample_rate"])
    architecture = architecture_name(kwargs)
    return BaseCheckpoint(
        path=path, architecture=architecture, quality=quality_label(architecture, sample_rate),
        sample_rate=sample_rate, num_speakers=int(kwargs.get("num_speakers", 1)), model_kwargs=kwargs,
        state_dict=checkpoint["state_dict"], epoch=_int_or_none(checkpoint.get("epoch")),
        global_step=_int_or_none(checkpoint.get("global_step")),
        lightning_version=checkpoint.get("pytorch-lightning_version"),
        dropped=sorted(k for k in hparams if k not in kwargs),
        voice_config=_json_or_none(checkpoint.get("coaxial_voice_config")),
        onnx_source=checkpoint.get("coaxial_onnx_voice") if isinstance(checkpoint.get("coaxial_onnx_voice"), dict)
        else None,
    )


def model_kwargs_from_hparams(hparams: dict) -> dict[str, Any]:
    """The shape-fixing VitsModel arguments in ``hparams``, as JSON-friendly values.

    Tuples become lists (piper.train accepts either; train_config.json can only hold lists) and
    the old trainer's quality presets are applied where it stored only ``quality``."""
    kwargs = {key: plain(hparams[key]) for key in (*ARCHITECTURE_KEYS, *SPEAKER_KEYS) if key in hparams}
    quality = str(hparams.get("quality") or "").replace("-", "_")
    # The old trainer wrote the preset's values into the hyper-parameters too; these fill in only
    # what a hand-made or trimmed file left out.
    if quality == "x_low":
        for key, value in X_LOW_CHANNELS.items():
            kwargs.setdefault(key, value)
    if "sample_rate" not in kwargs:
        raise CheckpointError("hyper-parameters lack 'sample_rate': cannot tell the audio rate of this "
                              "base — is it a Piper VITS checkpoint?")
    kwargs["num_speakers"] = int(kwargs.get("num_speakers") or 1)
    return kwargs


def architecture_name(kwargs: dict) -> str:
    """x_low, medium or high, from the network's widths (not from a label that may be missing)."""
    if all(kwargs.get(k) == v for k, v in X_LOW_CHANNELS.items()):
        return "x_low"
    if all(str(kwargs.get(k)) == str(v) for k, v in HIGH_DECODER.items()):
        return "high"
    if kwargs.get("hidden_channels", 192) == 192 and str(kwargs.get("resblock", "2")) == "2":
        return "medium"
    return "custom"


def quality_label(architecture: str, sample_rate: int) -> str:
    """The label published voices carry: ``low`` is the medium network at 16 kHz."""
    if architecture == "medium" and sample_rate <= 16000:
        return "low"
    return architecture if architecture != "custom" else "medium"


def _check_generator_present(path: Path, state_dict: dict) -> None:
    if not any(str(key).startswith("model_g.") for key in state_dict):
        raise CheckpointError(f"{path}: no generator weights (model_g.*) in state_dict — not a Piper VITS "
                              "checkpoint")


def espeak_voice_of(voice_config: dict | None) -> str | None:
    return ((voice_config or {}).get("espeak") or {}).get("voice")


def _json_or_none(text) -> dict | None:
    import json

    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
