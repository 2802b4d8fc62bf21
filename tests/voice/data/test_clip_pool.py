"""The per-clip process pool: input order kept, errors and dead workers reach the caller."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from utils.voice.data.clip_pool import in_worker, map_clips


def _square_and_where(value: int) -> tuple[int, int, bool]:
    return value * value, os.getpid(), in_worker()


def _fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError(f"clip {value} is broken")
    return value


def _die_on_three(value: int) -> int:
    if value == 3:
        os._exit(9)  # what the out-of-memory killer leaves behind
    return value


def test_results_come_back_in_input_order_from_other_processes():
    results = list(map_clips(_square_and_where, range(40), workers=2))
    assert [r[0] for r in results] == [v * v for v in range(40)]
    assert all(r[2] for r in results) and os.getpid() not in {r[1] for r in results}


def test_one_worker_runs_in_this_process():
    assert {r[1:] for r in map_clips(_square_and_where, range(5), workers=1)} == {(os.getpid(), False)}


def test_an_error_in_a_worker_is_raised_here():
    with pytest.raises(ValueError, match="clip 3 is broken"):
        list(map_clips(_fail_on_three, range(8), workers=2))


def test_a_worker_that_dies_stops_the_loop_instead_of_hanging():
    with pytest.raises(BrokenProcessPool):
        list(map_clips(_die_on_three, range(8), workers=2))
