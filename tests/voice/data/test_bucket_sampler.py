"""Batches by length: every clip once per epoch, fair DDP shares, shuffled, deterministic, less padding."""

from __future__ import annotations

import numpy as np
import pytest

from utils.voice.data.bucket_sampler import (
    BucketBatchSampler,
    batch_shapes,
    padding_fraction,
    random_batches,
    round_up,
)


def _spread(n: int, seed: int = 3) -> np.ndarray:
    """Spectrogram frames of clips of 1-10 s at 22050 Hz, hop 256: a typical recorded dataset."""
    return (np.random.default_rng(seed).uniform(1, 10, n) * 22050 / 256).astype(int)


@pytest.mark.parametrize(("n", "batch_size", "world"), [(400, 16, 1), (401, 16, 1), (37, 4, 3), (9, 8, 2), (5, 2, 5)])
def test_every_clip_exactly_once_per_epoch_across_all_ranks(n, batch_size, world):
    lengths = _spread(n)
    for epoch in range(3):
        seen = []
        counts = set()
        for rank in range(world):
            sampler = BucketBatchSampler(lengths, batch_size, seed=7, num_replicas=world, rank=rank)
            sampler.set_epoch(epoch)
            batches = list(sampler)
            counts.add(len(batches))
            assert len(batches) == len(sampler)
            assert all(1 <= len(b) <= batch_size for b in batches)
            seen.extend(i for b in batches for i in b)
        assert sorted(seen) == list(range(n))       # once each: disjoint shares that cover everything
        assert len(counts) == 1                     # the same number of batches on every rank


def test_batch_sizes_differ_by_at_most_one_instead_of_a_ragged_last_batch():
    sampler = BucketBatchSampler(_spread(401), 16)
    sizes = {len(b) for b in sampler}
    assert sizes <= {15, 16} and len(sampler) == 26


def test_same_seed_and_epoch_give_the_same_plan_and_others_do_not():
    lengths = _spread(300)
    a, b = BucketBatchSampler(lengths, 16, seed=1), BucketBatchSampler(lengths, 16, seed=1)
    assert a.epoch_batches(4) == b.epoch_batches(4)
    assert a.epoch_batches(4) != a.epoch_batches(5)
    assert a.epoch_batches(4) != BucketBatchSampler(lengths, 16, seed=2).epoch_batches(4)


def test_batches_are_shuffled_between_and_within_buckets_from_epoch_to_epoch():
    lengths = _spread(400)
    sampler = BucketBatchSampler(lengths, 16, seed=0)
    first, second = sampler.epoch_batches(0), sampler.epoch_batches(1)
    # between: the order of batches is not the length order, and changes with the epoch
    longest = [int(lengths[b].max()) for b in first]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    assert [int(lengths[b].max()) for b in second] != longest
    # within: clips meet other clips of their bucket in another epoch
    partners = [{frozenset(b) for b in epoch} for epoch in (first, second)]
    assert len(partners[0] & partners[1]) < len(first) // 4


def test_padding_is_far_below_random_batches_on_a_spread_of_lengths():
    lengths = _spread(400)
    bucketed = np.mean([padding_fraction(BucketBatchSampler(lengths, 16, seed=0).epoch_batches(e), lengths, 16)
                        for e in range(5)])
    random = np.mean([padding_fraction(random_batches(400, 16, seed=e), lengths) for e in range(5)])
    assert random > 0.3 and bucketed < random / 2


def test_shapes_repeat_once_lengths_are_rounded():
    lengths = _spread(400)
    phonemes = (lengths * 0.17).astype(int) + 3
    sampler = BucketBatchSampler(lengths, 16, seed=0)
    early = set().union(*(batch_shapes(sampler.epoch_batches(e), lengths, 16, phonemes, 8) for e in range(5)))
    late = set().union(*(batch_shapes(sampler.epoch_batches(e), lengths, 16, phonemes, 8) for e in range(5, 10)))
    random_late = set().union(*(batch_shapes(random_batches(400, 16, seed=e), lengths, 1, phonemes, 1)
                                for e in range(5, 10)))
    assert len(late - early) <= len(late) // 4        # mostly shapes seen before
    assert len(late) < len(random_late) / 2


def test_lightning_advances_the_epoch_through_the_loader():
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    sampler = BucketBatchSampler(_spread(40), 4, seed=0)
    loader = DataLoader(list(range(40)), batch_sampler=sampler)
    _set_sampler_epoch(loader, 3)
    assert sampler.epoch == 3 and [b.tolist() for b in loader] == sampler.epoch_batches(3)


@pytest.mark.parametrize(("n", "batch_size", "world"), [(37, 4, 1), (37, 4, 3), (28, 2, 2)])
def test_a_sampler_restored_mid_epoch_yields_exactly_the_rest_of_each_ranks_share_in_order(n, batch_size, world):
    lengths = _spread(n)
    for rank in range(world):
        uninterrupted = BucketBatchSampler(lengths, batch_size, seed=5, num_replicas=world, rank=rank)
        uninterrupted.set_epoch(2)
        share = list(uninterrupted)
        for stop_after in (1, len(share) // 2, len(share) - 1):
            stopped = BucketBatchSampler(lengths, batch_size, seed=5, num_replicas=world, rank=rank)
            stopped.set_epoch(2)
            stopped.position = stop_after  # what ResumableLoader counts as batches trained
            resumed = BucketBatchSampler(lengths, batch_size, seed=5, num_replicas=world, rank=rank)
            assert resumed.load_state_dict(stopped.state_dict()) is None
            resumed.set_epoch(2)  # Lightning sets the restored epoch again: that must not restart it
            assert share[:stop_after] + list(resumed) == share
            resumed.set_epoch(3)  # the next epoch is whole again
            assert list(resumed) == uninterrupted.epoch_batches(3)[rank::world]


def test_a_state_saved_at_the_end_of_an_epoch_resumes_at_the_start_of_the_next():
    sampler = BucketBatchSampler(_spread(20), 4, seed=1)
    sampler.set_epoch(4)
    sampler.position = len(sampler)
    resumed = BucketBatchSampler(_spread(20), 4, seed=1)
    resumed.load_state_dict(sampler.state_dict())
    assert resumed.epoch == 5 and list(resumed) == sampler.epoch_batches(5)


def test_a_changed_plan_restarts_the_saved_epoch_and_says_why():
    saved = BucketBatchSampler(_spread(20), 4, seed=1)
    saved.set_epoch(2)
    saved.position = 3
    for changed in (BucketBatchSampler(_spread(20), 4, seed=2), BucketBatchSampler(_spread(21), 4, seed=1),
                    BucketBatchSampler(_spread(20), 4, seed=1, num_replicas=2)):
        note = changed.load_state_dict(saved.state_dict())
        assert note and "epoch 2 starts again from its first batch" in note
        assert changed.epoch == 2 and list(changed) == changed.epoch_batches(2)[::changed.num_replicas]


@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_counts_the_batches_it_handed_out_and_a_new_loader_continues_after_them(workers):
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from lightning.pytorch.utilities.combined_loader import CombinedLoader

    from utils.voice.data.length_batches import resumable_loader_class

    lengths = _spread(30)
    loader_class = resumable_loader_class()

    def make_loader():
        sampler = BucketBatchSampler(lengths, 3, seed=9)
        return loader_class(list(range(30)), batch_sampler=sampler, num_workers=workers)

    first = make_loader()
    _set_sampler_epoch(first, 1)
    batches = iter(first)
    taken = [next(batches).tolist() for _ in range(4)]  # workers have fetched more than these by now
    state = first.state_dict()
    assert state["bucket_sampler"]["position"] == 4 and state["bucket_sampler"]["epoch"] == 1
    del batches

    second = make_loader()
    # Lightning treats a loader with state_dict/load_state_dict as resumable (no warning) and
    # restores it from the checkpoint's loop state before iterating it.
    CombinedLoader(second)._load_state_dicts([state])
    _set_sampler_epoch(second, 1)
    rest = [b.tolist() for b in second]
    assert taken + rest == first.batch_sampler.epoch_batches(1)
    assert second.state_dict()["bucket_sampler"]["position"] == len(second)


def test_refuses_more_devices_than_clips_and_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="use fewer devices or more clips"):
        BucketBatchSampler([100, 200], 2, num_replicas=3, rank=0)
    with pytest.raises(ValueError, match="no clips left to train on"):
        BucketBatchSampler([], 2)
    with pytest.raises(ValueError, match="rank 2"):
        BucketBatchSampler([100, 200, 300], 2, num_replicas=2, rank=2)


def test_round_up():
    assert [round_up(v, 16) for v in (1, 16, 17, 32)] == [16, 16, 32, 32]
    assert round_up(7, 1) == 7
