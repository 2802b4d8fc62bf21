"""Score voices on recordings: one row per clip, medians per voice, a table or one JSON object.

Beside the distances from the recording, each clip gets the predicted listener score (``listener``:
DNSMOS, higher is better) of the voice's audio and of the recording (the ceiling), which needs
no recording to mean something: it rates how the voice sounds, not how close it is.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field

from utils.voice.evaluate.held_out import Recordings, load_recording
from utils.voice.evaluate.listener import LISTENER_MODEL, ListenerScore
from utils.voice.evaluate.measures import ClipScores, score_clip
from utils.voice.evaluate.recognizer import ENGLISH_ONLY, Recognizer, is_english, word_error_rate
from utils.voice.evaluate.voices import Voice

MEASURES = ("mcd_db", "f0_rmse_cents", "voicing_error", "duration_ratio", "wer", "wer_recording",
            "listener", "listener_recording")
# Column heads of the text table, each with the direction that is better.
HEADS = {"mcd_db": "MCD dB v", "f0_rmse_cents": "F0 cents v", "voicing_error": "voicing v",
         "duration_ratio": "duration ~1", "wer": "WER v", "wer_recording": "WER rec.",
         "listener": "listener ^", "listener_recording": "listen rec."}


@dataclass
class ClipRow:
    id: str
    text: str
    scores: ClipScores
    wer: float | None = None
    wer_recording: float | None = None
    heard: str | None = None           # what the recogniser heard in the voice's audio
    listener: float | None = None      # predicted listener score of the voice's audio, 1..5
    listener_recording: float | None = None  # ... of the recording (the ceiling)

    def values(self) -> dict:
        return {**self.scores.as_dict(), "wer": self.wer, "wer_recording": self.wer_recording,
                "listener": self.listener, "listener_recording": self.listener_recording}


@dataclass
class VoiceResult:
    voice: str
    sample_rate: int
    rows: list[ClipRow] = field(default_factory=list)
    wer_note: str | None = None        # why the WER columns are empty
    listener_note: str | None = None   # why the listener columns are empty

    def medians(self) -> dict:
        return median_of([row.values() for row in self.rows])


def median_of(rows: list[dict]) -> dict:
    """Median of each measure over the rows that have it (None where none has)."""
    found = {}
    for key in MEASURES:
        values = [row[key] for row in rows if row.get(key) is not None]
        found[key] = float(statistics.median(values)) if values else None
    return found


class Judges:
    """What rates the speech besides the distances: the recogniser and the listener score (either may
    be None: not asked for), with what each says of every recording (the ceiling) worked out once
    for all voices."""

    def __init__(self, recognizer: Recognizer | None, listener: ListenerScore | None,
                 listener_note: str | None = None):
        self.recognizer, self.listener, self.listener_note = recognizer, listener, listener_note
        self._wer, self._listener = {}, {}

    def recording_wer(self, clip, audio, rate) -> float:
        key = (clip.audio, rate)
        if key not in self._wer:
            self._wer[key] = word_error_rate(clip.text, self.recognizer.transcribe(audio, rate))
        return self._wer[key]

    def recording_listener(self, clip, audio, rate) -> float:
        key = (clip.audio, rate)
        if key not in self._listener:
            self._listener[key] = self.listener.score(audio, rate)
        return self._listener[key]


def evaluate_voice(voice: Voice, recordings: Recordings, judges: Judges, progress: bool = True) -> VoiceResult:
    """Speak every clip's sentence with ``voice``, compare it with the recording and rate both."""
    recognizer, listener = judges.recognizer, judges.listener
    english = recognizer is not None and is_english(voice.espeak_voice, voice.language_code)
    result = VoiceResult(voice=str(voice.path), sample_rate=voice.sample_rate,
                         wer_note=None if english else _no_wer_reason(voice, recognizer),
                         listener_note=None if listener is not None else judges.listener_note)
    clips = recordings.clips
    if progress:
        from tqdm import tqdm

        clips = tqdm(clips, desc=f"evaluating {voice.path.name}", unit="clip", file=sys.stderr)
    for clip in clips:
        recording = load_recording(clip, voice.sample_rate)
        spoken = voice.speak(clip.text, clip.speaker if voice.speaker_ids else None)
        row = ClipRow(id=clip.id, text=clip.text, scores=score_clip(recording, spoken, voice.sample_rate))
        if english:
            row.heard = recognizer.transcribe(spoken, voice.sample_rate)
            row.wer = word_error_rate(clip.text, row.heard)
            row.wer_recording = judges.recording_wer(clip, recording, voice.sample_rate)
        if listener is not None:
            row.listener = listener.score(spoken, voice.sample_rate)
            row.listener_recording = judges.recording_listener(clip, recording, voice.sample_rate)
        result.rows.append(row)
    return result


def _no_wer_reason(voice: Voice, recognizer: Recognizer | None) -> str:
    if recognizer is None:
        return "word error rate not asked for (--no-wer)"
    return f"{ENGLISH_ONLY}; this voice speaks {voice.language_code or voice.espeak_voice}"


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("mcd_db", "f0_rmse_cents"):
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(results: list[VoiceResult], recordings: Recordings) -> str:
    """One block per voice: a row per clip and the medians; then the voices' medians side by side."""
    width = max([len("median"), *(len(row.id) for r in results for row in r.rows)])
    head = f"{'clip':<{width}}  " + "  ".join(f"{HEADS[key]:>11}" for key in MEASURES)
    lines = [f"recordings: {recordings.source}, {len(recordings.clips)} clip(s)",
             "v lower is better, ^ higher is better; duration ~1: synthesis / recording speech length, 1 is best; "
             "WER rec.: the recogniser on the recordings (the ceiling)",
             "listener: predicted listener score, 1 bad .. 5 excellent (DNSMOS overall, offline); "
             "listen rec.: the same for the recordings (the ceiling)"]
    for result in results:
        lines += ["", f"voice {result.voice} ({result.sample_rate} Hz)", head]
        for row in result.rows:
            lines.append(f"{row.id:<{width}}  " + "  ".join(f"{_cell(k, v):>11}" for k, v in row.values().items()))
        lines.append(f"{'median':<{width}}  "
                     + "  ".join(f"{_cell(k, v):>11}" for k, v in result.medians().items()))
        if result.wer_note:
            lines.append(f"WER: {result.wer_note}")
        if result.listener_note:
            lines.append(f"listener: {result.listener_note}")
    if len(results) > 1:
        name_width = max(len(r.voice) for r in results)
        lines += ["", "medians side by side", f"{'voice':<{name_width}}  "
                  + "  ".join(f"{HEADS[key]:>11}" for key in MEASURES)]
        for result in results:
            lines.append(f"{result.voice:<{name_width}}  "
                         + "  ".join(f"{_cell(k, v):>11}" for k, v in result.medians().items()))
    return "\n".join(lines)


def as_json(results: list[VoiceResult], recordings: Recordings) -> dict:
    return {
        "recordings": {"source": recordings.source, "clips": len(recordings.clips)},
        "listener_model": LISTENER_MODEL,
        "voices": [{"voice": r.voice, "sample_rate": r.sample_rate, "medians": r.medians(), "wer_note": r.wer_note,
                    "listener_note": r.listener_note,
                    "clips": [{"id": row.id, "text": row.text, **row.values(), "heard": row.heard}
                              for row in r.rows]} for r in results],
    }
