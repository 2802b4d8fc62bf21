"""Check pixi.lock against pixi-policy.toml with pixi-policy, a checker we did not write.

    pixi run policy                       # findings, then a summary line; exit 1 on any error
    pixi run policy --format sarif --output policy.sarif

Same as `python -m tasks.policy [--format text|json|sarif] [--output FILE] [--lock PATH]`. First
the policy's [bans] are compared with utils/lock/known_bad.py (the one table of releases that
must never be locked); then `pixi-policy check` reads the lock. Exit codes: 0 nothing failed,
1 a finding is an error, 2 the policy disagrees with known_bad.py, or an input or pixi-policy
itself is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from utils.lock.lockfile import DEFAULT_LOCK, REPO_ROOT
from utils.lock.policy_file import POLICY_FILE, PolicyFileError, disagreements
from utils.programs import installed_program

MISSING = ("pixi-policy is not installed in this environment: `pixi install` (the default environment "
           "carries it), or `python3 -m tasks.venv .venv` for the path without pixi")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.policy", description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                        help="the report's format (default text)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report to FILE")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, metavar="PATH",
                        help="check this lock instead of the workspace's (a copy of pixi.toml and "
                             "pixi-policy.toml is made beside it)")
    parser.add_argument("--policy", type=Path, default=POLICY_FILE, metavar="FILE", help="default: %(default)s")
    return parser


def _workspace(lock: Path, policy: Path, scratch: Path) -> Path:
    """The folder pixi-policy reads: the repository, or for another lock a copy beside it."""
    if lock.resolve() == DEFAULT_LOCK.resolve() and policy.resolve() == POLICY_FILE.resolve():
        return REPO_ROOT
    shutil.copy(REPO_ROOT / "pixi.toml", scratch / "pixi.toml")
    shutil.copy(lock, scratch / "pixi.lock")
    shutil.copy(policy, scratch / "pixi-policy.toml")
    return scratch


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        differ = disagreements(args.policy)
    except PolicyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if differ:
        print("error: the policy and the known-bad table disagree:\n  " + "\n  ".join(differ), file=sys.stderr)
        return 2
    if not args.lock.is_file():
        print(f"error: {args.lock}: no such lock", file=sys.stderr)
        return 2
    program = installed_program("pixi-policy")
    if program is None:
        print(f"error: {MISSING}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="policy-") as scratch:
        workspace = _workspace(args.lock, args.policy, Path(scratch))
        command = [program, "check", "--manifest-path", str(workspace / "pixi.toml"),
                   "--policy", str(workspace / "pixi-policy.toml"), "--format", args.format, "--color", "never"]
        if args.output:
            command += ["--output", str(args.output.resolve())]
        return subprocess.run(command, cwd=workspace).returncode


if __name__ == "__main__":
    sys.exit(main())
