"""The voice measures at every validation, from the generator being trained, on the run's held-out clips.

At its first validation the callback reads which clips piper's data module held out for
validation, writes them to ``held_out.json`` (so ``pixi run evaluate --run OUTPUT`` later uses
the same clips) and keeps up to ``count`` of them. At each validation it speaks their sentences
with the in-memory generator (``utils.voice.publish.samples.speak_texts``: the runtime's
phonemizer, noise and length scales and loudness normalisation, without exporting ONNX each
time) and compares with the audio piper trained on (its normalised copy of each recording, at
the voice's rate). The medians become ``val_mcd``, ``val_f0_rmse``, ``val_voicing_error``,
``val_duration_ratio`` (as ``|1 - ratio|`` in ``val_duration_error``, so that lower is better
like the others) and, for English voices, ``val_wer``: in ``trainer.callback_metrics`` (so a
checkpoint callback can rank by them), in each ``record``, and through ``on_scores``.
"""

from __future__ import annotations

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
           "val_duration_error": "duration_ratio", "val_wer": "wer"}


@dataclass
class MeasureRecord:
    step: int
    clips: int
    seconds: float                           # wall time the measures took (training waited this long)
    values: dict = field(default_factory=dict)  # val_* metric -> value (None where not measured)
    recordings_wer: float | None = None      # the recogniser on the same recordings: the ceiling of val_wer


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
            self._recognizer = None
            self.recordings_wer: float | None = None

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

        def measure(self, trainer, pl_module) -> MeasureRecord | None:
            started = time.perf_counter()
            if self._clips is None:
                self._phonemizer = SamplePhonemizer.from_file(voice_config_path)
                found = held_out_of(trainer.datamodule, sources, rates)
                write_held_out(output, [clip for clip, _ in found], self._phonemizer.config.espeak_voice)
                self._clips = load_clips(found, count)
                if self._clips and is_english(self._phonemizer.config.espeak_voice):
                    from utils.voice.evaluate.recognizer import Recognizer

                    self._recognizer = Recognizer()
                    self.recordings_wer = recordings_wer(self._clips, self._recognizer,
                                                         self._phonemizer.config.sample_rate)
            if not self._clips:
                return None
            medians = median_of(score_clips(pl_module.model_g, self._phonemizer, self._clips, self._recognizer))
            record = MeasureRecord(step=batches_done(trainer), clips=len(self._clips),
                                   seconds=time.perf_counter() - started, values=metric_values(medians),
                                   recordings_wer=self.recordings_wer)
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


def score_clips(generator, phonemizer, clips: list[_Clip], recognizer=None) -> list[dict]:
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
        rows.append(row)
    return rows


def _publish(trainer, values: dict) -> None:
    """Into callback_metrics, where checkpoint callbacks (which Lightning runs after the others) read
    them. A measure with no value this time (no frame voiced in both) is NaN: ranked last, never best."""
    import torch

    for name, value in values.items():
        if value is None and name == "val_wer":
            continue  # not an English voice: nothing to rank by (--best-by wer is refused for it)
        trainer.callback_metrics[name] = torch.tensor(float("nan") if value is None else float(value))
