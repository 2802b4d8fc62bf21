"""The on-device torch alignment search gives the brute-force reference's path, ties included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.machine.mas_torch import maximum_path_torch
from utils.machine.monotonic_align import maximum_path_reference


def _case(seed: int):
    rng = np.random.default_rng(seed)
    b, t_y_max, t_x_max = int(rng.integers(1, 6)), int(rng.integers(1, 60)), int(rng.integers(1, 25))
    if seed % 3 == 0:  # small integers: many equal scores, so the tie rule decides the path
        values = rng.integers(-3, 1, size=(b, t_y_max, t_x_max)).astype(np.float32)
    else:
        values = (rng.standard_normal((b, t_y_max, t_x_max)) * 5).astype(np.float32)
    t_ys = rng.integers(1, t_y_max + 1, size=b)
    t_ys[0] = t_y_max
    t_xs = np.array([rng.integers(1, min(ty, t_x_max) + 1) for ty in t_ys])
    mask = torch.zeros(b, t_y_max, t_x_max)
    for i in range(b):
        mask[i, :t_ys[i], :t_xs[i]] = 1
    return values, t_ys, t_xs, mask


@pytest.mark.parametrize("seed", range(24))
def test_torch_kernel_matches_bruteforce_reference(seed):
    values, t_ys, t_xs, mask = _case(seed)
    want = np.zeros(values.shape, dtype=np.int32)
    maximum_path_reference(want, values.copy(), t_ys, t_xs)
    got = maximum_path_torch(torch.from_numpy(values), mask)
    np.testing.assert_array_equal(got.numpy().astype(np.int32), want)


def test_keeps_dtype_and_leaves_the_input_alone():
    values, _, _, mask = _case(4)
    scores = torch.from_numpy(values).double()
    before = scores.clone()
    path = maximum_path_torch(scores, mask.double())
    assert path.dtype == torch.float64 and path.shape == scores.shape
    assert torch.equal(scores, before)


def test_a_path_where_the_length_is_all_frames_at_most_one_per_frame():
    # Real-sized item: 400 frames, 90 phonemes; each frame on exactly one phoneme, monotonic.
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 400, 90, generator=g)
    mask = torch.ones(2, 400, 90)
    mask[1, 300:] = 0
    mask[1, :, 70:] = 0
    path = maximum_path_torch(scores, mask)
    assert path[0].sum(1).tolist() == [1.0] * 400
    assert path[1, :300].sum(1).tolist() == [1.0] * 300 and path[1, 300:].sum() == 0
    steps = torch.diff(path[1, :300, :70].argmax(1))
    assert set(steps.tolist()) <= {0, 1} and path[1, :300, :70].sum(0).min() >= 1
