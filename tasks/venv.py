"""Create or update a virtual environment from pixi.lock — the path without pixi.

    python3 -m tasks.venv .venv                    # the lock's torch 2.8.0 from PyPI (Linux: CUDA build, 3.4 GB)
    python3 -m tasks.venv .venv --torch-index https://download.pytorch.org/whl/cpu   # same release, CPU-only
    python3 -m tasks.venv .venv --torch 2.13.0     # another torch (our CI machines have its CPU build on disk)

Installs the lock's `default` environment for this platform (PyPI pins, and the PyPI equivalents
of its conda Python packages). Where the lock has conda-forge's pytorch, PyPI's torch of the same
release goes in its place, with the requirements torch's own metadata pins (its CUDA runtime wheels
on Linux x86_64). Then it imports what training needs in the new venv (torch, lightning, piper.train,
piper's espeak-ng bridge, onnxruntime). Prints every package and every deviation from the lock, and
records both in `<venv>/coaxial-venv.json` for `python -m tasks.verify`. Standard library only.
Exit codes: 0 ok, 1 install or import failed (or the --torch-index cannot be reached), 2 bad arguments
or unreadable lock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from utils.lock.lockfile import DEFAULT_LOCK, LockError, current_platform, load_lock
from utils.lock.venv_builder import build, format_summary, venv_python
from utils.lock.venv_checks import BadIndexAddress, IndexUnreachable, check_torch_index, import_failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.venv", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="where the virtual environment lives (created if missing)")
    parser.add_argument("--torch", metavar="SPEC",
                        help="torch version (e.g. 2.13.0) or specifier to install instead of the lock's")
    parser.add_argument("--torch-index", metavar="URL",
                        help="package index to take torch from, e.g. https://download.pytorch.org/whl/cpu "
                             "(CPU-only wheels, about 200 MB instead of 3.4 GB)")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="pixi.lock to read (default: %(default)s)")
    parser.add_argument("--environment", default="default", help="lock environment (default: %(default)s)")
    parser.add_argument("--platform", default=None,
                        help=f"lock platform (default: this machine, {current_platform()})")
    args = parser.parse_args(argv)

    try:
        lock = load_lock(args.lock)
        lock.packages(args.environment, args.platform or current_platform())
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.torch_index:
        try:  # before anything is written: an index that does not answer leaves no half-made venv
            check_torch_index(args.torch_index)
        except IndexUnreachable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, BadIndexAddress) else 1
    try:
        record = build(args.path, lock, args.environment, args.platform, args.torch, torch_index=args.torch_index)
    except subprocess.CalledProcessError as exc:
        print(f"error: installing into {args.path} failed ({exc.cmd[0]} exited {exc.returncode}); "
              "pip's message is above", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(record))
    checked, failures = import_failures(venv_python(args.path), set(record["installed"]))
    if failures:
        print(f"error: {args.path} was built but cannot train; these imports fail:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        print(f"fix: run `python3 -m tasks.venv {args.path}` again (pip resumes where it stopped); if it still "
              f"fails, delete {args.path} and build it anew, or use pixi (`pixi run train`)", file=sys.stderr)
        return 1
    if checked:
        print(f"{args.path}: {', '.join(checked)} work; train with `{venv_python(args.path)} -m tasks.train`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
