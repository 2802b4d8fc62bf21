"""Audio conversion cache: any validated dataset → the voice's rate (16 kHz or 22050 Hz) mono 16-bit WAVs.

Also writes the ``metadata.csv`` piper.train reads for them.

Cache layout (``cache_dir``)::

    audio/<key>.wav                 one converted clip; key = sha256(conversion params + source bytes)
    datasets/<dataset_key>/metadata.csv
                                    rows ``<key>.wav|text`` or ``<key>.wav|speaker|text``

The key depends only on the source file's bytes and how it is converted, so renaming or moving
a dataset reuses the cache, re-recording a clip makes a new entry, and a second call converts
nothing. The user's folder is only read. Every file is written to a temporary name in its final
folder and moved into place with ``os.replace``, so an interrupted run (or two processes, e.g.
DDP ranks, preparing at once) never leaves a half-written file under a final name.

``PreparedDataset.csv_path`` and ``.audio_dir`` are what ``piper.train``'s ``VitsDataModule``
takes as ``--data.csv_path`` and ``--data.audio_dir``: it looks for ``audio_dir/<id>`` and reads
rows with ``csv.reader(delimiter='|')``, the text in the last column and, with several speakers,
the speaker name in the second (numbered in order of first appearance, as ``speaker_ids`` is).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.files import atomic_write_bytes
from utils.voice.data.clip_pool import map_clips
from utils.voice.data.dataset import DatasetReport

TARGET_RATE = 22050
TARGET_CHANNELS = 1
TARGET_SUBTYPE = "PCM_16"
# Bump when the conversion changes in a way that changes output bytes: it is part of every key.
CONVERTER_VERSION = 1


TRIM_MARGIN_S = 0.15  # --trim-silence keeps this much non-speech at each end: a breath, not a pause


def conversion_tag(sample_rate: int, trim_silence: bool = False) -> bytes:
    """Everything about the conversion that changes its output; part of every cache key.
    (Untrimmed keys are unchanged from before --trim-silence existed, so caches stay valid.)"""
    trim = f"; trim=speech+{TRIM_MARGIN_S}s" if trim_silence else ""
    return (f"coaxial-audio-prep v{CONVERTER_VERSION}; rate={sample_rate}; channels=mean-downmix-"
            f"{TARGET_CHANNELS}; subtype={TARGET_SUBTYPE}; resampler=soxr-HQ{trim}").encode()


@dataclass(frozen=True)
class PreparedDataset:
    """A converted dataset ready for piper.train (pass csv_path and audio_dir)."""

    csv_path: Path
    audio_dir: Path
    num_clips: int
    num_speakers: int
    total_seconds: float
    speaker_ids: dict[str, int] | None
    dataset_key: str  # hash of the csv: changes whenever any text, speaker or audio does
    converted: int
    reused: int
    sample_rate: int = TARGET_RATE
    # Per row of csv_path, in order: the source recording and its sample rate (what the voice is
    # measured against: utils.voice.evaluate.held_out).
    sources: tuple[str, ...] = ()
    source_rates: tuple[int, ...] = ()

    def summary(self) -> str:
        speakers = f", {self.num_speakers} speakers" if self.speaker_ids else ""
        cache = ("all reused from cache, nothing converted" if self.converted == 0
                 else f"{self.converted} converted, {self.reused} reused from cache")
        return (f"Prepared {self.num_clips} clips ({self.total_seconds:.1f} s{speakers}) at "
                f"{self.sample_rate} Hz mono 16-bit: {cache}. Audio: {self.audio_dir}")


def audio_key(source_bytes: bytes, sample_rate: int = TARGET_RATE, trim_silence: bool = False) -> str:
    digest = hashlib.sha256(conversion_tag(sample_rate, trim_silence))
    digest.update(b"\0")
    digest.update(source_bytes)
    return digest.hexdigest()[:40]


def convert_audio(source_bytes: bytes, sample_rate: int = TARGET_RATE) -> np.ndarray:
    """Decode any libsndfile-readable audio to int16 mono samples at ``sample_rate``."""
    data, rate = sf.read(io.BytesIO(source_bytes), dtype="float64", always_2d=True)
    mono = data.mean(axis=1)
    if rate != sample_rate:
        import soxr  # comes with librosa, which piper.train requires

        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    # Explicit clip and round: float → int16 conversion is otherwise left to the codec's defaults.
    return np.round(np.clip(mono, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono WAV file bytes, as the cache and piper read them."""
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, subtype=TARGET_SUBTYPE, format="WAV")
    return buf.getvalue()


def _write_metadata(cache: Path, rows: list[list[str]]) -> tuple[Path, str]:
    """piper's metadata.csv for the converted clips, in a folder named by its content."""
    buf = io.StringIO()
    # csv.writer quotes a field holding '|' or '"' exactly as piper's csv.reader expects.
    csv.writer(buf, delimiter="|", lineterminator="\n").writerows(rows)
    csv_text = buf.getvalue()
    dataset_key = hashlib.sha256(csv_text.encode("utf-8")).hexdigest()[:16]
    csv_path = cache / "datasets" / dataset_key / "metadata.csv"
    if not (csv_path.is_file() and csv_path.read_text(encoding="utf-8") == csv_text):
        atomic_write_bytes(csv_path, csv_text.encode("utf-8"))
    return csv_path, dataset_key


def _prepare_clip(job: tuple[Path, int, Path, bool]) -> tuple[str, int, bool]:
    """Convert one clip into the cache unless it is there: (file name, frames, converted)."""
    audio_path, sample_rate, audio_dir, trim_silence = job
    source = audio_path.read_bytes()
    target = audio_dir / f"{audio_key(source, sample_rate, trim_silence)}.wav"
    if target.is_file():
        return target.name, sf.info(str(target)).frames, False
    samples = convert_audio(source, sample_rate)
    if trim_silence:  # leading and trailing non-speech cut to TRIM_MARGIN_S
        from utils.voice.data.content_measure import trim_to_speech

        samples = trim_to_speech(samples, sample_rate, TRIM_MARGIN_S)
    atomic_write_bytes(target, wav_bytes(samples, sample_rate))
    return target.name, len(samples), True


def prepare_dataset(report: DatasetReport, cache_dir: str | os.PathLike[str], progress: bool = True,
                    sample_rate: int = TARGET_RATE, trim_silence: bool = False,
                    workers: int | None = None) -> PreparedDataset:
    """Convert every clip of a validated dataset into the cache and write piper's metadata.csv.

    ``sample_rate`` is the voice's rate (16000 or 22050 for Piper's tiers); it is part of every
    key, so several rates share one cache; so is ``trim_silence`` (``--trim-silence``).
    ``workers``: processes converting clips (default: every core; 1 converts in this process).

    Raises ValueError if the report has problems (validate first; nothing is written then).
    """
    if not report.ok:
        raise ValueError(f"dataset {report.path} has {len(report.problems)} problem(s); "
                         "fix them before preparing (see report.format_report())")
    cache = Path(cache_dir).expanduser().absolute()
    audio_dir = cache / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)

    converted = reused = 0
    total_frames = 0
    rows: list[list[str]] = []
    clips = report.clips
    # One process per core; results come back in clip order, so rows are as a plain loop makes them.
    jobs = [(clip.audio_path, sample_rate, audio_dir, trim_silence) for clip in clips]
    results = map_clips(_prepare_clip, jobs, workers)
    if progress:
        from utils.voice.console import progress_bar

        results = progress_bar(results, total=len(clips), desc="Preparing audio", unit="clip")
    multi = report.num_speakers > 1
    for clip, (name, frames, was_converted) in zip(clips, results, strict=True):
        converted += was_converted
        reused += not was_converted
        total_frames += frames
        row = [name, clip.speaker or "", clip.text] if multi else [name, clip.text]
        rows.append(row)

    csv_path, dataset_key = _write_metadata(cache, rows)
    speaker_ids = None
    if multi:
        speaker_ids = {}
        for clip in clips:
            speaker_ids.setdefault(clip.speaker or "", len(speaker_ids))
    prepared = PreparedDataset(
        csv_path=csv_path, audio_dir=audio_dir, num_clips=len(rows),
        num_speakers=len(speaker_ids) if speaker_ids else 1,
        total_seconds=total_frames / sample_rate, speaker_ids=speaker_ids, dataset_key=dataset_key,
        converted=converted, reused=reused, sample_rate=sample_rate,
        sources=tuple(str(clip.audio_path) for clip in clips), source_rates=tuple(clip.sample_rate for clip in clips))
    if progress:
        print(prepared.summary(), file=sys.stderr)
    return prepared
