"""Command-line values refused before anything is written, each with a message naming the option and
the fix: numbers, voice name, sample text, folders, espeak-ng voice, a checkpoint to resume from.

Each check raises ``BadInput`` (exit code 2) with one line that names the value and the fix.
They are cheap (no training, no data conversion) so the plan step can run all of them first:
numbers and names, the output and cache folders, the espeak-ng voice, and the checkpoint a
``--resume`` would continue from.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import unicodedata
from pathlib import Path

from utils.errors import BadInput
from utils.voice.options import DeviceRequest, ScheduleRequest, VoiceRequest
from utils.voice.run.configure.value_checks import check_segment_size, check_voice_name

SEED_RANGE = (0, 2**32 - 1)  # numpy's, which Lightning's seed_everything seeds


# option -> (smallest allowed value, what it counts); None values are "not given" and pass.
AT_LEAST: dict[str, tuple[int, str]] = {
    "max_steps": (1, "batches to train"),
    "max_epochs": (1, "epochs to train"),
    "batch_size": (1, "clips per batch"),
    "checkpoint_every": (1, "batches between checkpoints"),
    "num_nodes": (1, "machines"),
    "num_workers": (0, "data loader processes"),
}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_numbers(schedule: ScheduleRequest, device: DeviceRequest) -> None:
    """Counts, sizes and the seed: whole numbers in range."""
    given = {**dataclasses.asdict(schedule), **dataclasses.asdict(device)}
    for key, (low, meaning) in AT_LEAST.items():
        value = given[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise BadInput(f"{_flag(key)} {value}: must be a whole number of {meaning}, {low} or more")
    devices = device.devices
    if devices is not None and (not isinstance(devices, int) or devices == 0 or devices < -1):
        raise BadInput(f"--devices {devices}: must be 1 or more devices per machine (or -1 for all of them)")
    check_segment_size(schedule.segment_size)
    seed = schedule.seed
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise BadInput(f"--seed {seed}: must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}")


def check_sample_text(texts: str | list[str] | None) -> None:
    """Each --sample-text (repeatable) is a sentence or a file of sentences: none may be blank."""
    for text in [texts] if isinstance(texts, str) else (texts or []):
        if not text.strip():
            raise BadInput(f"--sample-text {text!r}: give a sentence to speak (or a file of them), or drop "
                           "the option")


def check_folder(path: str | os.PathLike | None, flag: str) -> None:
    """A folder we will create or write into: not a file, no file in its way, writable."""
    if path is None:
        return
    path = Path(path).expanduser()
    if str(path).strip() == "" or any(unicodedata.category(ch) == "Cc" for ch in str(path)):
        raise BadInput(f"{flag} {str(path)!r}: not a usable folder name")
    probe = path.absolute()
    while not probe.exists():
        if probe.is_symlink():
            raise BadInput(f"{flag} {path}: {probe} is a broken link — fix it or choose another folder")
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file" if probe == path.absolute() else f"cannot be created: {probe} is a file"
        raise BadInput(f"{flag} {path} {what} — choose a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput(f"{flag} {path}: no permission to write in {probe} — choose a folder you can write to")


def _espeak_data() -> Path:
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    return Path(ESPEAK_DATA_DIR)


def espeak_voice_names() -> list[str]:
    """Voice names the espeak-ng data bundled with piper knows (file names under lang/)."""
    lang = _espeak_data() / "lang"
    return sorted({p.name.lower() for p in lang.rglob("*") if p.is_file()})


def check_espeak_voice(voice: str | None) -> None:
    """Ask piper's own espeak-ng bridge to select the voice, as phonemization will."""
    if voice is None:
        return
    from piper import espeakbridge

    espeakbridge.initialize(str(_espeak_data()))
    try:
        espeakbridge.set_voice(voice)
        return
    except RuntimeError:
        pass
    names = espeak_voice_names()
    close = difflib.get_close_matches(voice.lower().replace("_", "-"), names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise BadInput(f"--espeak-voice {voice}: espeak-ng has no such voice — {hint}{len(names)} voices are "
                   "available, e.g. en-us, en-gb, de, fr-fr, es (see espeak-ng-data/lang in the piper package)")


def check_command_line(voice: VoiceRequest, schedule: ScheduleRequest, device: DeviceRequest,
                       output: str | None, cache_dir: str | None) -> None:
    """Everything about the options that needs no dataset, checkpoint or training (BadInput)."""
    check_numbers(schedule, device)
    check_voice_name(voice.voice_name)
    check_sample_text(voice.sample_text)
    check_folder(output, "--output")
    check_folder(cache_dir, "--cache-dir")
    check_espeak_voice(voice.espeak_voice)
