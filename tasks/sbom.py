"""Write a CycloneDX SBOM per environment and platform of pixi.lock, with pixi-sbom.

    pixi run sbom                         # sbom/sbom-<environment>-<platform>.cdx.json
    pixi run sbom --format spdx --output /tmp/sboms

Same as `python -m tasks.sbom [--format cyclonedx|spdx] [--output DIR] [--lock PATH]`. Offline:
only what pixi.lock records is used (PyPI names from its purls, no license lookups). The folder is
replaced whole, and only once every document is written; `sbom/` is ignored by git. The CUDA
platforms keep the lock's names for them (p1: linux-64-cuda, p2: win-64-cuda).
Exit codes: 0 written, 1 pixi-sbom failed (nothing replaced), 2 pixi-sbom or the lock is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from utils.lock.lockfile import DEFAULT_LOCK, REPO_ROOT
from utils.programs import installed_program

MISSING = ("pixi-sbom is not installed in this environment: `pixi install` (the default environment "
           "carries it), or `python3 -m tasks.venv .venv` for the path without pixi")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.sbom", description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("cyclonedx", "spdx"), default="cyclonedx",
                        help="CycloneDX 1.6 or SPDX 2.3 JSON (default cyclonedx)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "sbom", metavar="DIR",
                        help="the folder to (re)write (default: sbom/ in the repository)")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, metavar="PATH", help="default: %(default)s")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    program = installed_program("pixi-sbom")
    if program is None:
        print(f"error: {MISSING}", file=sys.stderr)
        return 2
    if not args.lock.is_file():
        print(f"error: {args.lock}: no such lock", file=sys.stderr)
        return 2
    output = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        done = subprocess.run([program, "--lockfile", str(args.lock), "--all-environments", "--all-platforms",
                               "--format", args.format, "--pypi-mapping", "lock", "--output", str(staging)],
                              capture_output=True, text=True)
        written = sorted(staging.glob("*.json"))
        if done.returncode != 0 or not written:
            print(f"error: pixi-sbom failed (exit {done.returncode}); {output} left as it was\n{done.stderr}",
                  file=sys.stderr)
            return 1
        old = output.with_name(f".{output.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if output.exists():
            output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {len(written)} {args.format} SBOM(s) to {output}:")
    for path in written:
        print(f"  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
