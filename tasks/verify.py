"""Prove this machine runs what pixi.lock promised.

    pixi run verify                      # table; add -- --json for machine-readable output
    python -m tasks.verify [--json] [--quick] [--lock PATH]

Checks installed versions against pixi.lock (pixi env, or a tasks.venv env via its
coaxial-venv.json), the espeak-ng data path's length (macOS's espeak-ng cuts it at 159 bytes),
the accelerator the environment promises, the CUDA arch in the torch build, the in-process patches,
the chosen precision, the alignment kernel and (unless --quick) one real training step of a tiny
VITS on the chosen device and precision.
Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.verify", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help='print {"checks": [...]} instead of a table')
    parser.add_argument("--quick", action="store_true", help="skip the training step (a few seconds)")
    parser.add_argument("--lock", type=Path, default=None,
                        help="pixi.lock to compare with (default: the project's)")
    parser.add_argument("--record", type=Path, default=None,
                        help="tasks.venv record (default: <sys.prefix>/coaxial-venv.json when present)")
    parser.add_argument("--accelerator", default=None, help="cpu, cuda or mps (default: the policy's choice)")
    parser.add_argument("--precision", default=None, help="Lightning precision, e.g. 32-true, bf16-mixed")
    args = parser.parse_args(argv)

    from utils.checks import format_table
    from utils.machine.precision_policy import ACCELERATORS, PRECISIONS
    from utils.machine.verify_checks import run_checks

    if args.accelerator is not None and args.accelerator.lower() not in ACCELERATORS:
        print(f"error: --accelerator {args.accelerator!r}: use one of {', '.join(ACCELERATORS)}",
              file=sys.stderr)
        return 2
    if args.precision is not None and args.precision not in PRECISIONS:
        print(f"error: --precision {args.precision!r}: use one of {', '.join(PRECISIONS)}", file=sys.stderr)
        return 2
    if args.lock is not None and not args.lock.is_file():
        print(f"error: --lock {args.lock}: no such file", file=sys.stderr)
        return 2
    if args.record is not None and not args.record.is_file():
        print(f"error: --record {args.record}: no such file", file=sys.stderr)
        return 2

    def progress(step: str) -> None:
        print(f"verify: {step} ...", file=sys.stderr, flush=True)

    try:
        checks = run_checks(quick=args.quick, lock_path=args.lock, record_path=args.record,
                            accelerator=args.accelerator, precision=args.precision, progress=progress)
    except ValueError as exc:  # unreadable tasks.venv record: names the file and the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        print(format_table(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
