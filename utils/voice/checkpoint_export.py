"""Any checkpoint -> a Piper voice, without training: rebuild the network, then ``utils.voice.export``.

The network is rebuilt from the checkpoint's own hyper-parameters (only the names piper's
``VitsModel`` still accepts; old trainer options are ignored) and loaded strictly, so a file that
does not hold a complete Piper generator is refused instead of exported half-random. The voice
config comes from the run the checkpoint belongs to (``checkpoints/voice_config.json`` and
``train_config.json`` beside it); for a checkpoint on its own it is rebuilt from piper's defaults
and ``--espeak-voice``. Export, config and spoken sample are ``utils.voice.export``'s functions.
"""

from __future__ import annotations

import inspect
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from utils.voice.checkpoints import CheckpointError, load_checkpoint_safely

VOICE_CONFIG_NAME = "voice_config.json"
RUN_CONFIG_NAME = "train_config.json"
# Options that point at files of the machine that trained it or would download something.
_NOT_REBUILT = {"dataset", "vocoder_warmstart_ckpt", "warmstart_ckpt", "mos_metric", "self", "kwargs"}


@dataclass
class ExportedVoice:
    onnx: Path
    config: Path
    sample: Path
    sample_seconds: float
    sample_rms: float
    step: int | None
    voice_name: str
    quality: str


def run_settings(checkpoint_path: Path) -> dict:
    """``train_config.json`` of the coaxial run the checkpoint is in (``<run>/checkpoints/x.ckpt``)."""
    candidate = Path(checkpoint_path).resolve().parent.parent / RUN_CONFIG_NAME
    try:
        return json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def guess_quality(hparams: dict) -> str:
    """Piper's preset names by network shape (low and medium share one shape: medium is the name
    published 22 kHz voices use)."""
    if hparams.get("hidden_channels") == 96:
        return "x_low"
    if hparams.get("upsample_initial_channel") == 512:
        return "high"
    return "medium"


def model_from_checkpoint(checkpoint: dict, source: Path):
    """A VitsModel built from the checkpoint's hyper-parameters with its weights loaded strictly."""
    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    accepted = set(inspect.signature(VitsModel.__init__).parameters) - _NOT_REBUILT
    hparams = checkpoint.get("hyper_parameters") or {}
    kwargs = {key: (list(value) if isinstance(value, tuple) else value)
              for key, value in hparams.items() if key in accepted}
    try:
        model = VitsModel(mos_metric="none", **kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: its hyper-parameters do not build a Piper VITS model ({exc})") from exc
    state = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith(("model_g.", "model_d."))}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "shapes differ"
        raise CheckpointError(f"{source}: the weights do not fit the network its hyper-parameters describe "
                              f"({first}) — is it a Piper VITS checkpoint?") from exc
    return model


def default_voice_config(hparams: dict, espeak_voice: str) -> dict:
    """piper.train's voice config for a checkpoint with no run folder: default phoneme map."""
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    return PiperConfig(num_symbols=hparams.get("num_symbols", 256), num_speakers=hparams.get("num_speakers", 1),
                       sample_rate=hparams.get("sample_rate", 22050), espeak_voice=espeak_voice,
                       phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
                       piper_version="1.5.0").to_dict()


def safe_stem(path: Path) -> str:
    """A folder-friendly name from a checkpoint file name ("best-batch=12-val_mel=0.81" -> "best-batch12-...")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "", Path(path).stem) or "checkpoint"


def export_checkpoint(checkpoint_path: Path, output: Path, voice_name: str | None = None,
                      espeak_voice: str | None = None, sample_text: str | None = None,
                      checkpoint: dict | None = None) -> ExportedVoice:
    """Write ``<output>/<voice>.onnx``, ``.onnx.json`` and ``sample.wav`` from a checkpoint file."""
    from utils.voice import export
    from utils.voice.run_config import SAMPLE_TEXT

    checkpoint_path = Path(checkpoint_path)
    checkpoint = checkpoint if checkpoint is not None else load_checkpoint_safely(checkpoint_path)
    settings = run_settings(checkpoint_path)
    voice = settings.get("voice", {})
    hparams = checkpoint.get("hyper_parameters") or {}
    voice_name = voice_name or voice.get("voice_name") or "voice"
    quality = voice.get("quality") or guess_quality(hparams)
    model = model_from_checkpoint(checkpoint, checkpoint_path)
    step = checkpoint.get("global_step")
    del checkpoint  # the Adam states are most of the file: free them before tracing

    output = Path(output)
    onnx_path = export.export_onnx(model, output / f"{voice_name}.onnx")
    config_path = output / f"{voice_name}.onnx.json"
    beside = checkpoint_path.parent / VOICE_CONFIG_NAME
    if beside.is_file():
        export.write_voice_config(beside, config_path, voice_name, quality)
    else:
        config = default_voice_config(hparams, espeak_voice or voice.get("espeak_voice") or "en-us")
        with tempfile.TemporaryDirectory() as folder:
            generated = Path(folder) / VOICE_CONFIG_NAME
            generated.write_text(json.dumps(config), encoding="utf-8")
            export.write_voice_config(generated, config_path, voice_name, quality)
    text = sample_text or settings.get("sample_text") or SAMPLE_TEXT
    text = " ".join(text) if isinstance(text, list) else text  # a run may keep several sample sentences
    info = export.speak(onnx_path, text, output / "sample.wav")
    return ExportedVoice(onnx=onnx_path, config=config_path, sample=info.path, sample_seconds=info.seconds,
                         sample_rms=info.rms, step=int(step) // 2 if step is not None else None,
                         voice_name=voice_name, quality=quality)
