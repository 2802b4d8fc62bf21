"""piper's train loader, batched by length (``bucket_sampler``) with padded lengths rounded up.

Rounding: a batch's spectrogram frames go up to a multiple of ``SPEC_MULTIPLE`` and its phoneme ids
to a multiple of ``PHONEME_MULTIPLE`` (the audio to match), so the same few shapes come back every
epoch. The extra padding is masked like piper's own (every VITS module multiplies by the length
mask, losses use the lengths), so it changes no value, only the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.voice.console import say
from utils.voice.data.bucket_sampler import BucketBatchSampler, padding_fraction, random_batches, round_up

SPEC_MULTIPLE = 16     # frames (0.19 s at 22050 Hz, hop 256): costs ~1 % more padding
PHONEME_MULTIPLE = 8   # phoneme ids


class RoundedCollate:
    """piper's ``UtteranceCollate``, then every padded length rounded up (see the module doc)."""

    def __init__(self, inner, hop_length: int, segment_size: int, spec_multiple: int = SPEC_MULTIPLE,
                 phoneme_multiple: int = PHONEME_MULTIPLE):
        self.inner, self.hop_length, self.segment_size = inner, hop_length, segment_size
        self.spec_multiple, self.phoneme_multiple = spec_multiple, phoneme_multiple

    def __call__(self, utterances):
        import torch.nn.functional as F

        batch = self.inner(utterances)
        frames = round_up(batch.spectrograms.size(2), self.spec_multiple)
        phonemes = round_up(batch.phoneme_ids.size(1), self.phoneme_multiple)
        # A clip's audio is shorter than (frames + 1) * hop (piper's spectrogram drops the last
        # partial hop), so this width holds every sample and depends on the rounded frames only.
        samples = max((frames + 1) * self.hop_length, self.segment_size, batch.audios.size(2))
        batch.spectrograms = F.pad(batch.spectrograms, (0, frames - batch.spectrograms.size(2)))
        batch.phoneme_ids = F.pad(batch.phoneme_ids, (0, phonemes - batch.phoneme_ids.size(1)))
        batch.audios = F.pad(batch.audios, (0, samples - batch.audios.size(2)))
        return batch


def spectrogram_lengths(subset) -> list[int]:
    """Frames of each clip of a piper split (a ``random_split`` Subset of its ``VitsDataset``),
    read from the cached spectrograms' headers (memory-mapped: the data is not read)."""
    import torch

    utts = subset.dataset.utts
    return [int(torch.load(utts[i].audio_spec_path, mmap=True, weights_only=True).size(1))
            for i in subset.indices]


def resumable_loader_class():
    """``ResumableLoader``: a DataLoader over a ``BucketBatchSampler`` that Lightning can checkpoint.

    It counts the batches it hands to the training loop (Lightning fetches no batch ahead when the
    loader has a length, so a batch handed out is the batch in progress) into the sampler's
    ``position``; ``state_dict``/``load_state_dict`` carry the sampler's state through
    ``last.ckpt`` (Lightning's fit loop saves them under ``loops.fit_loop.state_dict.combined_loader``
    and restores them before the resumed epoch's first batch)."""
    from torch.utils.data import DataLoader

    class ResumableLoader(DataLoader):
        def __iter__(self):
            sampler = self.batch_sampler
            for batch in super().__iter__():
                sampler.position += 1
                yield batch

        def state_dict(self) -> dict:
            return {"bucket_sampler": self.batch_sampler.state_dict()}

        def load_state_dict(self, state: dict) -> None:
            note = self.batch_sampler.load_state_dict(state["bucket_sampler"])
            if note:
                say(note)

    return ResumableLoader


@dataclass(frozen=True)
class LoaderPlan:
    batches: int              # on this rank, per epoch
    padding: float            # padded / all spectrogram frames, epoch 0, all ranks
    random_padding: float     # the same for piper's random batches

    def describe(self, batch_size: int) -> str:
        return (f"Batches by length: {self.batches} batches of up to {batch_size} clips per epoch; padding "
                f"{self.padding:.1%} of spectrogram frames, lengths rounded up to {SPEC_MULTIPLE} frames "
                f"(random batches: {self.random_padding:.1%})")


def bucketed_train_loader(datamodule, seed: int, rank: int = 0, world_size: int = 1):
    """The train DataLoader of piper's ``VitsDataModule`` (after ``setup``), batched by length.

    Returns (loader, plan); prints the plan's padding line once (main process)."""
    from piper.train.vits.dataset import UtteranceCollate

    lengths = spectrogram_lengths(datamodule.train_dataset)
    sampler = BucketBatchSampler(lengths, datamodule.batch_size, seed=seed, num_replicas=world_size, rank=rank)
    plan = LoaderPlan(
        batches=len(sampler),
        padding=padding_fraction(sampler.epoch_batches(0), lengths, SPEC_MULTIPLE),
        random_padding=padding_fraction(random_batches(len(lengths), datamodule.batch_size, seed), lengths))
    say(plan.describe(datamodule.batch_size))
    collate = RoundedCollate(UtteranceCollate(is_multispeaker=datamodule.num_speakers > 1,
                                              segment_size=datamodule.segment_size),
                             datamodule.hop_length, datamodule.segment_size)
    kwargs = {}
    if datamodule.num_workers > 0:  # as piper's loader: these are only valid with workers
        kwargs.update(persistent_workers=True, prefetch_factor=4)
    loader = resumable_loader_class()(datamodule.train_dataset, batch_sampler=sampler, collate_fn=collate,
                        num_workers=datamodule.num_workers, pin_memory=True, **kwargs)
    return loader, plan
