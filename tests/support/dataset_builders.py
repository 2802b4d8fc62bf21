"""Plain functions that build real datasets in a temporary folder, good and broken.

Audio is real speech taken from the bundled sample (data/sample), converted with soundfile and
soxr where a test needs another format, so no external tool is needed. Used by
tests/test_dataset_validation.py, tests/test_audio_prep.py and the training tests.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.voice.data.dataset import SAMPLE_DATASET

RECORDER_RATE = 48000


def sample_clips(n: int) -> list[tuple[str, str, Path]]:
    """The first ``n`` (id, text, wav path) of the bundled sample."""
    rows = []
    for line in (SAMPLE_DATASET / "metadata.csv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            clip_id, text = line.split("|", 1)
            rows.append((clip_id, text, SAMPLE_DATASET / "wavs" / f"{clip_id}.wav"))
    if n > len(rows):
        raise ValueError(f"the sample has only {len(rows)} clips")
    return rows[:n]


def make_piper_dataset(root: Path, n: int = 6, *, speakers: list[str] | None = None,
                       audio_beside_csv: bool = False) -> Path:
    """A Piper/LJSpeech folder ``root/piper``: metadata.csv + wavs/ (or audio beside the csv).

    With ``speakers``, rows are ``id|speaker|text`` and speakers are assigned round-robin.
    """
    folder = Path(root) / "piper"
    audio = folder if audio_beside_csv else folder / "wavs"
    audio.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (clip_id, text, wav) in enumerate(sample_clips(n)):
        shutil.copyfile(wav, audio / f"{clip_id}.wav")
        if speakers:
            lines.append(f"{clip_id}|{speakers[index % len(speakers)]}|{text}")
        else:
            lines.append(f"{clip_id}|{text}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def make_recorder_profile(root: Path, n: int = 6, *, preprocessed: bool = False) -> Path:
    """A Coaxial recorder profile ``root/profile``: metadata.jsonl + 48 kHz mono PCM_32 recordings."""
    import soxr

    folder = Path(root) / "profile"
    audio = folder / "recordings" / ("preprocessed" if preprocessed else "")
    audio.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as out:
        for index, (_clip_id, text, wav) in enumerate(sample_clips(n)):
            data, rate = sf.read(wav, dtype="float64")
            data = soxr.resample(data, rate, RECORDER_RATE) * 0.5
            name = f"{index:04d}_take1.wav"
            sf.write(audio / name, data, RECORDER_RATE, subtype="PCM_32")
            out.write(json.dumps({"filename": name, "sentence": text, "prompt_list": "sample",
                                  "prompt_index": index, "timestamp": f"2026-01-01T10:{index:02d}:00"},
                                 ensure_ascii=False) + "\n")
    return folder


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """Everything under ``path`` (relative path → size, mtime_ns), links not followed."""
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = full.lstat()
            out[full.relative_to(path).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


@dataclass(frozen=True)
class BrokenDataset:
    kind: str
    path: Path  # what to pass as the dataset
    culprit: Path  # the file the error must name
    line: int | None  # the metadata line the error must name, if line-specific


def _rewrite_csv_line(folder: Path, line: int, new: str) -> Path:
    csv_path = folder / "metadata.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = new
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path


def _missing_folder(root: Path) -> BrokenDataset:
    path = Path(root) / "no-such-dataset"
    return BrokenDataset("missing-folder", path, path, None)


def _no_metadata(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 3)
    (folder / "metadata.csv").unlink()
    return BrokenDataset("no-metadata", folder, folder, None)


def _missing_audio(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    (folder / "wavs" / "sample_003.wav").unlink()
    return BrokenDataset("missing-audio", folder, folder / "metadata.csv", 3)


def _corrupt_audio(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    wav = folder / "wavs" / "sample_002.wav"
    # A RIFF/WAVE header followed by garbage where the fmt and data chunks should be, as a
    # copy interrupted or overwritten by another program leaves it.
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(64)))
    return BrokenDataset("corrupt-audio", folder, wav, None)


def _empty_audio_file(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    wav = folder / "wavs" / "sample_004.wav"
    wav.write_bytes(b"")
    return BrokenDataset("empty-audio-file", folder, wav, None)


def _zero_length_audio(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    wav = folder / "wavs" / "sample_001.wav"
    sf.write(wav, np.zeros(0, dtype=np.int16), 22050, subtype="PCM_16")
    return BrokenDataset("zero-length-audio", folder, wav, None)


def _silent_audio(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    wav = folder / "wavs" / "sample_002.wav"
    sf.write(wav, np.zeros(22050, dtype=np.int16), 22050, subtype="PCM_16")
    return BrokenDataset("silent-audio", folder, wav, None)


def _empty_text(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    csv_path = _rewrite_csv_line(folder, 2, "sample_002|   ")
    return BrokenDataset("empty-text", folder, csv_path, 2)


def _duplicate_id(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    csv_path = _rewrite_csv_line(folder, 4, "sample_001|A different sentence for the same clip.")
    return BrokenDataset("duplicate-id", folder, csv_path, 4)


def _not_utf8(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    csv_path = folder / "metadata.csv"
    lines = csv_path.read_bytes().split(b"\n")
    lines[2] = "sample_003|Café crème in Latin-1.".encode("latin-1")
    csv_path.write_bytes(b"\n".join(lines))
    return BrokenDataset("not-utf8", folder, csv_path, 3)


def _delimited(root: Path, kind: str, sep: str) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    csv_path = folder / "metadata.csv"
    text = csv_path.read_text(encoding="utf-8").replace("|", sep)
    csv_path.write_text(text, encoding="utf-8")
    return BrokenDataset(kind, folder, csv_path, 1)


def _comma_delimiter(root: Path) -> BrokenDataset:
    return _delimited(root, "comma-delimiter", ",")


def _tab_delimiter(root: Path) -> BrokenDataset:
    return _delimited(root, "tab-delimiter", "\t")


def _outside_audio(root: Path) -> Path:
    outside = Path(root) / "elsewhere"
    outside.mkdir(parents=True, exist_ok=True)
    _, _, wav = sample_clips(1)[0]
    shutil.copyfile(wav, outside / "stolen.wav")
    return outside / "stolen.wav"


def _path_dotdot(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    _outside_audio(root)
    csv_path = _rewrite_csv_line(folder, 2, "../../elsewhere/stolen|Text for an outside file.")
    return BrokenDataset("path-dotdot", folder, csv_path, 2)


def _absolute_path(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    target = _outside_audio(root)
    csv_path = _rewrite_csv_line(folder, 3, f"{target}|Text for an absolute path.")
    return BrokenDataset("absolute-path", folder, csv_path, 3)


def _symlink_outside(root: Path) -> BrokenDataset:
    folder = make_piper_dataset(root, 4)
    target = _outside_audio(root)
    link = folder / "wavs" / "sample_002.wav"
    link.unlink()
    link.symlink_to(target)
    return BrokenDataset("symlink-outside", folder, link, None)


def _broken_json(root: Path) -> BrokenDataset:
    folder = make_recorder_profile(root, 4)
    jsonl = folder / "metadata.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # cut mid-object, as a crash while appending would
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return BrokenDataset("broken-json", folder, jsonl, 2)


def _missing_json_key(root: Path) -> BrokenDataset:
    folder = make_recorder_profile(root, 4)
    jsonl = folder / "metadata.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[2])
    del obj["sentence"]
    lines[2] = json.dumps(obj)
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return BrokenDataset("missing-json-key", folder, jsonl, 3)


BROKEN_KINDS: dict[str, Callable[[Path], BrokenDataset]] = {
    "missing-folder": _missing_folder,
    "no-metadata": _no_metadata,
    "missing-audio": _missing_audio,
    "corrupt-audio": _corrupt_audio,
    "empty-audio-file": _empty_audio_file,
    "zero-length-audio": _zero_length_audio,
    "silent-audio": _silent_audio,
    "empty-text": _empty_text,
    "duplicate-id": _duplicate_id,
    "not-utf8": _not_utf8,
    "comma-delimiter": _comma_delimiter,
    "tab-delimiter": _tab_delimiter,
    "path-dotdot": _path_dotdot,
    "absolute-path": _absolute_path,
    "symlink-outside": _symlink_outside,
    "broken-json": _broken_json,
    "missing-json-key": _missing_json_key,
}


def make_broken_dataset(kind: str, root: Path) -> BrokenDataset:
    return BROKEN_KINDS[kind](Path(root))
