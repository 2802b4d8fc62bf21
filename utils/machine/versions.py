"""Which versions of the training stack this interpreter runs."""

from __future__ import annotations

import importlib.metadata
import platform

STACK = ("torch", "lightning", "piper-tts", "onnxruntime")


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (PyPI name), or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def stack_versions(distributions: tuple[str, ...] = STACK) -> dict[str, str | None]:
    """Python and each distribution's version (None: missing), as saved beside every trained voice."""
    return {"python": platform.python_version(), **{d: installed_version(d) for d in distributions}}
