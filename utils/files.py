"""Writing files so that no reader ever sees half of one, and where caches live.

One guarantee for every file the project writes: the content goes to a temp file beside the
target (same folder, so the rename cannot cross file systems), is flushed and fsynced, gets the
permissions a plain ``open(path, "w")`` would give (``mkstemp`` makes 0600), and is renamed over
the target in one step. On any error, interrupt included, the temp file is removed. A process
killed outright (``kill -9``, power loss) can still leave a temp file behind; every temp name
matches ``TEMP_GLOB`` so ``remove_stale_temps`` can find exactly ours and nothing else.

Standard library only: ``utils.lock`` (run before anything is installed) uses it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# ".<target name>.<random>.coaxial-tmp": hidden, names its target, and cannot be mistaken for a
# user's file.
TEMP_SUFFIX = ".coaxial-tmp"
TEMP_GLOB = f".*{TEMP_SUFFIX}"


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_name: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block ends normally, the file written there is
    fsynced, given normal permissions and renamed onto ``path``. Otherwise it is removed.

    For writers that want a file name (``torch.save``, ``savefig``, soundfile). ``keep_name``: the
    temp file has the target's own name, inside a temp folder beside it, for writers whose bytes
    depend on the file name (``torch.save`` names the archive inside the file after the file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    if keep_name:
        folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX))
        tmp = folder / path.name
    else:
        folder = None
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
        os.close(fd)
        tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        if folder is not None:
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """``open()`` for writing, atomically: ``with atomic_open(p) as fh: fh.write(...)``."""
    binary = "b" in mode
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if binary else encoding,
                                        newline=None if binary else "") as handle:
        yield handle
        handle.flush()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = True) -> tuple[list[Path], int]:
    """Delete our own temp files and temp folders (``TEMP_GLOB``) left in ``folder`` by a killed process.

    Only call this for a folder the caller owns exclusively at that moment (e.g. under the run
    lock): a live writer's temp file matches the same pattern. Returns (removed paths, bytes)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], 0
    removed, freed = [], 0
    for tmp in list(folder.rglob(TEMP_GLOB) if recursive else folder.glob(TEMP_GLOB)):
        with contextlib.suppress(OSError):
            if tmp.is_dir() and not tmp.is_symlink():  # atomic_path(keep_name=True): one file inside
                size = sum(p.stat().st_size for p in tmp.iterdir() if p.is_file())
                for inner in tmp.iterdir():
                    inner.unlink()
                tmp.rmdir()
            elif tmp.is_file():
                size = tmp.stat().st_size
                tmp.unlink()
            else:
                continue
            removed.append(tmp)
            freed += size
    return removed, freed


def user_cache_root(environ: dict | None = None) -> Path:
    """Where coaxial-train keeps caches on this platform (converted audio, piper features, base
    checkpoints, the machine profile outside pixi): ``$COAXIAL_CACHE`` if set, else
    ``%LOCALAPPDATA%\\coaxial-train`` on Windows, ``~/Library/Caches/coaxial-train`` on macOS,
    ``${XDG_CACHE_HOME:-~/.cache}/coaxial-train`` elsewhere."""
    environ = os.environ if environ is None else environ
    if environ.get("COAXIAL_CACHE"):
        return Path(environ["COAXIAL_CACHE"]).expanduser()
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "coaxial-train"
