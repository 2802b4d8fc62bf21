"""Which versions of the training stack this interpreter runs."""

from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

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


def release(version: str) -> str:
    """The public release of a version: "2.8.0+cu128" -> "2.8.0". The local label after "+" names a
    build of that release (PyPI's CUDA 12.8 wheel, PyTorch's CPU index), not another release."""
    return version.split("+", 1)[0].strip()


def same_release(a: str | None, b: str | None) -> bool:
    """True when two versions are one release, whatever build labels they carry."""
    return a is not None and b is not None and release(a) == release(b)


_TORCH_VERSION_LINE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.M)
_TORCH_CUDA_LINE = re.compile(r"""^cuda\b[^=]*=\s*(?:['"]([^'"]+)['"]|None)""", re.M)


def torch_build(site_packages: list[Path]) -> dict | None:
    """torch's own idea of its build, read from `torch/version.py` without importing it:
    {"version": "2.8.0+cu128", "cuda": "12.8" or None}; None when torch is not installed there."""
    for site in site_packages:
        path = Path(site) / "torch" / "version.py"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        version = _TORCH_VERSION_LINE.search(text)
        cuda = _TORCH_CUDA_LINE.search(text)
        return {"version": version.group(1) if version else None, "cuda": cuda.group(1) if cuda else None}
    return None
