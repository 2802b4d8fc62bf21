"""Batches by length: clips of similar length share a batch, so little of a batch is padding.

piper's train loader draws random batches and pads each to its longest clip: on clips of 1-10 s at
batch 16 about 40 % of every spectrogram batch is zeros, and every batch has a new shape (which
makes cuDNN's autotuner re-benchmark). ``BucketBatchSampler`` instead, for every epoch:

1. sorts the clips by length (equal lengths in a random order);
2. cuts that order into buckets of ``bucket_batches`` batches' worth of neighbouring clips;
3. shuffles the clips inside each bucket and cuts each bucket into its batches;
4. shuffles the order of all batches;
5. under DDP, deals the batches out round-robin: rank r takes batches r, r+W, r+2W, ...

Every clip appears exactly once per epoch (no clip is repeated or dropped to fill a batch: the
``ceil(n / batch_size)`` batches, rounded up to a multiple of the world size, differ in size by at
most one clip), each rank gets a disjoint share and the same number of batches, and the whole
order is a function of (seed, epoch) alone, so every rank computes the same plan without talking.

Resumable: ``state_dict()`` is (epoch, seed, position: this rank's batches of the epoch already
trained); after ``load_state_dict`` the sampler yields the rest of that epoch's share, in the
order the uninterrupted epoch would have had. ``ResumableLoader`` counts the batches the training
loop took and hands Lightning that state for the checkpoint (a DataLoader with ``state_dict`` and
``load_state_dict`` is what Lightning's fit loop saves and restores), so a run stopped in the
middle of an epoch trains each of its remaining clips exactly once after the resume.

Standard library and numpy only; ``length_batches`` wires it into piper's data module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

# Neighbouring batches pooled into one bucket. 1 would fix batch membership by length rank (the
# same groups every epoch); wider buckets mix more but pad more and repeat fewer shapes. On 400
# clips of 1-10 s at batch 16 (benchmarks/bench_padding.py): padding 4.4 / 6.4 / 11.4 / 19.2 % for
# 1 / 2 / 4 / 8 batches per bucket, against 41 % for random batches; with 2, 33 distinct shapes in
# 10 epochs and 2 new ones in the last 5 (random batches: 107 and 35).
BUCKET_BATCHES = 2


def round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple if multiple > 1 else int(value)


class BucketBatchSampler:
    """Yields lists of dataset indices, one list per batch, for this rank (see the module doc)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0, bucket_batches: int = BUCKET_BATCHES):
        if batch_size < 1 or bucket_batches < 1:
            raise ValueError(f"batch_size ({batch_size}) and bucket_batches ({bucket_batches}) must be >= 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if len(self.lengths) == 0:
            raise ValueError("no clips left to train on (all left out, or all in the validation split)")
        if len(self.lengths) < num_replicas:
            raise ValueError(f"{len(self.lengths)} training clip(s) cannot give each of {num_replicas} "
                             "devices a batch: use fewer devices or more clips")
        self.batch_size, self.seed, self.bucket_batches = batch_size, int(seed), bucket_batches
        self.num_replicas, self.rank = num_replicas, rank
        batches = math.ceil(len(self.lengths) / batch_size)
        self.num_batches = round_up(batches, num_replicas)
        self.epoch = 0
        self.position = 0  # this rank's batches of the epoch taken by training (ResumableLoader counts)

    @property
    def sampler(self) -> BucketBatchSampler:
        # Lightning calls set_epoch on ``loader.batch_sampler.sampler`` at each epoch's start.
        return self

    def set_epoch(self, epoch: int) -> None:
        # The same epoch again is a resume of it (Lightning sets it after restoring the state).
        if int(epoch) != self.epoch:
            self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed, "position": self.position,
                "num_replicas": self.num_replicas, "clips": len(self.lengths), "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> str | None:
        """Continue the saved epoch where it stopped; returns why not when the plan changed (the
        epoch then starts from its beginning, as a sampler without a state would)."""
        epoch, position = int(state["epoch"]), int(state["position"])
        saved = (state.get("seed"), state.get("num_replicas"), state.get("clips"), state.get("batch_size"))
        if saved != (self.seed, self.num_replicas, len(self.lengths), self.batch_size):
            self.epoch, self.position = epoch, 0
            return ("the batch plan changed since the checkpoint (seed, devices, clips or batch size): "
                    f"epoch {epoch} starts again from its first batch")
        if position >= len(self):  # saved at the epoch's end: the next one starts from its beginning
            epoch, position = epoch + 1, 0
        self.epoch, self.position = epoch, position
        return None

    def epoch_batches(self, epoch: int | None = None) -> list[list[int]]:
        """Every rank's batches of ``epoch`` (default: the current one), in the order they run."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.lengths)
        order = np.lexsort((rng.random(n), self.lengths))  # by length; ties in random order
        # Near-equal sizes instead of one ragged last batch; the larger ones go to the shorter clips.
        sizes = [len(part) for part in np.array_split(np.arange(n), self.num_batches)]
        batches: list[list[int]] = []
        start = 0
        for first in range(0, self.num_batches, self.bucket_batches):
            bucket_sizes = sizes[first:first + self.bucket_batches]
            members = rng.permutation(order[start:start + sum(bucket_sizes)])
            start += sum(bucket_sizes)
            cuts = np.cumsum(bucket_sizes)[:-1]
            batches.extend([int(i) for i in part] for part in np.split(members, cuts))
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        """This rank's batches of the epoch from ``position`` on (all of them in a new epoch)."""
        yield from self.epoch_batches()[self.rank::self.num_replicas][self.position:]

    def __len__(self) -> int:
        return self.num_batches // self.num_replicas


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """What piper's loader does (shuffle, drop the ragged last batch): the baseline to compare with."""
    order = np.random.default_rng(seed).permutation(n)
    full = n // batch_size if n > batch_size else 1
    return [[int(i) for i in order[b * batch_size:(b + 1) * batch_size]] for b in range(full)]


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int], multiple: int = 1) -> float:
    """Padded frames / all frames of the padded batches (each padded to its longest clip, rounded
    up to ``multiple``)."""
    lengths = np.asarray(lengths)
    total = real = 0
    for batch in batches:
        batch_lengths = lengths[list(batch)]
        total += len(batch) * round_up(int(batch_lengths.max()), multiple)
        real += int(batch_lengths.sum())
    return 1.0 - real / total if total else 0.0


def batch_shapes(batches: Sequence[Sequence[int]], *lengths_and_multiples) -> set[tuple[int, ...]]:
    """The distinct padded shapes (batch size, then each padded length) of ``batches``; pass pairs
    ``lengths, multiple``."""
    pairs = [(np.asarray(lengths_and_multiples[i]), lengths_and_multiples[i + 1])
             for i in range(0, len(lengths_and_multiples), 2)]
    return {(len(batch), *(round_up(int(lengths[list(batch)].max()), multiple) for lengths, multiple in pairs))
            for batch in batches}
