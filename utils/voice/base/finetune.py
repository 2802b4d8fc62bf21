"""Which base a fine-tune starts from, and what that base fixes: one step of the train flow's plan.

Three ways to name a base, one at a time: ``--base NAME`` (a pinned entry of
data/base_checkpoints.toml), ``--base-url URL --base-sha256 HEX`` (any file, pinned by the user),
``--finetune PATH`` (a local checkpoint: a published one or one coaxial-train wrote, or a published
voice's ``.onnx``, read back by ``utils.voice.base.onnx_voice``). Downloads are
checked and cached by ``utils.voice.base.download``; the checkpoint is read through the allowlist of
``utils.voice.base.published_checkpoint``. The base then fixes the network (architecture, widths,
kernel sizes) and the sample rate, and its quality label becomes the voice's. A multi-speaker base
needs ``--base-speaker N``: speaker N is folded into a single-speaker network
(``utils.voice.base.base_speaker``), and the others are not carried over.

Only weights carry over. The run is a new one: fresh AdamW states, step and epoch counters from
zero, so ``--max-steps`` / ``--max-epochs`` say how much to train *in this run*, on top of what
the base had done (the summary states both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.errors import BadInput, TrainingFailed
from utils.voice.base.onnx_voice import is_onnx_voice
from utils.voice.console import say
from utils.voice.options import BaseRequest

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class BaseChoice:
    """The base a fine-tune starts from, resolved and read."""

    source: str                      # what the user named: catalog name, URL or path
    path: Path                       # the local, checked file
    description: str
    quality: str                     # published label the voice inherits
    architecture: str
    sample_rate: int
    arch: dict[str, Any]             # VitsModel arguments the fine-tune must use
    finetune: dict[str, Any]         # {"state_dict": ...} for fit.trainer.run_training
    epochs_done: int | None
    batches_done: int
    speaker: int | None = None
    base_speakers: int = 1
    # A base made from a published voice's ONNX: where it came from, and the voice's .onnx.json
    # (its phoneme map and espeak voice are what the restored weights know).
    onnx_source: dict | None = None
    voice_config: dict | None = None

    @property
    def espeak_voice(self) -> str | None:
        from utils.voice.base.published_checkpoint import espeak_voice_of

        return espeak_voice_of(self.voice_config)

    def summary(self) -> dict[str, Any]:
        """What summary.json records about the base (weights excluded)."""
        return {"base": self.source, "base_file": str(self.path), "base_quality": self.quality,
                "base_architecture": self.architecture, "base_sample_rate": self.sample_rate,
                "base_epochs": self.epochs_done, "base_batches": self.batches_done,
                "base_speaker": self.speaker, "base_speakers": self.base_speakers,
                "base_onnx": self.onnx_source}


def _check_request(request: BaseRequest, resume: bool) -> None:
    given = request.given()
    if len(given) > 1:
        raise BadInput(f"{' and '.join(given)} each name a base: give one")
    if request.base_url and not request.base_sha256:
        raise BadInput("--base-url needs --base-sha256 HEX (the file's sha256): a download is only used "
                       "once it is known to be that file")
    if request.base_sha256 and not request.base_url:
        raise BadInput("--base-sha256 goes with --base-url; for a catalog base the catalog pins the hash")
    if request.base_sha256 and not SHA256_HEX.match(request.base_sha256):
        raise BadInput(f"--base-sha256 {request.base_sha256!r}: expected 64 hex digits (sha256sum prints them)")
    if request.base_speaker is not None and not given:
        raise BadInput("--base-speaker N chooses a speaker of a multi-speaker base: add --base, --base-url or "
                       "--finetune")
    if given and resume:
        raise BadInput(f"--resume and {given[0]} exclude each other: --resume continues the run in --output, "
                       f"{given[0]} starts a new one from a base")


def _local_file(request: BaseRequest, cache_root: Path, progress: bool) -> tuple[str, Path]:
    from utils.voice.base.download import DownloadError, fetch_base

    if request.finetune:
        return str(request.finetune), Path(request.finetune)
    try:
        if request.base:
            from utils.voice.base.base_catalog import CatalogError, find_base

            try:
                entry = find_base(request.base)
            except CatalogError as exc:
                raise BadInput(str(exc)) from exc
            return request.base, fetch_base(entry.url, entry.sha256, entry.size, cache_root, progress).path
        return request.base_url, fetch_base(request.base_url, request.base_sha256, None, cache_root, progress).path
    except DownloadError as exc:
        raise TrainingFailed(str(exc)) from exc


def choose_base(request: BaseRequest, cache_root: Path, resume: bool = False,
                progress: bool = True) -> BaseChoice | None:
    """The base named on the command line, downloaded if needed and read; None for a run from scratch."""
    _check_request(request, resume)
    if not (request.base or request.base_url or request.finetune):
        return None
    from utils.voice.base.checkpoints import CheckpointError
    from utils.voice.base.published_checkpoint import read_base_checkpoint

    source, path = _local_file(request, cache_root, progress)
    try:
        base = _read_voice_base(path, progress) if is_onnx_voice(path) else read_base_checkpoint(path)
        state_dict, arch, speaker = _speaker_choice(base, request.base_speaker)
    except CheckpointError as exc:
        raise BadInput(str(exc)) from exc
    arch = {k: v for k, v in arch.items() if k != "num_speakers"}  # the dataset decides the speakers
    return BaseChoice(source=source, path=path, description=base.describe(), quality=base.quality,
                      architecture=base.architecture, sample_rate=base.sample_rate, arch=arch,
                      finetune={"state_dict": state_dict}, epochs_done=base.epoch,
                      batches_done=base.batches_done, speaker=speaker, base_speakers=base.num_speakers,
                      onnx_source=base.onnx_source, voice_config=base.voice_config)


def _read_voice_base(path: Path, progress: bool):
    """A published voice's ONNX as a base, converted in memory (tasks.voice_to_checkpoint writes it)."""
    from utils.voice.base.onnx_voice import as_base_checkpoint, read_voice

    voice, model = read_voice(path, progress=say if progress else None)
    return as_base_checkpoint(voice, model)


def check_voice_fits_data(base: BaseChoice, report, espeak_voice: str | None) -> None:
    """A voice's weights know its own phoneme ids and its sample rate: the data must agree (exit 2)."""
    if base.voice_config is None:
        return
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    config = base.voice_config
    if str(config.get("phoneme_type", "espeak")) != "espeak":
        raise BadInput(f"{base.path}: its phonemes are {config.get('phoneme_type')!r}, piper.train phonemizes "
                       "with espeak-ng — fine-tune from an espeak voice (nearly every published Piper voice)")
    clash = sorted(p for p, ids in config["phoneme_id_map"].items()
                   if p in DEFAULT_PHONEME_ID_MAP and list(ids) != list(DEFAULT_PHONEME_ID_MAP[p]))
    if clash:
        raise BadInput(f"{base.path}: its phoneme map gives {len(clash)} phoneme(s) other ids than piper.train "
                       f"uses (first {clash[0]!r}: {config['phoneme_id_map'][clash[0]]} vs "
                       f"{DEFAULT_PHONEME_ID_MAP[clash[0]]}) — the restored text encoder would read the wrong "
                       "symbols; fine-tune from a voice made with piper's phoneme map")
    low = [clip for clip in report.clips if clip.sample_rate < base.sample_rate]
    if low:
        first = low[0]
        raise BadInput(f"{first.audio_path}: {first.sample_rate} Hz ({len(low)} of {len(report.clips)} clips below "
                       f"the voice's {base.sample_rate} Hz) — upsampled, they would teach the voice to sound "
                       f"muffled; record at {base.sample_rate} Hz or more, or start from a 16000 Hz voice "
                       "(quality low or x_low)")
    voice_espeak = base.espeak_voice
    if espeak_voice and voice_espeak and espeak_voice.lower() != voice_espeak.lower():
        say(f"note: --espeak-voice {espeak_voice} differs from the voice's {voice_espeak}: its text encoder "
            "learned the phonemes of that language")


def _speaker_choice(base, speaker: int | None) -> tuple[dict, dict, int | None]:
    from utils.voice.base.base_speaker import single_speaker_kwargs, single_speaker_state_dict

    if base.num_speakers == 1:
        if speaker is not None:
            raise BadInput(f"--base-speaker {speaker}: {base.path.name} has one speaker; drop --base-speaker")
        return base.state_dict, base.model_kwargs, None
    if speaker is None:
        raise BadInput(f"{base.path.name} has {base.num_speakers} speakers: fine-tuning it as it is would retrain "
                       f"all of them on your recordings and export a {base.num_speakers}-speaker voice. Choose "
                       f"the speaker to start from with --base-speaker N (0 to {base.num_speakers - 1}); the new "
                       "voice is then a single-speaker voice and the other speakers are not carried over")
    return (single_speaker_state_dict(base.state_dict, speaker), single_speaker_kwargs(base.model_kwargs),
            speaker)


def announce_base(base: BaseChoice, asked_quality: str | None) -> None:
    """Say what a fine-tune keeps from its base; the voice takes the base's quality label and file."""
    if asked_quality and asked_quality != base.quality:
        say(f"note: --quality {asked_quality} ignored: a fine-tune keeps its base's network")
    speaker = (f", speaker {base.speaker} of {base.base_speakers} as a single-speaker voice"
               if base.speaker is not None else "")
    say(f"fine-tune from {base.source}: {base.description}{speaker}; keeps its {base.architecture} network "
        f"and {base.sample_rate} Hz sample rate (quality label {base.quality}); optimizer state not carried "
        "over, --max-steps/--max-epochs count this run")
    if base.onnx_source is not None:
        fresh = "; ".join(f"{label} {count / 1e6:.2f} M" for label, count in base.onnx_source["fresh"].items())
        say(f"  restored from the voice's graph: {base.onnx_source['restored']} tensors "
            f"({base.onnx_source['restored_numbers'] / 1e6:.2f} M numbers); fresh: {fresh}; both discriminators")
