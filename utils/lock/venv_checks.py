"""What tasks.venv checks around an install: that a torch index answers before anything is written,
and that the finished environment imports what training needs.

Standard library only: this runs in the interpreter that creates the venv, before anything is installed.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

# PyTorch's CPU-only wheels: about 200 MB for Linux x86_64 instead of PyPI's CUDA build (about 3.4 GB
# with its nvidia-* runtime wheels).
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


class IndexUnreachable(RuntimeError):
    """A --torch-index that cannot be used; the message names the address and the fix."""


class BadIndexAddress(IndexUnreachable):
    """A --torch-index that is no address at all (a bad argument, not a network problem)."""


def check_torch_index(url: str, timeout: float = 20.0) -> None:
    """Raise IndexUnreachable unless `url` is a package index (PEP 503) that lists torch."""
    fix = ("check the address and this machine's network, or leave --torch-index out to take torch "
           "from PyPI (the full CUDA build on Linux x86_64)")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if not (Path(parsed.path) / "torch").is_dir():
            raise IndexUnreachable(f"--torch-index {url}: {parsed.path}/torch is not a folder; {fix}")
        return
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadIndexAddress(f"--torch-index {url}: not an http(s):// or file:// address; "
                               f"e.g. --torch-index {PYTORCH_CPU_INDEX}")
    page = url.rstrip("/") + "/torch/"
    try:
        with urllib.request.urlopen(urllib.request.Request(page, method="GET"), timeout=timeout) as resp:
            resp.read(1)
    except urllib.error.HTTPError as exc:
        raise IndexUnreachable(f"--torch-index {url}: {page} answered HTTP {exc.code}; an index must list "
                               f"torch at <index>/torch/; {fix}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexUnreachable(f"--torch-index {url}: cannot be reached ({reason}); {fix}") from None


# Import name -> the lock's distribution that provides it; checked only where the lock has it.
TRAINING_IMPORTS = (
    ("torch", "torch"),
    ("lightning", "lightning"),
    ("onnxruntime", "onnxruntime"),
    ("piper.train", "piper-tts"),
)
# piper's espeak-ng bridge (a compiled module in the wheel): phonemize one word, as training does.
_ESPEAK = ("from piper.phonemize_espeak import EspeakPhonemizer; "
           "assert EspeakPhonemizer().phonemize('en-us', 'hello')[0], 'no phonemes for hello'")


def import_failures(py: Path, distributions: set[str], timeout: float = 600.0) -> tuple[list[str], list[str]]:
    """Import each training module the venv's lock pins (one fresh interpreter each, so one failure
    cannot hide another); -> (what was checked, one line per failure: what failed, its last error line)."""
    probes = [(mod, f"import {mod}") for mod, dist in TRAINING_IMPORTS if dist in distributions]
    if "piper-tts" in distributions:
        probes.append(("piper's espeak-ng bridge", _ESPEAK))
    failures = []
    for what, code in probes:
        print(f"checking: {what}", flush=True)
        proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["exited " + str(proc.returncode)])[-1]
            failures.append(f"{what}: {last}")
    return [what for what, _ in probes], failures
