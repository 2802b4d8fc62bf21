"""Write environments/ (conda-lock files and pip pins) from pixi.lock.

    pixi run export-envs              # rewrite environments/ from pixi.lock
    pixi run export-envs --check      # exit 1, naming each stale file, when environments/ is out of date

Same as `python -m tasks.export_envs [--check] [--lock PATH] [--manifest PATH] [--output DIR]`.
Exit codes: 0 up to date / written, 1 stale (--check) or export failed, 2 unreadable lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.lock.exports import ENVIRONMENTS_DIR, ExportError, render_exports, stale_exports, write_exports
from utils.lock.lockfile import DEFAULT_LOCK, LockError, load_lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export-envs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if environments/ is stale")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="pixi.lock to export (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=ENVIRONMENTS_DIR, help="directory (default: %(default)s)")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="pixi.toml whose requested extras decide the exported edges (default: beside the lock)",
    )
    args = parser.parse_args(argv)

    try:
        lock = load_lock(args.lock)
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"rendering exports of {args.lock} ({len(lock.environment_names())} environments) ...",
        file=sys.stderr,
    )
    try:
        expected = render_exports(lock, manifest=args.manifest)
    except (ExportError, LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.check:
        stale = stale_exports(expected, args.output)
        for diff in stale:
            print(f"stale: {args.output / diff.name}: {diff.problem}")
        if stale:
            print(f"{len(stale)} file(s) in {args.output} do not match {args.lock}; run `pixi run export-envs`")
            return 1
        print(f"{args.output}: {len(expected)} files match {args.lock}")
        return 0

    changed = write_exports(expected, args.output)
    for name in changed:
        print(f"{'wrote' if name in expected else 'removed'} {args.output / name}")
    print(f"{args.output}: {len(expected)} files, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
