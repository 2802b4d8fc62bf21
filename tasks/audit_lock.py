"""Audit pixi.lock: format 7, hashes, purls, coverage of pixi.toml, solve groups, CUDA/CPU/MPS builds, exports.

    pixi run audit-lock               # table of checks; exit 1 if any fails
    pixi run audit-lock --json        # the same as a JSON list (used by verify and CI)

Same as `python -m tasks.audit_lock [--json] [--lock PATH] [--manifest PATH] [--environments DIR]`.
Exit codes: 0 every check passed (or was skipped with a reason), 1 a check failed, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from utils.lock.audit import ManifestError, format_table, run_audit
from utils.lock.exports import ENVIRONMENTS_DIR
from utils.lock.lockfile import DEFAULT_LOCK, REPO_ROOT, LockError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit-lock", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="default: %(default)s")
    parser.add_argument("--manifest", type=Path, default=REPO_ROOT / "pixi.toml", help="default: %(default)s")
    parser.add_argument("--environments", type=Path, default=ENVIRONMENTS_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)

    try:
        checks = run_audit(args.lock, args.manifest, args.environments)
    except (LockError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        print(format_table(checks))
        print(
            f"\n{len(checks) - len(failed)} of {len(checks)} checks passed"
            + (f"; FAILED: {', '.join(sorted({f'{c.name} ({c.scope})' for c in failed}))}" if failed else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
