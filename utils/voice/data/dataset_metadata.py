"""Reading a dataset's metadata: the Piper csv and the Coaxial recorder's jsonl.

Each reader turns the lines it can use into ``Entry`` objects (line, id, text, speaker, where the
audio may be) and records every line it cannot use as a ``Problem`` on the report. Audio is
not opened here; ``utils.voice.data.dataset_audio`` does that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from utils.voice.data.dataset_report import CSV_NAME, JSONL_NAME, RECORDER_REQUIRED_KEYS, DatasetReport, Problem


@dataclass
class Entry:
    """One metadata line that names a clip; its audio is still to be found and checked."""

    line: int
    id: str
    text: str
    speaker: str | None
    reference: str  # the path as written in the metadata
    candidates: list[Path]
    allow_duplicate_of_same_text: bool = False


def no_metadata_problem(root: Path) -> Problem:
    """The problem for a folder with neither metadata file, with a hint at what is there instead."""
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


# ---------------------------------------------------------------------------------------------
# Piper csv


def read_piper_csv(root: Path, metadata: Path, report: DatasetReport) -> list[Entry]:
    """Entries of a ``id|text`` / ``id|speaker|text`` / LJSpeech ``id|text|normalized`` file."""
    lines = [(n, s) for n, s in _decoded_lines(metadata, report) if s.strip()]
    if not lines:
        return []
    rows = [(n, s.split("|")) for n, s in lines]
    if not any(len(cols) > 1 for _, cols in rows):
        report.problems.append(_no_separator_problem(metadata, *lines[0]))
        return []

    widths = [len(cols) for _, cols in rows]
    usual = max(set(widths), key=lambda w: (widths.count(w), -w))
    ljspeech = _reads_as_ljspeech(rows, usual)
    if ljspeech:
        report.warnings.append(Problem(
            metadata, None, "3 columns read as LJSpeech's id|text|normalized text (single speaker)",
            "for several speakers use short speaker names in the middle column", "ljspeech"))

    entries = []
    for number, cols in rows:
        entry = _piper_row_entry(root, metadata, report, number, cols, usual, ljspeech)
        if entry is not None:
            entries.append(entry)
    return entries


def _no_separator_problem(metadata: Path, number: int, sample: str) -> Problem:
    """The one problem for a file with no '|' at all, naming the separator it seems to use."""
    found = "tabs" if "\t" in sample else "commas" if "," in sample else "semicolons" if ";" in sample \
        else None
    message = f"no '|' separator on any line (found {found})" if found else "no '|' separator on any line"
    return Problem(metadata, number, f"wrong delimiter: {message}",
                   "separate columns with '|': id|text (or id|speaker|text)", "wrong-delimiter")


def _reads_as_ljspeech(rows: list[tuple[int, list[str]]], usual: int) -> bool:
    # LJSpeech writes id|text|normalized text; real speaker names are few and short.
    three_cols = [cols for _, cols in rows if len(cols) == 3]
    return usual == 3 and len({c[1] for c in three_cols}) > max(1, len(three_cols) // 2) and \
        sum(" " in c[1].strip() for c in three_cols) > len(three_cols) // 2


def _column_problem(cols: list[str], usual: int, ljspeech: bool) -> tuple[str, str, str] | None:
    """(message, fix, kind) when a row has the wrong number of columns for this file."""
    if len(cols) == 1:
        found = " (found a tab)" if "\t" in cols[0] else " (found a comma)" if "," in cols[0] else ""
        return f"wrong delimiter: no '|' separator{found}", "write the line as id|text", "wrong-delimiter"
    if len(cols) > 3 or (len(cols) == 3 and usual == 2):
        return (f"{len(cols)} '|'-separated columns, expected {usual}",
                "use id|text or id|speaker|text; the text itself must not contain '|'", "column-count")
    if len(cols) == 2 and usual == 3 and not ljspeech:
        return ("2 columns in a multi-speaker file (id|speaker|text)",
                "add the speaker name: id|speaker|text", "column-count")
    return None


def _piper_row_entry(root: Path, metadata: Path, report: DatasetReport, number: int, cols: list[str],
                     usual: int, ljspeech: bool) -> Entry | None:
    """The entry for one csv row, or None after recording why the row cannot be used."""
    wrong_columns = _column_problem(cols, usual, ljspeech)
    if wrong_columns is not None:
        report.problems.append(Problem(metadata, number, *wrong_columns))
        return None
    utt_id = cols[0].strip()
    text = cols[-1].strip()
    speaker = cols[1].strip() if len(cols) == 3 and not ljspeech else None
    if not utt_id:
        report.problems.append(Problem(metadata, number, "empty id",
                                       "put the clip's file name before '|'",
                                       "empty-id"))
        return None
    if speaker == "":
        report.problems.append(Problem(metadata, number, "empty speaker name",
                                       "write id|speaker|text with a speaker name", "empty-speaker"))
        return None
    report.mentioned.add(_basename(utt_id).lower())
    report.mentioned.add(_basename(utt_id).lower() + ".wav")
    unsafe = _unsafe_reference(utt_id)
    if unsafe:
        report.problems.append(Problem(
            metadata, number, f"{unsafe}: {utt_id!r}",
            _relative_fix(utt_id, root, "name the clip by its file name relative to wavs/ (e.g. clip_001)"),
            "path-escape"))
        return None
    base = metadata.parent
    names = [utt_id] if utt_id.lower().endswith(".wav") else [utt_id, utt_id + ".wav"]
    candidates = [folder / name for folder in (base / "wavs", base) for name in names]
    return Entry(number, utt_id, text, speaker, utt_id, candidates)


# ---------------------------------------------------------------------------------------------
# Coaxial recorder profile


def read_recorder_jsonl(root: Path, metadata: Path, report: DatasetReport) -> list[Entry]:
    """Entries of a recorder profile's ``metadata.jsonl`` (one JSON object per line)."""
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
        entries.append(Entry(number, name.stem, " ".join(sentence.split()), None, filename, candidates,
                             allow_duplicate_of_same_text=True))
    return entries
