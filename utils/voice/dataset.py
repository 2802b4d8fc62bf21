"""Dataset layouts and validation: what a user's folder holds, and everything wrong with it.

Two layouts are accepted:

``piper-csv``
    Piper/LJSpeech: ``metadata.csv`` with rows ``id|text`` or ``id|speaker|text``; audio
    ``<id>.wav`` in ``wavs/`` or beside the csv (the id may or may not end in ``.wav``). A
    three-column file whose middle column is itself sentences (LJSpeech's ``id|text|normalized``)
    is read as single-speaker, taking the last column, as piper does.
``recorder-profile``
    A Coaxial recorder voice profile: ``metadata.jsonl``, one JSON object per line with
    ``filename``, ``sentence``, ``prompt_list``, ``prompt_index``, ``timestamp``; audio in
    ``recordings/`` (48 kHz mono 32-bit PCM), sometimes ``recordings/preprocessed/``. Only
    ``filename`` and ``sentence`` are needed to train; the other keys are informative.

``validate_dataset`` reads and decodes everything and writes nothing. Every problem names the
file, the metadata line where there is one, and the fix. Problems are errors (training must
not start); warnings are worth reading but do not stop anything.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import soundfile as sf

SAMPLE_DATASET = Path(__file__).resolve().parents[2] / "data" / "sample"

PIPER_CSV = "piper-csv"
RECORDER_PROFILE = "recorder-profile"

CSV_NAME = "metadata.csv"
JSONL_NAME = "metadata.jsonl"
RECORDER_KEYS = ("filename", "sentence", "prompt_list", "prompt_index", "timestamp")
RECORDER_REQUIRED_KEYS = ("filename", "sentence")

SHORT_CLIP_S = 0.5  # below this VITS sees too few frames to learn an alignment
LONG_CLIP_S = 15.0  # above this a clip dominates batch memory; Piper's own datasets stay under it
FEW_CLIPS = 10  # piper holds out 10% + up to 5 test clips; fewer leaves almost nothing to train on
LOW_SAMPLE_RATE = 16000  # upsampling from below this cannot add the missing high frequencies

# Per-kind cap on listed problems so a file with a wrong delimiter on 13,000 lines stays readable.
MAX_LISTED_PER_KIND = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) in a dataset, with where it is and what to do."""

    file: Path
    line: int | None
    message: str
    fix: str
    kind: str = "other"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        return f"{where}: {self.message} — {self.fix}"


@dataclass(frozen=True)
class Clip:
    """One usable utterance: its text and the source audio (never modified)."""

    id: str
    text: str
    speaker: str | None
    audio_path: Path
    duration_s: float
    sample_rate: int
    channels: int
    line: int | None = None


@dataclass
class DatasetReport:
    """Everything ``validate_dataset`` learnt about a folder. ``ok`` means trainable."""

    path: Path
    layout: str | None = None
    metadata_path: Path | None = None
    clips: list[Clip] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Lower-cased file names the metadata mentions, usable or not: a file a line refers to (even
    # wrongly) is not also "not listed in the metadata".
    mentioned: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.clips)

    @property
    def total_seconds(self) -> float:
        return float(sum(c.duration_s for c in self.clips))

    @property
    def speakers(self) -> list[str]:
        """Speaker names in order of first appearance (piper numbers them the same way)."""
        seen: dict[str, None] = {}
        for clip in self.clips:
            if clip.speaker is not None:
                seen.setdefault(clip.speaker, None)
        return list(seen)

    @property
    def num_speakers(self) -> int:
        return max(1, len(self.speakers))

    def format_report(self) -> str:
        lines = [f"Dataset: {self.path}"]
        lines.append(f"  layout:   {self.layout or 'unknown'}")
        if self.metadata_path is not None:
            lines.append(f"  metadata: {self.metadata_path}")
        lines.append(f"  clips:    {len(self.clips)}")
        lines.append(f"  duration: {_format_duration(self.total_seconds)}")
        if self.speakers:
            lines.append(f"  speakers: {len(self.speakers)} ({', '.join(self.speakers[:8])}"
                         f"{', ...' if len(self.speakers) > 8 else ''})")
        if self.clips:
            rates = sorted({c.sample_rate for c in self.clips})
            chans = sorted({c.channels for c in self.clips})
            lines.append(f"  audio:    {', '.join(f'{r} Hz' for r in rates)}; "
                         f"{', '.join(f'{c} ch' for c in chans)} (converted to 22050 Hz mono 16-bit)")
        for title, items in (("Problems", self.problems), ("Warnings", self.warnings)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {p}" for p in _capped(items))
        if self.ok:
            lines.append("OK: dataset is ready to train.")
        else:
            count = len(self.problems) or 1
            lines.append(f"NOT OK: {count} problem(s); fix them and run again.")
        return "\n".join(lines)


def _capped(items: list[Problem]) -> list[str]:
    out: list[str] = []
    per_kind: dict[str, int] = {}
    for item in items:
        per_kind[item.kind] = per_kind.get(item.kind, 0) + 1
        if per_kind[item.kind] <= MAX_LISTED_PER_KIND:
            out.append(str(item))
    for kind, count in per_kind.items():
        if count > MAX_LISTED_PER_KIND:
            out.append(f"... and {count - MAX_LISTED_PER_KIND} more like '{kind}'")
    return out


def _format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"


# ---------------------------------------------------------------------------------------------
# Entry point


def validate_dataset(path: str | os.PathLike[str], progress: bool = False) -> DatasetReport:
    """Inspect a dataset folder (or its metadata file) and return a report. Writes nothing.

    Never raises for problems in the data: they are collected in ``report.problems``.
    ``progress=True`` shows a bar on stderr while audio is decoded.
    """
    given = Path(path).expanduser()
    report = DatasetReport(path=given.absolute())
    if not given.exists():
        report.problems.append(Problem(
            report.path, None, "dataset folder not found",
            "check the path; pass the folder that holds metadata.csv (Piper) or metadata.jsonl "
            "(Coaxial recorder profile)", "missing-folder"))
        return report

    if given.is_file():
        root, metadata = given.parent.absolute(), given.absolute()
        if metadata.suffix.lower() == ".jsonl":
            layout = RECORDER_PROFILE
        elif metadata.suffix.lower() in (".csv", ".txt"):
            layout = PIPER_CSV
        else:
            report.problems.append(Problem(
                report.path, None, "not a dataset folder or metadata file",
                "pass the folder that holds metadata.csv or metadata.jsonl", "no-metadata"))
            return report
    else:
        root = given.absolute()
        csv_path, jsonl_path = root / CSV_NAME, root / JSONL_NAME
        if csv_path.is_file():
            layout, metadata = PIPER_CSV, csv_path
            if jsonl_path.is_file():
                report.warnings.append(Problem(
                    jsonl_path, None, f"both {CSV_NAME} and {JSONL_NAME} exist; using {CSV_NAME}",
                    f"remove or rename {CSV_NAME} to train from the recorder's {JSONL_NAME}",
                    "two-metadata"))
        elif jsonl_path.is_file():
            layout, metadata = RECORDER_PROFILE, jsonl_path
        else:
            report.problems.append(_no_metadata_problem(root))
            return report

    report.path = root
    report.layout = layout
    report.metadata_path = metadata
    if layout == PIPER_CSV:
        entries = _read_piper_csv(root, metadata, report)
    else:
        entries = _read_recorder_jsonl(root, metadata, report)
    _check_audio(entries, report, progress)
    if not report.clips and not report.problems:
        report.problems.append(Problem(
            metadata, None, "no clips listed", f"add at least one line to {metadata.name}", "no-clips"))
    elif report.ok and len(report.clips) < FEW_CLIPS:
        report.warnings.append(Problem(
            metadata, None, f"only {len(report.clips)} clips; piper holds some out for validation",
            f"record at least {FEW_CLIPS} (hundreds for a usable voice)", "few-clips"))
    _warn_unlisted_audio(root, layout, report)
    return report


def _no_metadata_problem(root: Path) -> Problem:
    hint = ""
    try:
        near = sorted(p.name for p in root.iterdir()
                      if p.is_file() and p.suffix.lower() in (".csv", ".txt", ".tsv", ".jsonl", ".json"))
        nested = sorted(p.name for p in root.iterdir()
                        if p.is_dir() and ((p / CSV_NAME).is_file() or (p / JSONL_NAME).is_file()))
    except OSError:
        near, nested = [], []
    if nested:
        hint = f"; the subfolder {nested[0]!r} has one: pass {root / nested[0]} instead"
    elif near:
        hint = (f"; found {', '.join(near[:3])}: rename it to {CSV_NAME} (rows id|text) "
                "if it is the transcript")
    return Problem(root, None, f"no {CSV_NAME} or {JSONL_NAME} in the dataset folder",
                   f"add {CSV_NAME} (rows id|text, audio in wavs/) or pass a recorder profile folder "
                   f"with {JSONL_NAME}{hint}", "no-metadata")


# ---------------------------------------------------------------------------------------------
# Metadata readers: each yields entries (line, id, text, speaker, audio candidates).


@dataclass
class _Entry:
    line: int
    id: str
    text: str
    speaker: str | None
    reference: str  # the path as written in the metadata
    candidates: list[Path]
    allow_duplicate_of_same_text: bool = False


def _decoded_lines(metadata: Path, report: DatasetReport) -> list[tuple[int, str]]:
    """Lines of a metadata file as text; each line that is not UTF-8 becomes a problem."""
    try:
        data = metadata.read_bytes()
    except OSError as exc:
        report.problems.append(Problem(metadata, None, f"cannot read metadata: {exc.strerror}",
                                       "check the file's permissions", "unreadable-metadata"))
        return []
    if data.startswith(b"\xef\xbb\xbf"):  # a BOM from Windows editors is harmless
        data = data[3:]
    out = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        try:
            out.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            report.problems.append(Problem(
                metadata, number,
                f"text is not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                "save the file as UTF-8 (most editors: 'Save with encoding' → UTF-8)", "not-utf8"))
    return out


def _unsafe_reference(ref: str) -> str | None:
    """Why a path written in metadata may not be used, or None if it stays inside the folder."""
    if PurePosixPath(ref).is_absolute() or PureWindowsPath(ref).is_absolute() or ref.startswith("\\"):
        return "absolute path"
    if ".." in re.split(r"[\\/]", ref):
        return "path leaves the dataset folder ('..')"
    return None


def _basename(ref: str) -> str:
    return PureWindowsPath(ref).name if "\\" in ref else PurePosixPath(ref).name


def _relative_fix(ref: str, root: Path, default: str) -> str:
    """For an absolute path that points into the dataset folder: the relative name to write."""
    try:
        inside = Path(ref).relative_to(root) if Path(ref).is_absolute() else None
    except ValueError:
        inside = None
    if inside is None or ".." in inside.parts:
        return default
    rel = inside.as_posix()
    if rel.startswith("recordings/"):
        rel = rel[len("recordings/"):]
    elif rel.startswith("wavs/"):
        rel = rel[len("wavs/"):].removesuffix(".wav")
    return f"write it relative to the dataset folder: {rel!r}"


def _read_piper_csv(root: Path, metadata: Path, report: DatasetReport) -> list[_Entry]:
    lines = [(n, s) for n, s in _decoded_lines(metadata, report) if s.strip()]
    if not lines:
        return []
    base = metadata.parent
    rows = [(n, s.split("|")) for n, s in lines]
    if not any(len(cols) > 1 for _, cols in rows):
        sample = lines[0][1]
        found = "tabs" if "\t" in sample else "commas" if "," in sample else "semicolons" if ";" in sample \
            else None
        message = f"no '|' separator on any line (found {found})" if found else "no '|' separator on any line"
        report.problems.append(Problem(
            metadata, lines[0][0], f"wrong delimiter: {message}",
            "separate columns with '|': id|text (or id|speaker|text)", "wrong-delimiter"))
        return []

    widths = [len(cols) for _, cols in rows]
    usual = max(set(widths), key=lambda w: (widths.count(w), -w))
    three_cols = [cols for _, cols in rows if len(cols) == 3]
    # LJSpeech writes id|text|normalized text; real speaker names are few and short.
    ljspeech = usual == 3 and len({c[1] for c in three_cols}) > max(1, len(three_cols) // 2) and \
        sum(" " in c[1].strip() for c in three_cols) > len(three_cols) // 2
    if ljspeech:
        report.warnings.append(Problem(
            metadata, None, "3 columns read as LJSpeech's id|text|normalized text (single speaker)",
            "for several speakers use short speaker names in the middle column", "ljspeech"))

    entries = []
    for number, cols in rows:
        if len(cols) == 1:
            found = " (found a tab)" if "\t" in cols[0] else " (found a comma)" if "," in cols[0] else ""
            report.problems.append(Problem(
                metadata, number, f"wrong delimiter: no '|' separator{found}",
                "write the line as id|text", "wrong-delimiter"))
            continue
        if len(cols) > 3 or (len(cols) == 3 and usual == 2):
            report.problems.append(Problem(
                metadata, number, f"{len(cols)} '|'-separated columns, expected {usual}",
                "use id|text or id|speaker|text; the text itself must not contain '|'", "column-count"))
            continue
        if len(cols) == 2 and usual == 3 and not ljspeech:
            report.problems.append(Problem(
                metadata, number, "2 columns in a multi-speaker file (id|speaker|text)",
                "add the speaker name: id|speaker|text", "column-count"))
            continue
        utt_id = cols[0].strip()
        text = cols[-1].strip()
        speaker = cols[1].strip() if len(cols) == 3 and not ljspeech else None
        if not utt_id:
            report.problems.append(Problem(metadata, number, "empty id",
                                           "put the clip's file name before '|'",
                                           "empty-id"))
            continue
        if speaker == "":
            report.problems.append(Problem(metadata, number, "empty speaker name",
                                           "write id|speaker|text with a speaker name", "empty-speaker"))
            continue
        report.mentioned.add(_basename(utt_id).lower())
        report.mentioned.add(_basename(utt_id).lower() + ".wav")
        unsafe = _unsafe_reference(utt_id)
        if unsafe:
            report.problems.append(Problem(
                metadata, number, f"{unsafe}: {utt_id!r}",
                _relative_fix(utt_id, root, "name the clip by its file name relative to wavs/ (e.g. clip_001)"),
                "path-escape"))
            continue
        names = [utt_id] if utt_id.lower().endswith(".wav") else [utt_id, utt_id + ".wav"]
        candidates = [folder / name for folder in (base / "wavs", base) for name in names]
        entries.append(_Entry(number, utt_id, text, speaker, utt_id, candidates))
    return entries


def _read_recorder_jsonl(root: Path, metadata: Path, report: DatasetReport) -> list[_Entry]:
    entries = []
    recordings = root / "recordings"
    for number, line in _decoded_lines(metadata, report):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report.problems.append(Problem(
                metadata, number, f"broken JSON: {exc.msg} (column {exc.colno})",
                "repair the line (one complete JSON object per line) or delete it", "broken-json"))
            continue
        if not isinstance(obj, dict):
            report.problems.append(Problem(metadata, number,
                                           f"expected a JSON object, got {type(obj).__name__}",
                                           "write one {...} object per line", "broken-json"))
            continue
        missing = [k for k in RECORDER_REQUIRED_KEYS if k not in obj]
        if missing:
            report.problems.append(Problem(
                metadata, number, f"missing required key(s): {', '.join(missing)}",
                f"each line needs {', '.join(repr(k) for k in RECORDER_REQUIRED_KEYS)}; re-export the "
                "profile from the recorder or add the key", "missing-key"))
            continue
        filename, sentence = obj["filename"], obj["sentence"]
        if not isinstance(filename, str) or not filename.strip():
            report.problems.append(Problem(metadata, number, "'filename' is empty or not a string",
                                           "set 'filename' to the recording's file name", "missing-key"))
            continue
        if not isinstance(sentence, str):
            report.problems.append(Problem(metadata, number, "'sentence' is not a string",
                                           "set 'sentence' to the text that was read", "missing-key"))
            continue
        filename = filename.strip()
        report.mentioned.add(_basename(filename).lower())
        unsafe = _unsafe_reference(filename)
        if unsafe:
            report.problems.append(Problem(
                metadata, number, f"{unsafe}: {filename!r}",
                _relative_fix(filename, root, "use the file name inside recordings/ (e.g. 0001.wav)"),
                "path-escape"))
            continue
        name = PurePosixPath(filename.replace("\\", "/"))
        # The original recording first: it is lossless and piper trims silence itself.
        candidates = [recordings / name, recordings / "preprocessed" / name, root / name]
        if name.parts and name.parts[0] == "recordings":
            candidates.insert(0, root / name)
        entries.append(_Entry(number, name.stem, " ".join(sentence.split()), None, filename, candidates,
                              allow_duplicate_of_same_text=True))
    return entries


# ---------------------------------------------------------------------------------------------
# Audio


def _inside(path: Path, root_real: Path) -> bool:
    try:
        path.resolve().relative_to(root_real)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _check_audio(entries: list[_Entry], report: DatasetReport, progress: bool) -> None:
    metadata = report.metadata_path
    assert metadata is not None
    root_real = report.path.resolve()
    first_seen: dict[str, _Entry] = {}
    todo: list[tuple[_Entry, Path]] = []
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
        found = next((c for c in entry.candidates if c.is_file() or c.is_symlink()), None)
        if found is None:
            twin = _case_twin(entry.candidates)
            if twin is not None:
                wanted, there = twin
                report.problems.append(Problem(
                    metadata, entry.line, f"audio for {entry.reference!r} not found; found "
                    f"{_rel(there, report.path)} with different case",
                    f"rename it to {wanted.name} or fix the metadata", "missing-audio"))
                continue
            tried = ", ".join(_rel(c, report.path) for c in entry.candidates)
            report.problems.append(Problem(
                metadata, entry.line, f"audio for {entry.reference!r} not found (looked for {tried})",
                "add the file, fix the name, or delete the line", "missing-audio"))
            continue
        if not _inside(found, root_real):
            report.problems.append(Problem(
                found, None, f"leads outside the dataset folder (to {found.resolve()}), listed on "
                f"{metadata.name} line {entry.line}",
                "copy the audio into the dataset folder instead of linking to it", "path-escape"))
            continue
        if not found.exists():
            report.problems.append(Problem(found, None, f"broken symlink (listed on line {entry.line})",
                                           "replace it with the audio file", "missing-audio"))
            continue
        todo.append((entry, found.absolute()))

    bar = _progress(todo, progress, "Checking audio")
    for entry, audio in bar:
        clip_or_problem = _inspect_audio(entry, audio, metadata)
        if isinstance(clip_or_problem, _TruncatedClip):
            report.warnings.append(clip_or_problem.warning)
            clip_or_problem = clip_or_problem.clip
        if isinstance(clip_or_problem, Problem):
            report.problems.append(clip_or_problem)
            continue
        clip = clip_or_problem
        report.clips.append(clip)
        if clip.duration_s < SHORT_CLIP_S:
            report.warnings.append(Problem(audio, None, f"very short clip ({clip.duration_s:.2f} s)",
                                           "check it is not cut off; clips of 1-15 s train best",
                                           "short-clip"))
        elif clip.duration_s > LONG_CLIP_S:
            report.warnings.append(Problem(audio, None, f"very long clip ({clip.duration_s:.1f} s)",
                                           "split it into sentences; long clips use much more memory",
                                           "long-clip"))
        if clip.sample_rate < LOW_SAMPLE_RATE:
            report.warnings.append(Problem(audio, None, f"low sample rate ({clip.sample_rate} Hz)",
                                           "record at 22050 Hz or more for a clear voice", "low-rate"))


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


def _inspect_audio(entry: _Entry, audio: Path, metadata: Path) -> Clip | Problem | _TruncatedClip:
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
    def __init__(self, warning: Problem, entry: _Entry, audio: Path, frames: int, rate: int, channels: int):
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


def _warn_unlisted_audio(root: Path, layout: str, report: DatasetReport) -> None:
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
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", file=sys.stderr, leave=False)
