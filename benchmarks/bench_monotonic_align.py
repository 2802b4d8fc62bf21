"""Speed of the numpy and the on-device torch alignment kernels against a direct Python
transliteration of the Cython one.

    python -m benchmarks.bench_monotonic_align [--repeats N]

Shapes are a training batch's [batch, frames, phonemes]. Prints medians and the speed-up, both
measured in this run; the reference runs once per shape (it is slow), the kernels --repeats times.
The torch kernel (utils.machine.mas_torch, what training uses) runs on CUDA when present.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from utils.machine.monotonic_align import maximum_path_c, maximum_path_reference

SHAPES = ((1, 200, 40), (16, 400, 80), (32, 800, 150))


def _time(fn, values, t_ys, t_xs) -> tuple[float, np.ndarray]:
    paths = np.zeros(values.shape, dtype=np.int32)
    work = values.copy()
    start = time.perf_counter()
    fn(paths, work, t_ys, t_xs)
    return time.perf_counter() - start, paths


def _time_torch(values, t_ys, t_xs) -> tuple[float, np.ndarray]:
    import torch

    from utils.machine.mas_torch import maximum_path_torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    scores = torch.from_numpy(values).to(device)
    mask = torch.zeros(values.shape, device=device)
    for i, (t_y, t_x) in enumerate(zip(t_ys, t_xs, strict=True)):
        mask[i, :t_y, :t_x] = 1
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    path = maximum_path_torch(scores, mask)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, path.cpu().numpy().astype(np.int32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_monotonic_align", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'shape [b, frames, phonemes]':28} {'numpy ms':>10} {'torch ms':>9} {'reference ms':>13} "
          f"{'speed-up':>9}  same")
    for b, t_y, t_x in SHAPES:
        values = rng.standard_normal((b, t_y, t_x)).astype(np.float32)
        t_ys = rng.integers(t_y * 3 // 4, t_y + 1, size=b).astype(np.int32)
        t_xs = rng.integers(t_x * 3 // 4, t_x + 1, size=b).astype(np.int32)
        fast = [_time(maximum_path_c, values, t_ys, t_xs) for _ in range(args.repeats)]
        slow_s, slow_path = _time(maximum_path_reference, values, t_ys, t_xs)
        on_device = [_time_torch(values, t_ys, t_xs) for _ in range(args.repeats)]
        fast_s = statistics.median(t for t, _ in fast)
        torch_s = statistics.median(t for t, _ in on_device)
        same = np.array_equal(fast[0][1], slow_path) and np.array_equal(on_device[0][1], slow_path)
        shape = str([b, t_y, t_x])
        print(f"{shape:28} {fast_s * 1e3:10.1f} {torch_s * 1e3:9.1f} {slow_s * 1e3:13.0f} "
              f"{slow_s / fast_s:8.0f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
