"""Command-line programs that come as wheels (ruff, hadolint, pixi-policy, pixi-sbom): where they are.

A wheel puts its program beside the interpreter of the environment it is installed in, which need
not be on PATH (`.venv/bin/python -m tasks.lint` without activating the venv); that copy, the
locked one, comes first, then PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def installed_program(name: str) -> str | None:
    """The path of program ``name`` in this interpreter's environment, else on PATH, else None."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin", Path(sys.prefix) / "Scripts"):
        for candidate in (folder / name, folder / f"{name}.exe"):
            if candidate.is_file():
                return str(candidate)
    return shutil.which(name)
