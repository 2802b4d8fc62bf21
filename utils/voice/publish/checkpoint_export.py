"""Any checkpoint -> a Piper voice, without training: rebuild the network, then ``utils.voice.publish.export``.

The checkpoint is read by ``utils.voice.base.published_checkpoint.read_base_checkpoint`` (coaxial-train,
piper.train and published ``piper_train`` checkpoints alike; plain data only, never code), the
network rebuilt from its shape-fixing hyper-parameters and its weights loaded strictly, so a file
that does not hold a complete Piper generator is refused instead of exported half-random. The
voice config comes from the run the checkpoint belongs to (``checkpoints/voice_config.json`` and
``train_config.json`` beside it); for a checkpoint on its own it is rebuilt from piper's defaults
and ``--espeak-voice``. Export, config and spoken sample are ``utils.voice.publish.export``'s functions,
and the files are named as ``pixi run train`` names them (``utils.voice.publish.voice_naming``).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from utils.voice.base.checkpoints import CheckpointError

VOICE_CONFIG_NAME = "voice_config.json"
RUN_CONFIG_NAME = "train_config.json"


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


def model_from_checkpoint(base):
    """A VitsModel with the network of ``base`` (a published_checkpoint.BaseCheckpoint), weights loaded
    strictly."""
    from utils.machine import piper_compat

    piper_compat.install_piper_patches()
    from piper.train.vits.lightning import VitsModel

    try:
        model = VitsModel(mos_metric="none", **base.model_kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{base.path}: its hyper-parameters do not build a Piper VITS model ({exc})") from exc
    state = {k: v for k, v in base.state_dict.items() if k.startswith(("model_g.", "model_d."))}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "shapes differ"
        raise CheckpointError(f"{base.path}: the weights do not fit the network its hyper-parameters describe "
                              f"({first}) — is it a Piper VITS checkpoint?") from exc
    return model


def load_model(path: Path):
    """``(VitsModel, BaseCheckpoint)`` for a checkpoint file; CheckpointError names what is wrong."""
    from utils.voice.base.published_checkpoint import read_base_checkpoint

    base = read_base_checkpoint(path)
    model = model_from_checkpoint(base)
    base.state_dict = {}  # the model holds the weights now
    return model, base


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
                      espeak_voice: str | None = None, sample_text: str | None = None) -> ExportedVoice:
    """Write ``<output>/<stem>.onnx``, ``.onnx.json`` and ``sample.wav`` from a checkpoint file."""
    from utils.voice.publish import export
    from utils.voice.publish.voice_naming import language_for_espeak, voice_file_stem
    from utils.voice.run_config import SAMPLE_TEXT

    checkpoint_path = Path(checkpoint_path)
    model, base = load_model(checkpoint_path)
    settings = run_settings(checkpoint_path)
    voice = settings.get("voice", {})
    voice_name = voice_name or voice.get("voice_name") or "voice"
    quality = voice.get("quality") or base.quality
    carried = base.voice_config  # a voice's own .onnx.json, when the checkpoint was made from one
    espeak = espeak_voice or voice.get("espeak_voice") or base.espeak_voice or "en-us"
    language = voice.get("language") or language_for_espeak(espeak)
    stem = voice_file_stem(voice_name, quality, language, settings.get("dataset", {}).get("demo", False))

    output = Path(output)
    onnx_path = export.export_onnx(model, output / f"{stem}.onnx")
    config_path = output / f"{stem}.onnx.json"
    beside = checkpoint_path.parent / VOICE_CONFIG_NAME
    if beside.is_file():
        export.write_voice_config(beside, config_path, stem, quality, language)
    else:
        hparams = {"num_symbols": base.model_kwargs.get("num_symbols", 256), "num_speakers": base.num_speakers,
                   "sample_rate": base.sample_rate}
        config = carried if carried is not None else default_voice_config(hparams, espeak)
        with tempfile.TemporaryDirectory() as folder:
            generated = Path(folder) / VOICE_CONFIG_NAME
            generated.write_text(json.dumps(config), encoding="utf-8")
            export.write_voice_config(generated, config_path, stem, quality, language)
    text = sample_text or settings.get("sample_text") or SAMPLE_TEXT
    info = export.speak(onnx_path, text, output / "sample.wav")
    return ExportedVoice(onnx=onnx_path, config=config_path, sample=info.path, sample_seconds=info.seconds,
                         sample_rms=info.rms, step=base.batches_done if base.global_step is not None else None,
                         voice_name=stem, quality=quality)
