"""Put a trained voice where wyoming-piper (and so Home Assistant) finds it.

wyoming-piper lists each ``*.onnx`` in its ``--data-dir`` folders that has a ``<stem>.onnx.json``
beside it, under the stem, with the language from ``language.code``. So the pair is checked first
(nothing is copied if the json would make the voice invisible or mislabelled), then copied json
first and ``.onnx`` last, each atomically: a server scanning the folder meanwhile either sees no
new voice or a complete one, never an ``.onnx`` without its config.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_path
from utils.voice.publish.voice_naming import parse_published_name

HOME_ASSISTANT_DIR = "/share/piper"  # the Piper add-on runs with --data-dir /data --data-dir /share/piper


class InstallError(ValueError):
    """The voice cannot be installed as it is; the message names the file and the fix (exit 2)."""


@dataclass
class InstalledVoice:
    name: str
    language: str
    quality: str | None
    onnx: Path
    config: Path
    replaced: bool
    published_style: bool


def find_voice_pair(source: Path) -> tuple[Path, Path]:
    """(model, config) from a training output folder (one ``*.onnx`` in it) or an ``.onnx`` path."""
    source = Path(source)
    if source.is_dir():
        models = sorted(source.glob("*.onnx"))
        if len(models) != 1:
            found = ", ".join(m.name for m in models) or "none"
            raise InstallError(f"{source}: expected one exported voice (*.onnx), found {found} — give the .onnx "
                               "file itself")
        source = models[0]
    if source.suffix != ".onnx" or not source.is_file():
        raise InstallError(f"{source}: not an exported voice — give a training output folder or its .onnx file")
    config = source.with_name(source.name + ".json")
    if not config.is_file():
        raise InstallError(f"{config}: missing — wyoming-piper skips a voice without its .onnx.json; export it "
                           "again with python -m tasks.train --output ... --resume")
    return source, config


def check_voice_config(model: Path, config_path: Path) -> dict:
    """The voice's config, if wyoming-piper would list it under its file name and a language."""
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InstallError(f"{config_path}: unreadable ({exc}) — export the voice again") from exc
    problems = []
    if config.get("dataset") != model.stem:
        problems.append(f"dataset is {config.get('dataset')!r}, not the file stem {model.stem!r}")
    if not (config.get("language") or {}).get("code"):
        problems.append("language.code is missing")
    if not (config.get("audio") or {}).get("sample_rate"):
        problems.append("audio.sample_rate is missing")
    if config.get("phoneme_type", "espeak") == "espeak" and not (config.get("espeak") or {}).get("voice"):
        problems.append("espeak.voice is missing")
    if problems:
        raise InstallError(f"{config_path}: {'; '.join(problems)} — export the voice again with this version of "
                           "coaxial-train")
    return config


def install_voice(source: Path, data_dir: Path) -> InstalledVoice:
    """Copy the voice pair into ``data_dir`` (created if needed), config first, model last."""
    model, config_path = find_voice_pair(source)
    config = check_voice_config(model, config_path)
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise InstallError(f"--to {data_dir}: exists and is not a folder")
    target_model, target_config = data_dir / model.name, data_dir / config_path.name
    if target_model.resolve() == model.resolve():
        raise InstallError(f"--to {data_dir}: that is where the voice already is; choose the wyoming-piper data folder")
    replaced = target_model.exists()
    for src, dst in ((config_path, target_config), (model, target_model)):
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    return InstalledVoice(name=model.stem, language=config["language"]["code"],
                          quality=(config.get("audio") or {}).get("quality"), onnx=target_model,
                          config=target_config, replaced=replaced,
                          published_style=parse_published_name(model.stem) is not None)


def reload_instructions(voice: InstalledVoice, data_dir: Path) -> str:
    """What to do next so the voice shows up, for Home Assistant and for a standalone server."""
    lines = [f"{'replaced' if voice.replaced else 'installed'} voice {voice.name} ({voice.language}"
             f"{', ' + voice.quality if voice.quality else ''}) in {data_dir}"]
    if not voice.published_style:
        lines.append(f"note: {voice.name} is not named like published voices (<lang>_<REGION>-<name>-<quality>, "
                     "e.g. en_US-anna-medium); it still works, but Home Assistant lists it by this name")
    lines += [
        "Home Assistant (Piper add-on): the add-on reads voices from /share/piper — copy them there",
        f"  (pixi run install-voice OUTPUT_DIR --to {HOME_ASSISTANT_DIR} on the HA machine, or through the Samba",
        "  or SSH add-on), then restart the Piper add-on and reload the Wyoming Protocol integration",
        "  (Settings > Devices & services > Wyoming Protocol > Piper > Reload). The voice then appears",
        f"  under {voice.language} in the Piper entity's voice list and in Assist's text-to-speech settings.",
        f"Standalone wyoming-piper: restart it with --data-dir {data_dir}; select the voice with --voice {voice.name}.",
    ]
    return "\n".join(lines)
