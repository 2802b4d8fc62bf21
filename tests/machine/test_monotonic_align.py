"""The numpy MAS kernel matches a direct transliteration of the VITS Cython kernel."""

from __future__ import annotations

import numpy as np
import pytest

from utils.machine.monotonic_align import maximum_path, maximum_path_c, maximum_path_reference


def _reference(values, t_ys, t_xs):
    values = values.copy()
    paths = np.zeros(values.shape, dtype=np.int32)
    maximum_path_reference(paths, values, t_ys, t_xs)
    return paths, values


def _random_case(rng, b, t_y_max, t_x_max, ties=False):
    if ties:
        values = rng.integers(-3, 1, size=(b, t_y_max, t_x_max)).astype(np.float32)
    else:
        values = rng.standard_normal((b, t_y_max, t_x_max)).astype(np.float32) * 5
    t_ys = rng.integers(1, t_y_max + 1, size=b).astype(np.int32)
    t_ys[0] = t_y_max
    t_xs = np.array([rng.integers(1, min(ty, t_x_max) + 1) for ty in t_ys], dtype=np.int32)
    return values, t_ys, t_xs


@pytest.mark.parametrize("seed", range(12))
def test_kernel_matches_bruteforce_reference_on_random_batches(seed):
    rng = np.random.default_rng(seed)
    values, t_ys, t_xs = _random_case(rng, b=int(rng.integers(1, 6)), t_y_max=int(rng.integers(1, 60)),
                                      t_x_max=int(rng.integers(1, 25)), ties=seed % 3 == 0)
    want_paths, want_values = _reference(values, t_ys, t_xs)
    got_values = values.copy()
    got_paths = np.zeros(values.shape, dtype=np.int32)
    maximum_path_c(got_paths, got_values, t_ys, t_xs)
    np.testing.assert_array_equal(got_paths, want_paths)
    np.testing.assert_array_equal(got_values, want_values)


def test_alignment_is_monotonic_and_covers_every_frame_and_phoneme():
    rng = np.random.default_rng(7)
    values, t_ys, t_xs = _random_case(rng, b=4, t_y_max=80, t_x_max=30)
    paths = np.zeros(values.shape, dtype=np.int32)
    maximum_path_c(paths, values.copy(), t_ys, t_xs)
    for i in range(4):
        ty, tx = int(t_ys[i]), int(t_xs[i])
        valid = paths[i, :ty, :tx]
        assert valid.sum(axis=1).tolist() == [1] * ty  # one phoneme per frame
        assert (valid.sum(axis=0) >= 1).all()  # every phoneme gets a frame
        steps = np.diff(valid.argmax(axis=1))
        assert set(steps.tolist()) <= {0, 1}
        assert paths[i].sum() == ty  # nothing written outside the valid lengths


def test_torch_entry_point_accepts_piper_shapes_and_keeps_dtype():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(3)
    neg_cent = torch.randn(2, 40, 12, generator=g, dtype=torch.float64)
    mask = torch.zeros(2, 40, 12)
    mask[0, :40, :12] = 1
    mask[1, :25, :9] = 1
    attn = maximum_path(neg_cent, mask)
    assert attn.dtype == torch.float64 and attn.shape == neg_cent.shape
    want, _ = _reference(neg_cent.float().numpy(), np.array([40, 25]), np.array([12, 9]))
    np.testing.assert_array_equal(attn.numpy().astype(np.int32), want)
