"""The voice measures at every validation, from the generator being trained, on the run's held-out clips.

At its first validation the callback reads which clips piper's data module held out for
validation, writes them to ``held_out.json`` (so ``pixi run evaluate --run OUTPUT`` later uses
the same clips) and keeps up to ``count`` of them. At each validation it speaks their sentences
with the in-memory generator (``utils.voice.publish.samples.speak_texts``: the runtime's
phonemizer, noise and length scales and loudness normalisation, without exporting ONNX each
time) and compares with the audio piper trained on (its normalised copy of each recording, at
the voice's rate). The medians become ``val_mcd``, ``val_f0_rmse``, ``val_voicing_error``,
``val_duration_ratio`` (as ``|1 - ratio|`` in ``val_duration_error``, so that lower is better
like the others), for English voices ``val_wer``, and ``val_listener``, the predicted listener
score (``utils.voice.evaluate.listener``: DNSMOS, 1 bad .. 5 excellent, the one measure where
higher is better): in ``trainer.callback_metrics`` (so a checkpoint callback can rank by them), in
each ``record``, and through ``on_scores``. The recogniser's WER and the listener score of the
recordings themselves, worked out once at the first validation, are the ceilings of the last two.

The listener score needs no recording, so it rates the voice as a listener hears it; it costs under
a second of CPU per clip per validation. Without the speechmos wheel it is left out (one line says
why) and the other measures go on. ``--best-by`` does not offer it: checkpoints are kept lowest
score first (``fit/keep_best.py``), the wrong way round for a score where higher is better.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from utils.voice.evaluate.held_out import DEFAULT_CLIPS, HeldOutClip, spread, write_held_out
from utils.voice.evaluate.recognizer import is_english, word_error_rate
from utils.voice.evaluate.scoring import median_of
from utils.voice.run_config import batches_done

# metric name -> the key of the median it reports (duration is turned into a distance from 1)
METRICS = {"val_mcd": "mcd_db", "val_f0_rmse": "f0_rmse_cents", "val_voicing_error": "voicing_error",
           "val_duration_error": "duration_ratio", "val_wer": "wer", "val_listener": "listener"}
# Measures some runs cannot take (WER: English voices only; listener: needs speechmos): absent from
# callback_metrics there rather than NaN, since nothing can rank by them.
WHERE_AVAILABLE = ("val_wer", "val_listener")


@dataclass
class MeasureRecord:
    step: int
    clips: int
    seconds: float                           # wall time the measures took (training waited this long)
    values: dict = field(default_factory=dict)  # val_* metric -> value (None where not measured)
    recordings_wer: float | None = None      # the recogniser on the same recordings: the ceiling of val_wer
    recordings_listener: float | None = None  # the listener score of the same recordings: val_listener's ceiling


@dataclass
class ValidationJudges:
    """What rates the spoken clips besides the measures, loaded once per run (None where it cannot
    run here), and its rating of the recordings themselves: the ceiling a voice can hope for."""

    recognizer: object = None                # WER, English voices only
    listener: object = None                  # the predicted listener score, with the speechmos wheel
    recordings_wer: float | None = None
    recordings_listener: float | None = None


@dataclass
class _Clip:
    meta: HeldOutClip
    audio: object  # float64 numpy at the voice's rate: piper's normalised copy of the recording


def metric_values(medians: dict) -> dict:
    """The val_* metrics from the medians of the measures."""
    values = {name: medians.get(key) for name, key in METRICS.items()}
    ratio = medians.get("duration_ratio")
    values["val_duration_error"] = abs(1.0 - ratio) if ratio is not None else None
    return values


def held_out_of(datamodule, sources: list[str], rates: list[int]) -> list[tuple[HeldOutClip, Path]]:
    """(clip, piper's normalised audio file) of each clip in the data module's validation split.

    ``sources``/``rates``: the source recording and its sample rate of each row of the prepared
    metadata.csv, in order (piper numbers its utterances by that order)."""
    split = getattr(datamodule, "val_dataset", None)
    if split is None or not hasattr(split, "indices"):
        return []
    found = []
    for index in split.indices:
        utt = split.dataset.utts[index]
        source = sources[index] if index < len(sources) else str(utt.audio_norm_path)
        rate = rates[index] if index < len(rates) else 0
        found.append((HeldOutClip(id=Path(source).stem, text=utt.text or "", speaker=None, audio=source,
                                  sample_rate=rate), Path(utt.audio_norm_path)))
    return [(clip, path) for clip, path in found if clip.text]


def make_callback(output: Path, voice_config_path: Path, sources: list[str], rates: list[int],
                  count: int = DEFAULT_CLIPS, on_scores: Callable[[MeasureRecord], None] | None = None,
                  say=None):
    """A Lightning callback measuring the voice on ``count`` held-out clips at every validation."""
    import lightning.pytorch as pl

    from utils.voice.publish.samples import SamplePhonemizer

    say = say or (lambda message: print(message, file=sys.stderr, flush=True))

    class VoiceMeasures(pl.Callback):
        def __init__(self):
            self.records: list[MeasureRecord] = []
            self._clips: list[_Clip] | None = None
            self._phonemizer = None
            self.judges = ValidationJudges()

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            record = self.measure(trainer, pl_module) if trainer.is_global_zero else None
            # Every rank ranks checkpoints by the same numbers (a save under DDP is collective).
            values = trainer.strategy.broadcast(record.values if record is not None else None, src=0)
            if values:
                _publish(trainer, values)
            if record is not None and on_scores is not None:
                on_scores(record)

        def start(self, trainer) -> None:
            """At the first validation: the held-out clips and what judges them besides the measures."""
            self._phonemizer = SamplePhonemizer.from_file(voice_config_path)
            found = held_out_of(trainer.datamodule, sources, rates)
            write_held_out(output, [clip for clip, _ in found], self._phonemizer.config.espeak_voice)
            self._clips = load_clips(found, count)
            if self._clips:
                self.judges = load_judges(self._clips, self._phonemizer.config, say)

        def measure(self, trainer, pl_module) -> MeasureRecord | None:
            started = time.perf_counter()
            if self._clips is None:
                self.start(trainer)
            if not self._clips:
                return None
            judges = self.judges
            medians = median_of(score_clips(pl_module.model_g, self._phonemizer, self._clips, judges.recognizer,
                                             judges.listener))
            record = MeasureRecord(step=batches_done(trainer), clips=len(self._clips),
                                   seconds=time.perf_counter() - started, values=metric_values(medians),
                                   recordings_wer=judges.recordings_wer, recordings_listener=judges.recordings_listener)
            self.records.append(record)
            say(f"voice measures at batch {record.step} ({record.clips} held-out clips, {record.seconds:.1f} s): "
                + ", ".join(f"{name} {value:.3g}" for name, value in record.values.items() if value is not None))
            return record

    return VoiceMeasures()


def load_clips(found: list[tuple[HeldOutClip, Path]], count: int) -> list[_Clip]:
    """Up to ``count`` of the held-out clips, spread over them, with piper's audio of each loaded."""
    import torch

    return [_Clip(meta=clip, audio=torch.load(path, weights_only=True).double().numpy().reshape(-1))
            for clip, path in spread(found, count)]


def recordings_wer(clips: list[_Clip], recognizer, sample_rate: int) -> float | None:
    """The recogniser's median word error rate on the recordings themselves (the ceiling)."""
    rows = [{"wer": word_error_rate(clip.meta.text, recognizer.transcribe(clip.audio, sample_rate))} for clip in clips]
    return median_of(rows)["wer"]


def load_judges(clips: list[_Clip], voice_config, say) -> ValidationJudges:
    """The recogniser (English voices) and the listener score, and their ceilings on ``clips``."""
    judges = ValidationJudges()
    rate = voice_config.sample_rate
    if is_english(voice_config.espeak_voice):
        from utils.voice.evaluate.recognizer import Recognizer

        judges.recognizer = Recognizer()
        judges.recordings_wer = recordings_wer(clips, judges.recognizer, rate)
    judges.listener = load_listener(say)
    if judges.listener is not None:
        judges.recordings_listener = recordings_listener(clips, judges.listener, rate)
    return judges


def load_listener(say):
    """The listener score (DNSMOS, about a second to load); None without the speechmos wheel, said once."""
    from utils.voice.evaluate.listener import ListenerScore, listener_missing

    reason = listener_missing()
    if reason is not None:
        say(f"voice measures: no predicted listener score (val_listener) in this run: {reason}")
        return None
    return ListenerScore()


def recordings_listener(clips: list[_Clip], listener, sample_rate: int) -> float:
    """The median listener score of the recordings themselves (the ceiling: a voice rarely sounds
    better than what it learned from)."""
    return float(statistics.median(listener.score(clip.audio, sample_rate) for clip in clips))


def score_clips(generator, phonemizer, clips: list[_Clip], recognizer=None, listener=None) -> list[dict]:
    """The measures of each clip spoken by the in-memory ``generator`` (its train/eval mode kept)."""
    from utils.voice.evaluate.measures import score_clip
    from utils.voice.publish.samples import speak_texts

    rate = phonemizer.config.sample_rate
    rows = []
    for clip in clips:
        spoken = speak_texts(generator, phonemizer, [clip.meta.text])
        row = score_clip(clip.audio, spoken, rate).as_dict()
        if recognizer is not None:
            row["wer"] = word_error_rate(clip.meta.text, recognizer.transcribe(spoken, rate))
        if listener is not None:
            row["listener"] = listener.score(spoken, rate)
        rows.append(row)
    return rows


def _publish(trainer, values: dict) -> None:
    """Into callback_metrics, where checkpoint callbacks (which Lightning runs after the others) read
    them. A measure with no value this time (no frame voiced in both) is NaN: ranked last, never best."""
    import torch

    for name, value in values.items():
        if value is None and name in WHERE_AVAILABLE:
            continue  # not an English voice, or no speechmos: nothing to rank by (--best-by wer is refused)
        trainer.callback_metrics[name] = torch.tensor(float("nan") if value is None else float(value))
