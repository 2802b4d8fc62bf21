"""Device scalars read back in one go equal their one-by-one float() values."""

from __future__ import annotations

import pytest
import torch

from utils.machine.device_values import host_floats, stack_scalars
from utils.machine.host_syncs import SyncCounter


def test_host_floats_equal_float_of_each_with_one_read():
    values = [torch.tensor(1.25), torch.tensor([3], dtype=torch.int64), 4, torch.tensor(0.1, dtype=torch.bfloat16)]
    want = [float(v) for v in values]
    with SyncCounter() as counter:
        got = host_floats(values)
    assert got == want
    assert counter.total == 1


def test_host_floats_refuse_a_tensor_of_many_values():
    with pytest.raises(ValueError, match="value 0 has 2 elements"):
        host_floats([torch.zeros(2)])


def test_stack_scalars_is_a_detached_copy():
    loss = torch.tensor(2.0, requires_grad=True) * 3
    stacked = stack_scalars([loss, torch.tensor([1.0])])
    assert stacked.tolist() == [6.0, 1.0] and not stacked.requires_grad
