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

This module is the entry point; the work lives in three parts, and the names other code uses
are re-exported here:

- ``utils.voice.data.dataset_report``: layout names, thresholds, ``Problem``, ``Clip``, ``DatasetReport``.
- ``utils.voice.data.dataset_metadata``: reading ``metadata.csv`` and ``metadata.jsonl`` into entries.
- ``utils.voice.data.dataset_audio``: finding and decoding each entry's audio, warnings about clips.
"""

from __future__ import annotations

import os
from pathlib import Path

from utils.voice.data.dataset_audio import check_audio, warn_unlisted_audio
from utils.voice.data.dataset_metadata import no_metadata_problem, read_piper_csv, read_recorder_jsonl
from utils.voice.data.dataset_report import (
    CSV_NAME,
    FEW_CLIPS,
    JSONL_NAME,
    LONG_CLIP_S,
    PIPER_CSV,
    RECORDER_PROFILE,
    SHORT_CLIP_S,
    Clip,
    DatasetReport,
    Problem,
)

__all__ = [
    "LONG_CLIP_S",
    "PIPER_CSV",
    "RECORDER_PROFILE",
    "SAMPLE_DATASET",
    "SHORT_CLIP_S",
    "Clip",
    "DatasetReport",
    "Problem",
    "validate_dataset",
]

SAMPLE_DATASET = Path(__file__).resolve().parents[3] / "data" / "sample"


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
            report.problems.append(no_metadata_problem(root))
            return report

    report.path = root
    report.layout = layout
    report.metadata_path = metadata
    if layout == PIPER_CSV:
        entries = read_piper_csv(root, metadata, report)
    else:
        entries = read_recorder_jsonl(root, metadata, report)
    check_audio(entries, report, progress)
    if not report.clips and not report.problems:
        report.problems.append(Problem(
            metadata, None, "no clips listed", f"add at least one line to {metadata.name}", "no-clips"))
    elif report.ok and len(report.clips) < FEW_CLIPS:
        report.warnings.append(Problem(
            metadata, None, f"only {len(report.clips)} clips; piper holds some out for validation",
            f"record at least {FEW_CLIPS} (hundreds for a usable voice)", "few-clips"))
    warn_unlisted_audio(root, layout, report)
    return report
