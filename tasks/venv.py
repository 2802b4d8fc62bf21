"""Create or update a virtual environment from pixi.lock — the path without pixi.

    python3 -m tasks.venv .venv                    # the lock's torch (downloads a full build)
    python3 -m tasks.venv .venv --torch 2.13.0     # our CI machines: the CPU build on local disk

Installs the lock's `default` environment for this platform (PyPI pins, and the PyPI equivalents
of its conda Python packages), prints every package and every deviation from the lock, and records
both in `<venv>/coaxial-venv.json` for `python -m tasks.verify`. Standard library only.
Exit codes: 0 ok, 1 install failed, 2 bad arguments or unreadable lock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from utils.lock.lockfile import DEFAULT_LOCK, LockError, current_platform, load_lock
from utils.lock.venv_builder import build, format_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.venv", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="where the virtual environment lives (created if missing)")
    parser.add_argument("--torch", metavar="SPEC",
                        help="torch version (e.g. 2.13.0) or specifier to install instead of the lock's")
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
    try:
        record = build(args.path, lock, args.environment, args.platform, args.torch)
    except subprocess.CalledProcessError as exc:
        print(f"error: installing into {args.path} failed ({exc.cmd[0]} exited {exc.returncode}); "
              "pip's message is above", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
