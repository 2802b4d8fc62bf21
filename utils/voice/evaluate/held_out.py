"""Which recordings a voice is compared with: a dataset's clips, or exactly a run's held-out clips.

A training run with validation writes ``held_out.json`` in its output folder at its first
validation: the clips piper's data module put in its validation split (the same random split
of the run's seed), each with its sentence, speaker and source recording. ``--run OUTPUT``
reads that file, so a voice is scored on recordings it never trained on. ``--dataset DIR``
takes clips spread evenly over any dataset ``pixi run train --dataset`` accepts; give it
recordings the voice did not train on for honest figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from utils.errors import BadInput
from utils.files import atomic_write_text

HELD_OUT_NAME = "held_out.json"
DEFAULT_CLIPS = 8


@dataclass
class HeldOutClip:
    id: str
    text: str
    speaker: str | None
    audio: str            # the source recording
    sample_rate: int      # of the source recording
    line: int | None = None


@dataclass
class Recordings:
    clips: list[HeldOutClip]
    source: str                      # "dataset DIR" or "run OUTPUT (its N held-out clips)"
    espeak_voice: str | None = None  # the run's language, when known

    @property
    def sample_rate(self) -> int:
        return min(clip.sample_rate for clip in self.clips)

    @property
    def speakers(self) -> list[str]:
        return sorted({clip.speaker for clip in self.clips if clip.speaker})


def spread(items: list, count: int) -> list:
    """``count`` items evenly spread over ``items`` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    return [items[int(i * len(items) / count)] for i in range(count)]


def from_dataset(path: str | Path, count: int) -> Recordings:
    """``count`` clips of a dataset folder; BadInput names the dataset's first problem, its line and fix."""
    from utils.voice.data.dataset import validate_dataset

    report = validate_dataset(path)
    if report.problems:
        first = report.problems[0]
        where = f"{first.file}:{first.line}" if first.line else f"{first.file}"
        more = f" (and {len(report.problems) - 1} more problem(s): `pixi run train --dataset {path} " \
               "--validate-only` lists them)" if len(report.problems) > 1 else ""
        raise BadInput(f"{where}: {first.message} — {first.fix}{more}")
    clips = [HeldOutClip(id=clip.id, text=clip.text, speaker=clip.speaker, audio=str(clip.audio_path),
                         sample_rate=clip.sample_rate, line=clip.line) for clip in spread(report.clips, count)]
    return Recordings(clips=clips, source=f"dataset {report.path}")


def write_held_out(output: Path, clips: list[HeldOutClip], espeak_voice: str | None) -> Path:
    path = Path(output) / HELD_OUT_NAME
    payload = {"espeak_voice": espeak_voice, "clips": [asdict(clip) for clip in clips]}
    atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    return path


def from_run(output: str | Path, count: int) -> Recordings:
    """Up to ``count`` of the held-out clips the run in ``output`` recorded."""
    path = Path(output) / HELD_OUT_NAME
    if not path.is_file():
        raise BadInput(f"{path}: not found — the run in {output} held no clips out (runs without validation, "
                       "such as the demo, train on every clip, or it has not validated yet); evaluate with "
                       "--dataset DIR on recordings the voice did not train on")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        clips = [HeldOutClip(**clip) for clip in payload["clips"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{path}: unreadable ({type(exc).__name__}: {exc}) — evaluate with --dataset DIR") from exc
    missing = [clip.audio for clip in clips if not Path(clip.audio).is_file()]
    if missing:
        raise BadInput(f"{missing[0]}: a held-out recording of the run in {output} is gone — put the dataset "
                       "back where it was trained from, or evaluate with --dataset DIR")
    if not clips:
        raise BadInput(f"{path}: lists no clips — evaluate with --dataset DIR")
    return Recordings(clips=spread(clips, count), espeak_voice=payload.get("espeak_voice"),
                      source=f"run {output} ({len(clips)} held-out clips)")


def load_recording(clip: HeldOutClip, sample_rate: int) -> np.ndarray:
    """The clip's recording as float64 mono at ``sample_rate`` (never up-sampled: check_match refuses that)."""
    import soundfile as sf

    try:
        data, rate = sf.read(clip.audio, dtype="float64", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise BadInput(f"{clip.audio}: cannot read the recording ({exc}) — check the file") from exc
    mono = data.mean(axis=1)
    if rate != sample_rate:
        import soxr

        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return mono
