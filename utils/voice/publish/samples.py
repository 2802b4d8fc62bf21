"""Hear a voice learn: the generator being trained speaks the sample sentence(s) now and then.

At every validation, and every ``--sample-every N`` batches, ``SampleSpeaker`` runs the current
generator in-process on the training device (eval mode, no gradients; train mode restored after)
and writes ``samples/step-<batch>.wav`` (atomic) plus a TensorBoard audio entry. "Step" is a
batch, as everywhere in coaxial-train (Lightning's ``global_step`` is twice that).

The text goes through the same code the piper runtime uses (``PiperVoice.phonemize`` and
``phonemes_to_ids`` over the voice config piper.train wrote), and synthesis uses the config's
noise, length and noise-w scales: a sample lasts as long as the exported voice would speak the
sentence, and its loudness is normalised the way the runtime normalises it.
"""

from __future__ import annotations

import json
import sys
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_path
from utils.voice.run_config import batches_done

SAMPLES_DIR = "samples"
# A GPU fine-tune runs ~2-5 batches/s: a sample every 1,000 batches is one every few minutes,
# cheap next to the training (see benchmarks/bench_samples.py) and frequent enough to hear
# progress between validations.
DEFAULT_SAMPLE_EVERY = 1000
PAUSE_BETWEEN_TEXTS_S = 0.4  # several --sample-text sentences share one wav, with a short pause


class SampleTextError(ValueError):
    """A --sample-text value cannot be used (the message names it and the fix)."""


def load_sample_texts(values: str | Sequence[str] | None, default: str) -> list[str]:
    """Each ``--sample-text`` value is a sentence, or the path of a UTF-8 file with one per line
    (blank lines and lines starting with ``#`` skipped). No value: ``[default]``."""
    texts: list[str] = []
    values = [values] if isinstance(values, str) else values
    for value in values or []:
        path = Path(value)
        if path.suffix in (".txt", ".text") or path.is_file():
            if not path.is_file():
                raise SampleTextError(f"--sample-text {value}: no such file — give a sentence or an existing "
                                      "text file with one sentence per line")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise SampleTextError(f"--sample-text {value}: cannot read it as UTF-8 text ({exc})") from exc
            found = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
            if not found:
                raise SampleTextError(f"--sample-text {value}: the file has no sentence — write one per line")
            texts.extend(found)
        elif value.strip():
            texts.append(value.strip())
        else:
            raise SampleTextError("--sample-text is empty — give a sentence or a text file")
    return texts or [default]


@dataclass
class SampleRecord:
    step: int            # batches trained when the sample was made
    path: Path
    audio_seconds: float
    cost_seconds: float  # wall time to synthesise and write it (training waits this long)
    rms: float
    reason: str          # "validation" or "every N"


class SamplePhonemizer:
    """Text -> phoneme ids per sentence, exactly as ``piper.PiperVoice`` does it for this config."""

    def __init__(self, voice_config: dict):
        from piper.config import PiperConfig
        from piper.voice import PiperVoice

        self.config = PiperConfig.from_dict(voice_config)
        # PiperVoice's phonemizer needs no ONNX session: only its config is read.
        self._voice = PiperVoice(session=None, config=self.config)

    @classmethod
    def from_file(cls, path: Path) -> SamplePhonemizer:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def sentence_ids(self, text: str) -> list[list[int]]:
        return [self._voice.phonemes_to_ids(phonemes) for phonemes in self._voice.phonemize(text) if phonemes]


def synthesize(generator, sentence_ids: list[list[int]], config, device=None):
    """Audio (float32 numpy, -1..1) of the sentences, each normalised like the runtime does it.

    The caller owns eval mode / no_grad; this only runs ``generator.infer`` per sentence."""
    import numpy as np
    import torch

    device = device if device is not None else next(generator.parameters()).device
    sid = torch.LongTensor([config.default_speaker_id]).to(device) if config.num_speakers > 1 else None
    pieces = []
    for ids in sentence_ids:
        text = torch.LongTensor([ids]).to(device)
        lengths = torch.LongTensor([len(ids)]).to(device)
        audio = generator.infer(text, lengths, noise_scale=config.noise_scale, length_scale=config.length_scale,
                                noise_scale_w=config.noise_w_scale, sid=sid)[0]
        audio = audio.detach().float().cpu().numpy().reshape(-1)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = np.zeros_like(audio) if peak < 1e-8 else audio / peak
        pieces.append(np.clip(audio, -1.0, 1.0).astype(np.float32))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def write_wav(path: Path, audio, sample_rate: int) -> None:
    """16-bit mono wav, atomically."""
    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav_file:
        wav_file.setnchannels(1)
        wav_file.setsampwidth(2)
        wav_file.setframerate(sample_rate)
        wav_file.writeframes(pcm.tobytes())


def speak_texts(generator, phonemizer: SamplePhonemizer, texts: Sequence[str]):
    """All texts in one float32 array, a short pause between texts. Restores the generator's mode."""
    import numpy as np
    import torch

    pause = np.zeros(int(PAUSE_BETWEEN_TEXTS_S * phonemizer.config.sample_rate), dtype=np.float32)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            parts = []
            for index, text in enumerate(texts):
                if index:
                    parts.append(pause)
                parts.append(synthesize(generator, phonemizer.sentence_ids(text), phonemizer.config))
    finally:
        generator.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def sample_name(step: int) -> str:
    return f"step-{step}.wav"


def make_callback(folder: Path, texts: Sequence[str], voice_config_path: Path, every: int | None = None,
                  on_sample: Callable[[SampleRecord], None] | None = None,
                  final: Callable[[], bool] | None = None, say=None):
    """A Lightning callback speaking ``texts`` into ``folder`` at every validation, every ``every``
    batches (None or 0: not periodically) and when training ends if ``final()`` says so (a run
    stopped by a signal should stop, not speak)."""
    import lightning.pytorch as pl

    say = say or (lambda message: print(message, file=sys.stderr, flush=True))

    class SampleSpeaker(pl.Callback):
        def __init__(self):
            self.records: list[SampleRecord] = []
            self._phonemizer: SamplePhonemizer | None = None
            self._done_steps: set[int] = set()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = batches_done(trainer)
            if every and step > 0 and step % every == 0:
                self.speak(trainer, pl_module, f"every {every}")

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.speak(trainer, pl_module, "validation")

        def on_train_end(self, trainer, pl_module):
            if final is not None and final():
                self.speak(trainer, pl_module, "end of training")

        def speak(self, trainer, pl_module, reason: str) -> SampleRecord | None:
            step = batches_done(trainer)
            if not trainer.is_global_zero or step in self._done_steps:
                return None
            self._done_steps.add(step)
            started = time.perf_counter()
            if self._phonemizer is None:
                self._phonemizer = SamplePhonemizer.from_file(voice_config_path)
            rate = self._phonemizer.config.sample_rate
            audio = speak_texts(pl_module.model_g, self._phonemizer, texts)
            path = Path(folder) / sample_name(step)
            write_wav(path, audio, rate)
            cost = time.perf_counter() - started
            record = SampleRecord(step=step, path=path, audio_seconds=audio.size / rate, cost_seconds=cost,
                                  rms=float((audio**2).mean() ** 0.5) if audio.size else 0.0, reason=reason)
            self.records.append(record)
            _log_audio(trainer, audio, rate)
            say(f"sample at batch {step}: {path} ({record.audio_seconds:.1f} s of audio, made in {cost:.2f} s)")
            if on_sample is not None:
                on_sample(record)
            return record

    return SampleSpeaker()


def _log_audio(trainer, audio, sample_rate: int) -> None:
    """TensorBoard's audio tab, one entry per sample (optional: other loggers are skipped)."""
    import torch

    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_audio"):
            experiment.add_audio("coaxial/sample", torch.from_numpy(audio).unsqueeze(0),
                                 global_step=trainer.global_step, sample_rate=sample_rate)
