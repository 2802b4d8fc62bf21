"""Content checks: the clips that would spoil a voice while the run itself goes fine.

Each clip is measured once per content (``utils.voice.data.content_measure``, cached) and judged
against the dataset's own median and spread (spread = 1.4826 x the median absolute deviation, a
standard deviation that a few bad clips do not inflate). Every limit below also has a floor,
chosen by measurement on the test sets in ``tests/support/content_builders.py``: a clean recorder profile
varied as people vary (speaking rate +-20 %, peaks -1 to -12 dBFS, 100-400 ms room tone, a
-65 dB noise floor) and the same with eight damaged takes. On the clean set the measures spread:
level over 10 dB, SNR 38-52 dB, lead/trail silence 0.18-0.55 s, band edge 10.5-10.75 kHz, phonemes
per second +-25 % around the median. The damaged takes measured: clipped 183 flat-top runs (clean:
0); 2.84 s of leading room tone; SNR 14.7 dB; one word under a sentence 5x and a half take 2.5x the
median phoneme rate; a phone-line take's band ending at 4.0 kHz; a quiet take 30 dB under the median.

Kinds (``CONTENT_KINDS``), one warning per clip and kind, never a problem: a run is not refused.

- ``clipped``: 3 or more runs of >= 3 samples at full scale (or flat at the clip's peak). Absolute:
  clipping is damage whatever the rest of the dataset does; a clean take has none.
- ``silence``: leading or trailing non-speech over max(1.0 s, median + 4 spreads). 1 s: twice the
  most a clean take showed (0.55 s), and a pause a voice must not learn to start with.
- ``noise``: SNR under both 25 dB and median - max(15 dB, 4 spreads). 15 dB: the clean set's own
  range; 25 dB: above it hiss is faint enough that piper's voices from home recordings train fine.
- ``mismatch``: phonemes (espeak-ng, as piper counts them) per second of speech span more than
  x1.6 (or under /1.6) the median, or 4 spreads if wider. +-20 % speaking rate is x1.5 end to end.
- ``duplicate``: a clip whose bytes, or whose 20 ms level envelope (same length, within 1 dB on
  average after a level shift), match an earlier clip's: the same take under two ids.
- ``bandwidth``: speech stops under 0.65 x the voice's band (its Nyquist, or the dataset's median
  edge if lower): 11 kHz voices flag clips ending under 7.2 kHz, 8 kHz voices under 5.2 kHz, so a
  48 kHz file band-limited at 11 kHz is fine for 22050 Hz and a phone take (4 kHz) is not. Not
  reported on a clip flagged ``noise``: noise hides the top of the band, and the noise is the fix.
- ``level``: loud-part level (95th percentile frame) further than max(15 dB, 4 spreads) from the
  median: more than the -1..-12 dBFS peak range people record at.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.voice.data.content_measure import ClipMeasures, measure_file
from utils.voice.data.dataset_report import CONTENT_KINDS, Clip, DatasetReport, Problem

CLIPPED_RUNS = 3
SILENCE_MIN_S = 1.0
NOISE_ABS_DB = 25.0
NOISE_MIN_GAP_DB = 15.0
MISMATCH_RATIO = 1.6
BAND_FRACTION = 0.65
LEVEL_MIN_GAP_DB = 15.0
SPREADS = 4.0
DUPLICATE_DB = 1.0

_NOT_SOUNDS = "ˈˌːˑ"  # stress and length marks: Unicode letters, but not sounds of their own
_EXCLUDE_FIX = "or leave it out of training: --exclude {kind}"


@dataclass
class ContentResult:
    """Measures of every clip, the kinds each was flagged with, and the limits used."""

    measures: dict[str, ClipMeasures] = field(default_factory=dict)
    flagged: dict[str, list[str]] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    voice_rate: int = 22050
    excluded_kinds: list[str] = field(default_factory=list)  # --exclude
    excluded: list[str] = field(default_factory=list)        # ids of the clips it left out

    def clips_of(self, kinds: set[str] | tuple[str, ...]) -> list[str]:
        return [clip for clip, found in self.flagged.items() if set(found) & set(kinds)]


def exclude_kinds(text: str) -> list[str]:
    """``--exclude KIND[,KIND]`` or ``all`` as a list of kinds; ValueError names the bad one."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if "all" in words:
        return list(CONTENT_KINDS)
    unknown = [w for w in words if w not in CONTENT_KINDS]
    if unknown or not words:
        raise ValueError(f"--exclude {text!r}: choose from {', '.join(CONTENT_KINDS)} (comma-separated), "
                         "or all")
    return [k for k in CONTENT_KINDS if k in words]


def measure_clips(clips: list[Clip], cache_dir: Path | None, progress: bool = False,
                  save: bool = True) -> list[ClipMeasures]:
    """Measures of each clip, in order; one thread per core, up to 4 (reading, hashing, decoding
    and numpy release the GIL)."""
    from utils.machine.cpu_share import usable_cpus

    workers = max(1, min(4, usable_cpus()))
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda clip: measure_file(clip.audio_path, cache_dir, save), clips)
        if progress and clips:
            from utils.voice.console import progress_bar

            results = progress_bar(results, total=len(clips), desc="Checking content", unit="clip", leave=False)
        return list(results)


def count_phonemes(texts: list[str], espeak_voice: str) -> list[int]:
    """Phonemes per text as espeak-ng gives them to piper (stress marks, spaces and punctuation
    are not sounds). Without the phonemizer, letters stand in: still proportional to speech."""
    try:
        from piper.phonemize_espeak import EspeakPhonemizer

        phonemizer = EspeakPhonemizer()
        return [sum(1 for sentence in phonemizer.phonemize(espeak_voice, text) for p in sentence
                    if p.isalpha() and p not in _NOT_SOUNDS) for text in texts]
    except Exception:  # noqa: BLE001 - an unknown voice or no espeak data must not stop the checks
        return [sum(ch.isalpha() for ch in text) for text in texts]


def _median_spread(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return 0.0, 0.0
    median = float(np.median(array))
    return median, float(1.4826 * np.median(np.abs(array - median)))


def _limits(measures: list[ClipMeasures], rates: list[float], voice_rate: int) -> dict[str, float]:
    level, level_spread = _median_spread([m.level_db for m in measures])
    snr, snr_spread = _median_spread([m.snr_db for m in measures])
    lead, lead_spread = _median_spread([m.lead_s for m in measures])
    trail, trail_spread = _median_spread([m.trail_s for m in measures])
    rate, rate_spread = _median_spread([math.log(r) for r in rates if r > 0])
    nyquist = voice_rate / 2
    edge = _median_spread([min(m.edge_hz, nyquist) for m in measures])[0]
    return {
        "level_median_db": level, "level_gap_db": max(LEVEL_MIN_GAP_DB, SPREADS * level_spread),
        "snr_median_db": snr,
        "snr_limit_db": min(NOISE_ABS_DB, snr - max(NOISE_MIN_GAP_DB, SPREADS * snr_spread)),
        "lead_median_s": lead, "lead_limit_s": max(SILENCE_MIN_S, lead + SPREADS * lead_spread),
        "trail_median_s": trail, "trail_limit_s": max(SILENCE_MIN_S, trail + SPREADS * trail_spread),
        "phonemes_per_s_median": math.exp(rate) if rates else 0.0,
        "mismatch_log_limit": max(math.log(MISMATCH_RATIO), SPREADS * rate_spread),
        "voice_band_hz": nyquist, "edge_median_hz": edge,
        "edge_limit_hz": BAND_FRACTION * min(nyquist, edge or nyquist),
    }


def _judge(m: ClipMeasures, rate: float, lim: dict[str, float]) -> list[tuple[str, str, str]]:
    """(kind, what was measured, the fix) for each kind this clip is flagged with."""
    found: list[tuple[str, str, str]] = []
    if m.clip_runs >= CLIPPED_RUNS:
        found.append(("clipped", f"{m.clip_runs} runs of samples at full scale (a clean take has none)",
                      "record it again with the input gain lower (peaks near -6 dBFS)"))
    for where, value, median, limit in (("before", m.lead_s, lim["lead_median_s"], lim["lead_limit_s"]),
                                        ("after", m.trail_s, lim["trail_median_s"], lim["trail_limit_s"])):
        if value > limit:
            found.append(("silence", f"{value:.2f} s of non-speech {where} the speech (dataset median "
                                     f"{median:.2f} s, limit {limit:.2f} s)",
                          "trim it, or train with --trim-silence"))
            break
    noisy = m.snr_db < lim["snr_limit_db"]
    if noisy:
        found.append(("noise", f"speech only {m.snr_db:.1f} dB above the noise (dataset median "
                               f"{lim['snr_median_db']:.1f} dB)",
                      "record it again somewhere quieter (fans, traffic, hum off)"))
    if rate > 0 and lim["phonemes_per_s_median"] > 0:
        ratio = rate / lim["phonemes_per_s_median"]
        if abs(math.log(ratio)) > lim["mismatch_log_limit"]:
            what = ("the audio is shorter than its text: a wrong transcript or a cut-off take" if ratio > 1
                    else "the audio holds more than its text: a missing sentence or a wrong transcript")
            found.append(("mismatch", f"{rate:.1f} phonemes per second of speech, {ratio:.2f}x the dataset's "
                                      f"median {lim['phonemes_per_s_median']:.1f}: {what}",
                          "listen to it, then correct the text or record it again"))
    edge = min(m.edge_hz, lim["voice_band_hz"])
    if not noisy and edge < lim["edge_limit_hz"]:
        found.append(("bandwidth", f"no speech energy above {edge / 1000:.1f} kHz; the voice's band reaches "
                                   f"{lim['voice_band_hz'] / 1000:.1f} kHz and the dataset's clips "
                                   f"{lim['edge_median_hz'] / 1000:.1f} kHz (phone line, or resampled from a "
                                   "low rate?)",
                      "record it again with the microphone and settings of the other takes"))
    gap = m.level_db - lim["level_median_db"]
    if abs(gap) > lim["level_gap_db"]:
        found.append(("level", f"speech {abs(gap):.1f} dB {'below' if gap < 0 else 'above'} the dataset's "
                               f"median level ({m.level_db:.1f} vs {lim['level_median_db']:.1f} dB re full scale)",
                      "record it again at the input gain of the other takes (raising it raises its noise too)"))
    return found


def _same_envelope(a: list[float], b: list[float]) -> bool:
    """Same length (to a frame) and the same level contour over the speech, up to a gain shift."""
    n = min(len(a), len(b))
    if n < 5 or abs(len(a) - len(b)) > 1:
        return False
    x, y = np.asarray(a[:n]), np.asarray(b[:n])
    # Speech frames only: two takes padded with the same room tone must not match on the tone.
    loud = (x > np.percentile(x, 95) - 30) | (y > np.percentile(y, 95) - 30)
    if loud.sum() < 5:
        return False
    diff = x[loud] - y[loud]
    return float(np.mean(np.abs(diff - np.median(diff)))) < DUPLICATE_DB


def _duplicates(clips: list[Clip], measures: list[ClipMeasures]) -> dict[int, int]:
    """index of a clip -> index of the earlier clip with the same audio."""
    by_key: dict[str, int] = {}
    by_length: dict[int, list[int]] = {}
    found: dict[int, int] = {}
    for index, m in enumerate(measures):
        earlier = by_key.get(m.key) if m.key else None
        if earlier is None:
            length = len(m.envelope)
            candidates = [j for n in (length - 1, length, length + 1) for j in by_length.get(n, [])]
            earlier = next((j for j in candidates if _same_envelope(measures[j].envelope, m.envelope)), None)
        if earlier is not None:
            found[index] = earlier
            continue
        if m.key:
            by_key[m.key] = index
        by_length.setdefault(len(m.envelope), []).append(index)
    return found


def judge_dataset(clips: list[Clip], measures: list[ClipMeasures], phonemes: list[int],
                  voice_rate: int) -> tuple[list[Problem], ContentResult]:
    """Warnings for every clip and kind found, in clip order, and the result they came from."""
    rates = [n / m.span_s if m.span_s > 0.1 else 0.0 for n, m in zip(phonemes, measures, strict=True)]
    limits = _limits(measures, rates, voice_rate)
    result = ContentResult(measures={c.id: m for c, m in zip(clips, measures, strict=True)}, limits=limits,
                           voice_rate=voice_rate)
    duplicates = _duplicates(clips, measures)
    warnings: list[Problem] = []
    for index, (clip, m) in enumerate(zip(clips, measures, strict=True)):
        found = _judge(m, rates[index], limits)
        if index in duplicates:
            first = clips[duplicates[index]]
            found.append(("duplicate", f"the same audio as {first.id} ({first.audio_path.name}, line {first.line})",
                          "delete the line whose text the audio does not say, or record that sentence"))
        found.sort(key=lambda item: CONTENT_KINDS.index(item[0]))
        for kind, message, fix in found:
            warnings.append(Problem(clip.audio_path, clip.line, message,
                                    f"{fix}; {_EXCLUDE_FIX.format(kind=kind)}", kind, clip=clip.id))
            result.flagged.setdefault(clip.id, []).append(kind)
    return warnings, result


def check_content(report: DatasetReport, voice_rate: int, cache_dir: Path | None, espeak_voice: str = "en-us",
                  progress: bool = False, save: bool = True) -> ContentResult:
    """Measure and judge every clip of ``report``; the warnings are added to it. Writes only the
    measure cache, and not that with ``save=False`` (then ``save_measures(result.measures...)``)."""
    clips = report.clips
    # Phonemes in a thread of their own while the audio is measured: espeak-ng holds the GIL,
    # reading and measuring mostly do not, so the two overlap.
    with ThreadPoolExecutor(1) as side:
        counting = side.submit(count_phonemes, [c.text for c in clips], espeak_voice)
        measures = measure_clips(clips, cache_dir, progress, save)
        phonemes = counting.result()
    warnings, result = judge_dataset(clips, measures, phonemes, voice_rate)
    report.warnings.extend(warnings)
    return result


def leave_out(report: DatasetReport, result: ContentResult, kinds: list[str]) -> list[Clip]:
    """Remove the clips flagged with any of ``kinds`` from ``report.clips``; returns them."""
    flagged = set(result.clips_of(kinds))
    removed = [c for c in report.clips if c.id in flagged]
    report.clips = [c for c in report.clips if c.id not in flagged]
    return removed
