"""Read many device scalars back to the host in one go, not one wait per value.

Each ``float(tensor)`` on a GPU waits for the device queue to drain. Callers that need Python
numbers for many per-batch values (the run history, the report page, Lightning's loggers) keep
the tensors as they come and read them here, all at once, when the numbers are actually used.
"""

from __future__ import annotations


def host_floats(values: list) -> list[float]:
    """``[float(v) for v in values]`` with at most one host read per device (tensors of any
    dtype with one element; plain numbers pass through)."""
    import torch

    out: list = list(values)
    by_device: dict = {}
    for i, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"value {i} has {value.numel()} elements, not one")
            by_device.setdefault(value.device, []).append(i)
        else:
            out[i] = float(value)
    for indices in by_device.values():
        # float64 keeps every float32/bf16/int value exact; MPS has no float64, so float32 there.
        dtype = torch.float32 if values[indices[0]].device.type == "mps" else torch.float64
        stacked = torch.stack([values[i].detach().reshape(()).to(dtype) for i in indices])
        for i, number in zip(indices, stacked.tolist(), strict=True):
            out[i] = number
    return out


def stack_scalars(values: list):
    """One detached 1-D tensor of the given one-element tensors (a device op, no host read), so a
    caller can keep a batch's metrics as one small tensor until it reads them."""
    import torch

    return torch.stack([v.detach().reshape(()).to(torch.float32) for v in values])
