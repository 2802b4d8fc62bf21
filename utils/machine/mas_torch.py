"""Monotonic alignment search on the training device, in torch: no trip to the host.

piper's ``maximum_path`` copies the attention scores to the host as numpy every batch and the
path back, which on a GPU drains the queue twice per step. This runs the same dynamic program
where the scores already are, one row (spectrogram frame) at a time, every batch item and every
phoneme of that row at once: ``max(t_y)`` small launches per pass, none of which waits for the
device, since no value ever becomes a Python number.

Same result as the Cython/numpy kernels (``utils.machine.monotonic_align``), float32 included:
cells outside an item's band ``max(0, t_x - t_y + y) <= x <= min(t_x - 1, y)`` hold -1e9 here
instead of their untouched input, which changes nothing the recurrence or the backtrack reads
(the only out-of-band cell either reads is ``(y - 1, y)``, which the reference also treats as
-1e9). ``tests/machine/test_mas_torch.py`` holds it to the brute-force reference.
"""

from __future__ import annotations

MAX_NEG_VAL = -1e9


def maximum_path_torch(neg_cent, mask):
    """piper's ``maximum_path(neg_cent [b, t_y, t_x], mask [b, t_y, t_x])`` on ``neg_cent``'s device.

    Returns the hard alignment (0/1) with ``neg_cent``'s dtype and device.
    """
    import torch

    with torch.no_grad():
        return _maximum_path(neg_cent, mask)


def _maximum_path(neg_cent, mask):
    import torch

    b, t_y_max, t_x_max = neg_cent.shape
    device = neg_cent.device
    if b == 0 or t_y_max == 0 or t_x_max == 0:
        return torch.zeros_like(neg_cent)
    # Lengths stay tensors on the device: reading them as ints would be a host sync.
    t_ys = mask.sum(1)[:, 0].to(torch.long)  # frames per item
    t_xs = mask.sum(2)[:, 0].to(torch.long)  # phonemes per item
    values = neg_cent.detach().to(torch.float32).transpose(0, 1).contiguous()  # [t_y, b, t_x]
    ys = torch.arange(t_y_max, device=device)[:, None, None]
    x = torch.arange(t_x_max, device=device)[None, None, :]
    band = ((x >= (t_xs - t_ys)[None, :, None] + ys) & (x <= torch.minimum(t_xs[None, :, None] - 1, ys))
            & (ys < t_ys[None, :, None]))
    # Inputs outside the band become -1e9 up front, so each row is two launches: the max of
    # the two predecessors, and one add that also yields -1e9 (rounded) outside the band.
    values = values.masked_fill(~band, MAX_NEG_VAL)
    acc = torch.empty_like(values)
    # Row 0: only x == 0 is reachable, with a predecessor score of 0.
    first = torch.full((b, t_x_max), MAX_NEG_VAL, dtype=torch.float32, device=device)
    first[:, 0] = 0.0
    torch.add(values[0], first, out=acc[0])
    best = torch.empty((b, t_x_max), dtype=torch.float32, device=device)
    for y in range(1, t_y_max):
        prev = acc[y - 1]
        # max(v_prev, v_cur) = max(acc[y-1, x-1], acc[y-1, x]); x == 0 has only v_cur.
        torch.maximum(prev[:, 1:], prev[:, :-1], out=best[:, 1:])
        best[:, 0] = prev[:, 0]
        torch.add(values[y], best, out=acc[y])
    acc.masked_fill_(~band, MAX_NEG_VAL)

    # Backtrack decisions for every cell at once (as the numpy kernel): step to the previous
    # phoneme on the diagonal or when it scored strictly higher one frame earlier; rows past
    # an item's length never step.
    step = torch.zeros((t_y_max, b, t_x_max), dtype=torch.bool, device=device)
    step[1:, :, 1:] = acc[:-1, :, 1:] < acc[:-1, :, :-1]
    diag = torch.arange(1, min(t_y_max, t_x_max), device=device)
    step[diag, :, diag] = True
    active = ys[:, :, 0] < t_ys[None, :]  # [t_y, b]
    step = (step & active[:, :, None]).to(torch.long)
    index = (t_xs - 1).clamp(min=0)[:, None]  # [b, 1]
    chosen = torch.empty((t_y_max, b, 1), dtype=torch.long, device=device)
    for y in range(t_y_max - 1, -1, -1):
        chosen[y] = index
        index = index - step[y].gather(1, index)
    active = active & (t_xs > 0)[None, :]
    path = torch.zeros((t_y_max, b, t_x_max), dtype=neg_cent.dtype, device=device)
    path.scatter_(2, chosen, active[:, :, None].to(neg_cent.dtype))
    return path.transpose(0, 1).contiguous()
