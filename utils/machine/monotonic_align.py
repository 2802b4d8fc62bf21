"""Monotonic alignment search (MAS) for VITS, in numpy: no C compiler, no Cython build.

piper-tts 1.8.0 ships ``piper/train/vits/monotonic_align/__init__.py`` which imports
``maximum_path_c`` from a Cython extension the wheel does not contain. This module provides a
drop-in replacement with the same in-place contract, plus ``maximum_path`` with the torch-level
signature piper's models call.

Layout (as in piper): values/paths are ``[batch, t_y, t_x]`` where ``t_y`` is the spectrogram
frame axis and ``t_x`` the text (phoneme) axis. The dynamic program runs row by row over frames;
each row is computed for every batch item and every text position at once, so the Python loop
has ``max(t_y)`` iterations whatever the batch size or text length.

Semantics follow the reference kernel exactly, including float32 accumulation, the ``-1e9``
"impossible" value, the band ``max(0, t_x + y - t_y) <= x <= min(t_x - 1, y)`` outside which
cells are left untouched, and the strict ``<`` tie rule of the backtrack (ties stay on the
same phoneme). ``tests/test_monotonic_align.py`` checks this against a brute-force loop.
"""

from __future__ import annotations

import numpy as np

MAX_NEG_VAL = np.float32(-1e9)


def maximum_path_c(paths: np.ndarray, values: np.ndarray, t_ys: np.ndarray, t_xs: np.ndarray) -> None:
    """Fill ``paths`` (int32 ``[b, t_y, t_x]``, zeros) with the most likely monotonic alignment.

    ``values`` (float32 ``[b, t_y, t_x]``) is overwritten with the accumulated scores, as the
    Cython original does; ``t_ys``/``t_xs`` hold each item's valid frame and text lengths.
    """
    if paths.shape != values.shape or paths.ndim != 3:
        raise ValueError(f"paths {paths.shape} and values {values.shape} must be equal [b, t_y, t_x] shapes")
    b, t_y_max, t_x_max = values.shape
    if b == 0 or t_y_max == 0 or t_x_max == 0:
        return
    t_ys = np.asarray(t_ys, dtype=np.int64).reshape(b)
    t_xs = np.asarray(t_xs, dtype=np.int64).reshape(b)
    if values.dtype != np.float32:
        raise TypeError(f"values must be float32, got {values.dtype}")

    # Work frame-major ([t_y, b, t_x]) so each row of the recurrence is one contiguous block.
    vals = np.ascontiguousarray(values.transpose(1, 0, 2))
    ys = np.arange(t_y_max)[:, None, None]
    x = np.arange(t_x_max)[None, None, :]
    # Cells the reference kernel visits: max(0, t_x - t_y + y) <= x < min(t_x, y + 1), y < t_y.
    band = ((x >= (t_xs - t_ys)[None, :, None] + ys) & (x < np.minimum(t_xs[None, :, None], ys + 1))
            & (ys < t_ys[None, :, None]))

    cand = np.empty((b, t_x_max), dtype=np.float32)
    # Row 0 has no predecessor: only x == 0 is reachable, with v_prev = 0 (and v_cur = -1e9).
    cand.fill(MAX_NEG_VAL)
    cand[:, 0] = 0.0
    np.add(vals[0], cand, out=vals[0], where=band[0])
    for y in range(1, t_y_max):
        prev = vals[y - 1]
        # max(v_prev, v_cur) = max(prev[x - 1], prev[x]); x == 0 has no v_prev, x == y no v_cur.
        np.maximum(prev[:, :-1], prev[:, 1:], out=cand[:, 1:])
        np.maximum(prev[:, 0], MAX_NEG_VAL, out=cand[:, 0])
        if y < t_x_max:
            np.maximum(prev[:, y - 1], MAX_NEG_VAL, out=cand[:, y])
        np.add(vals[y], cand, out=vals[y], where=band[y])

    # Backtrack decisions for every cell at once: step to the previous phoneme when on the
    # diagonal or when it scored strictly higher in the previous frame (ties stay).
    step = np.zeros((t_y_max, b, t_x_max), dtype=bool)
    step[1:, :, 1:] = vals[:-1, :, 1:] < vals[:-1, :, :-1]
    diag = np.arange(1, min(t_y_max, t_x_max))
    step[diag, :, diag] = True

    rows = np.arange(b)
    index = t_xs - 1
    out = np.zeros((t_y_max, b, t_x_max), dtype=paths.dtype)
    for y in range(t_y_max - 1, -1, -1):
        active = (y < t_ys) & (index >= 0)
        safe = np.maximum(index, 0)
        out[y, rows, safe] = active
        index = index - (active & step[y, rows, safe])
    paths[...] = out.transpose(1, 0, 2)
    values[...] = vals.transpose(1, 0, 2)


def maximum_path(neg_cent, mask):
    """Torch-level entry: ``neg_cent`` and ``mask`` are ``[b, t_t, t_s]`` tensors (any device).

    Returns the hard alignment as a tensor of ``neg_cent``'s dtype and device, like piper's
    ``monotonic_align.maximum_path``.
    """
    import torch

    device, dtype = neg_cent.device, neg_cent.dtype
    values = neg_cent.detach().to("cpu", torch.float32).numpy().copy()
    paths = np.zeros(values.shape, dtype=np.int32)
    # Same length extraction as piper: frames are counted down axis 1, phonemes along axis 2.
    t_ys = mask.sum(1)[:, 0].detach().cpu().numpy().astype(np.int32)
    t_xs = mask.sum(2)[:, 0].detach().cpu().numpy().astype(np.int32)
    maximum_path_c(paths, values, t_ys, t_xs)
    return torch.from_numpy(paths).to(device=device, dtype=dtype)


def maximum_path_reference(paths: np.ndarray, values: np.ndarray, t_ys: np.ndarray, t_xs: np.ndarray,
                           max_neg_val=np.float32(-1e9)) -> None:
    """Element-by-element transliteration of VITS' Cython `maximum_path_each`, float32 throughout.

    Too slow to train with; it is the yardstick the tests and benchmarks hold maximum_path_c to.
    Same in-place contract as maximum_path_c.
    """
    for i in range(values.shape[0]):
        path, value, t_y, t_x = paths[i], values[i], int(t_ys[i]), int(t_xs[i])
        for y in range(t_y):
            for x in range(max(0, t_x + y - t_y), min(t_x, y + 1)):
                v_cur = max_neg_val if x == y else value[y - 1, x]
                if x == 0:
                    v_prev = np.float32(0.0) if y == 0 else max_neg_val
                else:
                    v_prev = value[y - 1, x - 1]
                value[y, x] = np.float32(value[y, x] + max(v_prev, v_cur))
        index = t_x - 1
        for y in range(t_y - 1, -1, -1):
            path[y, index] = 1
            if y > 0 and index != 0 and (index == y or value[y - 1, index] < value[y - 1, index - 1]):
                index -= 1
