"""Padding and repeating shapes: piper's random batches against batches by length, on real lengths.

    python -m benchmarks.bench_padding [--clips 400] [--batch-size 16] [--epochs 10]

Builds bench_prepare's dataset (clips of 1-10 s of the sample's speech), prepares piper's cache
for it at 22050 Hz and reads every clip's real spectrogram frames and phoneme ids. For piper's
random batches and for ``BucketBatchSampler`` (several bucket widths) prints the padding fraction
(padded / all spectrogram frames, mean over epochs), the distinct batch shapes (batch, phoneme ids,
frames) of epoch 0 and of all epochs, and the shapes first seen in the second half of the epochs:
each new shape makes cuDNN's autotuner (``cudnn.benchmark``) benchmark again.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def real_lengths(clips: int, root: Path) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from benchmarks.bench_prepare import feature_datamodule, make_dataset
    from utils.voice.data.audio_prep import prepare_dataset
    from utils.voice.data.dataset import validate_dataset
    from utils.voice.data.feature_cache import prepare_features

    prepared = prepare_dataset(validate_dataset(make_dataset(root, clips)), root / "cache", progress=False)
    prepare_features(feature_datamodule(prepared, root / "features"), progress=True)
    clips = [str(p)[:-len(".spec.pt")] for p in (root / "features").glob("*.spec.pt")]
    frames = [torch.load(f"{clip}.spec.pt", mmap=True, weights_only=True).size(1) for clip in clips]
    ids = [torch.load(f"{clip}.phonemes.pt", weights_only=True).numel() for clip in clips]
    return np.array(frames), np.array(ids)


def main(argv: list[str] | None = None) -> int:
    from utils.voice.data.bucket_sampler import BucketBatchSampler, batch_shapes, padding_fraction, random_batches
    from utils.voice.data.length_batches import PHONEME_MULTIPLE, SPEC_MULTIPLE

    parser = argparse.ArgumentParser(prog="bench_padding", description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-padding-") as tmp:
        frames, ids = real_lengths(args.clips, Path(tmp))
    print(f"{len(frames)} clips: {frames.min()}-{frames.max()} frames ({frames.min() * 256 / 22050:.1f}-"
          f"{frames.max() * 256 / 22050:.1f} s), {ids.min()}-{ids.max()} phoneme ids; batch {args.batch_size}, "
          f"{args.epochs} epochs")
    half = args.epochs // 2
    plans = {"piper random batches": (lambda e: random_batches(len(frames), args.batch_size, seed=e), 1, 1)}
    for width in (1, 2, 3, 4, 8):
        sampler = BucketBatchSampler(frames, args.batch_size, seed=0, bucket_batches=width)
        plans[f"by length, bucket {width} batches"] = (sampler.epoch_batches, SPEC_MULTIPLE, PHONEME_MULTIPLE)
    print(f"{'batches':34} {'padding':>8} {'shapes ep 0':>12} {'all epochs':>11} {'new in 2nd half':>16}")
    for name, (plan, spec_multiple, phoneme_multiple) in plans.items():
        epochs = [plan(e) for e in range(args.epochs)]
        padding = np.mean([padding_fraction(b, frames, spec_multiple) for b in epochs])
        shapes = [batch_shapes(b, ids, phoneme_multiple, frames, spec_multiple) for b in epochs]
        first, second = set().union(*shapes[:half]), set().union(*shapes[half:])
        print(f"{name:34} {padding:8.1%} {len(shapes[0]):12d} {len(first | second):11d} {len(second - first):16d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
