"""Checking a dataset's audio: find each entry's file, decode every frame, warn about odd clips.

``check_audio`` turns metadata entries into ``Clip`` objects on the report (or problems);
``warn_unlisted_audio`` points at recordings no metadata line mentions. Nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.voice.data.dataset_metadata import Entry
from utils.voice.data.dataset_report import (
    LONG_CLIP_S,
    LOW_SAMPLE_RATE,
    PIPER_CSV,
    SHORT_CLIP_S,
    Clip,
    DatasetReport,
    Problem,
)


def check_audio(entries: list[Entry], report: DatasetReport, progress: bool) -> None:
    """Add a clip to the report for every entry whose audio decodes, a problem for every other."""
    todo = _locate_audio(entries, report)
    bar = _progress(todo, progress, "Checking audio")
    for entry, audio in bar:
        clip_or_problem = _inspect_audio(entry, audio, report.metadata_path)
        if isinstance(clip_or_problem, _TruncatedClip):
            report.warnings.append(clip_or_problem.warning)
            clip_or_problem = clip_or_problem.clip
        if isinstance(clip_or_problem, Problem):
            report.problems.append(clip_or_problem)
            continue
        report.clips.append(clip_or_problem)
        report.warnings.extend(_clip_warnings(clip_or_problem, audio))


def _locate_audio(entries: list[Entry], report: DatasetReport) -> list[tuple[Entry, Path]]:
    """(entry, its audio file) for each entry worth decoding: not a repeat, has text, file found."""
    metadata = report.metadata_path
    assert metadata is not None
    root_real = report.path.resolve()
    first_seen: dict[str, Entry] = {}
    todo: list[tuple[Entry, Path]] = []
    for entry in entries:
        earlier = first_seen.get(entry.id)
        if earlier is not None:
            if entry.allow_duplicate_of_same_text and earlier.text == entry.text:
                report.warnings.append(Problem(
                    metadata, entry.line, f"repeats {entry.reference!r} from line {earlier.line}; used once",
                    "delete the repeated line", "duplicate-id"))
            else:
                report.problems.append(Problem(
                    metadata, entry.line, f"duplicate id {entry.id!r} (first on line {earlier.line})",
                    "give every clip its own id, or delete one of the lines", "duplicate-id"))
            continue
        first_seen[entry.id] = entry
        if not entry.text:
            report.problems.append(Problem(metadata, entry.line, f"empty text for {entry.id!r}",
                                           "write the words spoken in the clip, or delete the line",
                                           "empty-text"))
            continue
        found = _audio_file_for(entry, report, metadata, root_real)
        if found is not None:
            todo.append((entry, found.absolute()))
    return todo


def _audio_file_for(entry: Entry, report: DatasetReport, metadata: Path, root_real: Path) -> Path | None:
    """The entry's audio file, or None after recording why there is none to use."""
    found = next((c for c in entry.candidates if c.is_file() or c.is_symlink()), None)
    if found is None:
        twin = _case_twin(entry.candidates)
        if twin is not None:
            wanted, there = twin
            report.problems.append(Problem(
                metadata, entry.line, f"audio for {entry.reference!r} not found; found "
                f"{_rel(there, report.path)} with different case",
                f"rename it to {wanted.name} or fix the metadata", "missing-audio"))
            return None
        tried = ", ".join(_rel(c, report.path) for c in entry.candidates)
        report.problems.append(Problem(
            metadata, entry.line, f"audio for {entry.reference!r} not found (looked for {tried})",
            "add the file, fix the name, or delete the line", "missing-audio"))
        return None
    if not _inside(found, root_real):
        report.problems.append(Problem(
            found, None, f"leads outside the dataset folder (to {found.resolve()}), listed on "
            f"{metadata.name} line {entry.line}",
            "copy the audio into the dataset folder instead of linking to it", "path-escape"))
        return None
    if not found.exists():
        report.problems.append(Problem(found, None, f"broken symlink (listed on line {entry.line})",
                                       "replace it with the audio file", "missing-audio"))
        return None
    return found


def _clip_warnings(clip: Clip, audio: Path) -> list[Problem]:
    """Warnings about a usable clip: too short, too long, or recorded at a low rate."""
    warnings = []
    if clip.duration_s < SHORT_CLIP_S:
        warnings.append(Problem(audio, None, f"very short clip ({clip.duration_s:.2f} s)",
                                "check it is not cut off; clips of 1-15 s train best", "short-clip"))
    elif clip.duration_s > LONG_CLIP_S:
        warnings.append(Problem(audio, None, f"very long clip ({clip.duration_s:.1f} s)",
                                "split it into sentences; long clips use much more memory", "long-clip"))
    if clip.sample_rate < LOW_SAMPLE_RATE:
        warnings.append(Problem(audio, None, f"low sample rate ({clip.sample_rate} Hz)",
                                "record at 22050 Hz or more for a clear voice", "low-rate"))
    return warnings


def _inside(path: Path, root_real: Path) -> bool:
    try:
        path.resolve().relative_to(root_real)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _case_twin(candidates: list[Path]) -> tuple[Path, Path] | None:
    """(the name looked for, a file whose name differs from it only in case), if there is one.

    On case-sensitive file systems (Linux) ``0001.wav`` does not find ``0001.WAV``."""
    for wanted in candidates:
        try:
            names = os.listdir(wanted.parent)
        except OSError:
            continue
        for name in names:
            if name != wanted.name and name.lower() == wanted.name.lower():
                return wanted, wanted.parent / name
    return None


def _inspect_audio(entry: Entry, audio: Path, metadata: Path) -> Clip | Problem | _TruncatedClip:
    where = f" (listed on {metadata.name} line {entry.line})"
    try:
        size = audio.stat().st_size
    except OSError as exc:
        return Problem(audio, None, f"cannot read audio: {exc.strerror}{where}", "check permissions",
                       "unreadable-audio")
    if size == 0:
        return Problem(audio, None, f"audio file is empty (0 bytes){where}",
                       "record or export the clip again, or delete its line", "empty-audio")
    try:
        with sf.SoundFile(str(audio)) as snd:
            rate, channels, frames = snd.samplerate, snd.channels, snd.frames
            if frames <= 0:
                return Problem(audio, None, f"audio has no samples (zero length){where}",
                               "record or export the clip again, or delete its line", "empty-audio")
            # Decoding every frame is what finds damaged data behind a valid header.
            peak = 0.0
            for block in snd.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if block.size:
                    peak = max(peak, float(np.max(np.abs(block))))
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        detail = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        return Problem(audio, None, f"unreadable or corrupt audio ({detail}){where}",
                       "re-export the clip as WAV (PCM), or delete its line", "corrupt-audio")
    if peak == 0.0:
        return Problem(audio, None, f"audio is silent (every sample is zero){where}",
                       "check the microphone input and record the clip again, or delete its line",
                       "silent-audio")
    missing = _riff_shortfall(audio, size)
    if missing:
        # libsndfile plays what is there; the user should still know the copy is incomplete.
        return _TruncatedClip(Problem(
            audio, None, f"WAV is {missing} bytes shorter than its header says (truncated copy?){where}",
            "copy or export the clip again", "truncated-audio"), entry, audio, frames, rate, channels)
    return Clip(id=entry.id, text=entry.text, speaker=entry.speaker, audio_path=audio,
                duration_s=frames / rate, sample_rate=rate, channels=channels, line=entry.line)


class _TruncatedClip:
    def __init__(self, warning: Problem, entry: Entry, audio: Path, frames: int, rate: int, channels: int):
        self.warning = warning
        self.clip = Clip(id=entry.id, text=entry.text, speaker=entry.speaker, audio_path=audio,
                         duration_s=frames / rate, sample_rate=rate, channels=channels, line=entry.line)


def _riff_shortfall(audio: Path, size: int) -> int:
    """Bytes missing from a RIFF WAV's data chunk (0 if complete or not a plain RIFF file)."""
    try:
        with open(audio, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return 0
            offset = 12
            while offset + 8 <= size:
                f.seek(offset)
                chunk = f.read(8)
                chunk_size = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
                        return 0
                    return max(0, offset + 8 + chunk_size - size)
                offset += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return 0
    return 0


def warn_unlisted_audio(root: Path, layout: str, report: DatasetReport) -> None:
    """One warning for .wav files in wavs/ or recordings/ that no metadata line mentions."""
    folder = root / ("wavs" if layout == PIPER_CSV else "recordings")
    if not folder.is_dir():
        return
    listed = {c.audio_path.name for c in report.clips}
    try:
        unlisted = sorted(p.name for p in folder.iterdir()
                          if p.suffix.lower() == ".wav" and p.name not in listed
                          and p.name.lower() not in report.mentioned)
    except OSError:
        return
    if unlisted and report.clips:
        report.warnings.append(Problem(
            folder, None, f"{len(unlisted)} audio file(s) not listed in the metadata (e.g. {unlisted[0]})",
            "add a line for each clip you want trained; unlisted files are ignored", "unlisted-audio"))


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _progress(items: list, enabled: bool, desc: str):
    if not enabled or not items:
        return items
    from utils.voice.console import progress_bar

    return progress_bar(items, desc=desc, unit="clip", leave=False)

