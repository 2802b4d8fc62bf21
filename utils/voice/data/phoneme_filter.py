"""``--max-phoneme-ids N``: leave out clips whose phoneme sequence is longer than N.

A few long sentences set a batch's memory (attention and alignment grow with phonemes x frames);
the old Piper trainer's answer to CUDA out-of-memory was this limit (typically 200-400).

Two places use it. Before anything is written, ``add_to_report`` counts every clip's phoneme ids
the way piper.train's data module will (espeak-ng through piper's bundled bridge, piper's id map
with its start, pad and end ids, sentences chained) and lists the clips over the limit in the
dataset report, so ``--validate-only`` shows them. During training, ``drop_long_utterances``
removes them from piper's train, validation and test splits using the ids piper actually cached,
so the rule holds even for phoneme options the count above does not model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

KIND = "phoneme-limit"


@dataclass(frozen=True)
class LongClip:
    id: str
    text: str
    phoneme_ids: int
    line: int | None = None


def check_limit(value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 10):
        raise ValueError(f"--max-phoneme-ids {value}: too small to hold a word — typical limits are 200 to 400")
    return value


def count_phoneme_ids(texts: list[str], espeak_voice: str) -> list[int]:
    """Phoneme ids per text, as piper.train's VitsDataModule.prepare_data makes them (espeak type)."""
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP, phonemes_to_ids
    from piper.phonemize_espeak import EspeakPhonemizer

    phonemizer = EspeakPhonemizer()
    counts = []
    for text in texts:
        sentences = phonemizer.phonemize(espeak_voice, text)
        ids = itertools.chain(*(phonemes_to_ids(s, id_map=DEFAULT_PHONEME_ID_MAP) for s in sentences))
        counts.append(sum(1 for _ in ids))
    return counts


def find_long_clips(report, limit: int, espeak_voice: str) -> list[LongClip]:
    counts = count_phoneme_ids([clip.text for clip in report.clips], espeak_voice)
    return [LongClip(id=clip.id, text=clip.text, phoneme_ids=n, line=clip.line)
            for clip, n in zip(report.clips, counts, strict=True) if n > limit]


def add_to_report(report, limit: int, espeak_voice: str) -> list[LongClip]:
    """List the clips over ``limit`` as warnings of the dataset report; returns them.

    A dataset with no clip left is an error (nothing could train)."""
    from utils.voice.data.dataset import Problem

    long_clips = find_long_clips(report, limit, espeak_voice)
    where = report.metadata_path or report.path
    for clip in long_clips:
        report.warnings.append(Problem(
            file=Path(where), line=clip.line, kind=KIND,
            message=f"clip {clip.id} has {clip.phoneme_ids} phoneme ids, over --max-phoneme-ids {limit}",
            fix="left out of training; raise the limit or split the sentence to keep it"))
    if long_clips and len(long_clips) == len(report.clips):
        report.problems.append(Problem(
            file=Path(where), line=None, kind=KIND,
            message=f"every clip is longer than --max-phoneme-ids {limit} phoneme ids",
            fix="raise --max-phoneme-ids (typical: 200 to 400)"))
    return long_clips


def drop_long_utterances(datamodule, limit: int) -> list[tuple[str, int]]:
    """Remove utterances over ``limit`` cached phoneme ids from piper's splits (after ``setup``).

    Returns (text, phoneme ids) of each one left out."""
    import torch

    dropped: list[tuple[str, int]] = []
    for name in ("train_dataset", "val_dataset", "test_dataset"):
        subset = getattr(datamodule, name, None)
        if subset is None or not hasattr(subset, "indices"):
            continue
        kept = []
        for index in subset.indices:
            utterance = subset.dataset.utts[index]
            count = torch.load(utterance.phoneme_ids_path, weights_only=True).numel()
            if count <= limit:
                kept.append(index)
            else:
                dropped.append((utterance.text or str(utterance.phoneme_ids_path), count))
        subset.indices = kept
    return dropped
