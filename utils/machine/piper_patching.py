"""What every patch of piper's code shares: the version it was written for, the error that says
piper changed, and the checks made before a function of piper's is replaced.

A leaf: it imports nothing of the project at module level, so each patching module can use it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect

SUPPORTED_PIPER = "1.8.0"
VITS = "piper.train.vits"


class PiperCompatError(RuntimeError):
    """piper-tts no longer looks like the version these patches were written for."""


def piper_version() -> str:
    try:
        return importlib.metadata.version("piper-tts")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def incompatible(patching_module: str, what: str) -> PiperCompatError:
    """The error a patch raises when piper differs from ``SUPPORTED_PIPER``, naming the module
    (``__name__`` of the patch) a maintainer must update."""
    path = patching_module.replace(".", "/") + ".py"
    return PiperCompatError(
        f"piper-tts {piper_version()}: {what}. {path} was written for piper-tts {SUPPORTED_PIPER}; "
        f"pin piper-tts=={SUPPORTED_PIPER} in pixi.toml or update the patch.")


def piper_module(name: str, patching_module: str):
    """``piper.train.vits.<name>``, or the incompatibility error when it cannot be imported."""
    try:
        return importlib.import_module(f"{VITS}.{name}")
    except ImportError as exc:
        raise incompatible(patching_module, f"cannot import {VITS}.{name} ({exc})") from exc


def expect_source(patching_module: str, fn, *snippets: str) -> None:
    """The function a patch replaces must still contain what it replaces (else piper changed)."""
    source = inspect.getsource(getattr(fn, "__coaxial_original__", fn))
    for snippet in snippets:
        if snippet not in source:
            raise incompatible(patching_module, f"{fn.__module__}.{fn.__qualname__} no longer contains {snippet!r}")


def mark_patched(replacement, original):
    """Mark ``replacement`` as the project's (``__coaxial__``), keeping piper's own original."""
    replacement.__coaxial__ = True
    replacement.__coaxial_original__ = getattr(original, "__coaxial_original__", original)
    return replacement
