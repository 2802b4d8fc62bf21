"""Regenerate the bundled sample dataset (data/sample) with espeak-ng and sox.

    pixi run make-sample            # rewrite data/sample
    pixi run make-sample --check    # regenerate into a temp folder, exit 1 if data/sample differs

Equivalent: ``python -m tasks.make_sample [--output DIR] [--check]``. Needs Debian's
``espeak-ng`` and ``sox`` (``sudo apt-get install espeak-ng sox``; macOS: ``brew install
espeak-ng sox``). The output is byte-for-byte repeatable for a given espeak-ng and sox version
(sox runs in repeatable mode without dither). Exit codes: 0 ok, 1 tools missing or differing
output, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from utils.voice.data.dataset import SAMPLE_DATASET
    from utils.voice.data.sample_data import SampleToolsMissing, compare_trees, generate_sample

    parser = argparse.ArgumentParser(prog="make-sample", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=SAMPLE_DATASET,
                        help=f"folder to (re)write (default: {SAMPLE_DATASET})")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with --output; write nothing")
    args = parser.parse_args(argv)

    try:
        if args.check:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="coaxial-sample-") as tmp:
                fresh = Path(tmp) / "sample"
                generate_sample(fresh, progress=True)
                differences = compare_trees(fresh, args.output)
            if differences:
                print(f"{args.output} differs from a fresh generation:", file=sys.stderr)
                for line in differences[:20]:
                    print(f"  {line}", file=sys.stderr)
                print("Fix: run `pixi run make-sample` (different espeak-ng/sox versions give different "
                      "audio; see data/sample/README.md for the versions used).", file=sys.stderr)
                return 1
            print(f"{args.output} matches a fresh generation.")
            return 0
        info = generate_sample(args.output, progress=True)
    except SampleToolsMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {info.clips} clips, {info.total_seconds:.1f} s, {info.total_bytes / 1e6:.2f} MB to "
          f"{args.output} ({info.tools})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
