"""Owning the output folder for a run: its lock, and what a killed run left there (temp files of
interrupted writes, a stale lock) cleared before anything new is written.

What a killed run leaves behind, and removing it at the next start.

A process killed outright (``kill -9``, the OOM killer, power loss) while writing a file leaves the
temp file of that write: for a checkpoint 0.2-0.6 GB that nothing else would ever remove. Every
write of this project goes through ``utils.files``, whose temp names match ``TEMP_GLOB``; releases
before that wrote checkpoints and text files as ``.<name>.<8 random>.tmp``, and those still sit on
users' disks. Only those exact patterns are removed, only in the two folders a run writes (its
output folder and ``checkpoints/`` in it, not sub-folders that may be another run's output), and
only while the run lock is held (a live writer's temp file looks the same).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from utils.files import remove_stale_temps
from utils.voice.run.output.folder_lock import RunLock

_RANDOM = "?" * 8  # tempfile.mkstemp's random part


# Temp names written by this project's earlier releases, which a folder trained with one may still
# hold: checkpoints/.<file>.ckpt.XXXXXXXX.tmp, and dot-named text temps in the output folder.
LEGACY_CHECKPOINT_TEMPS = f".*.ckpt.{_RANDOM}.tmp"


LEGACY_OUTPUT_TEMPS = tuple(f".{name}.{_RANDOM}.tmp" for name in (
    "train_config.json", "metrics.csv", "summary.json", "voice_config.json"))


@dataclass
class Debris:
    """Temp files removed from an output folder: their paths and how many bytes that freed."""

    removed: list[Path] = field(default_factory=list)
    bytes: int = 0

    def describe(self) -> str:
        return (f"removed {len(self.removed)} temp file(s) left by an interrupted run "
                f"({self.bytes / (1024 * 1024):.1f} MB reclaimed)")

    def as_dict(self) -> dict:
        return {"files": len(self.removed), "bytes": self.bytes}


def _remove(paths, debris: Debris) -> None:
    for path in paths:
        if not path.is_file() or path.is_symlink():
            continue
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            debris.removed.append(path)
            debris.bytes += size


def remove_crash_debris(output: str | os.PathLike) -> Debris:
    """Delete our temp files from ``output`` (call it with the run lock held). Writes nothing else."""
    output = Path(output)
    debris = Debris()
    checkpoints = output / "checkpoints"
    # Not recursive: the run writes only these two folders, and a sub-folder may be another run's
    # output (with its own lock and live temp files).
    for folder in (output, checkpoints):
        removed, freed = remove_stale_temps(folder, recursive=False)
        debris.removed.extend(removed)
        debris.bytes += freed
    if checkpoints.is_dir():
        _remove(checkpoints.glob(LEGACY_CHECKPOINT_TEMPS), debris)
        _remove([p for pattern in LEGACY_OUTPUT_TEMPS for p in checkpoints.glob(pattern)], debris)
    if output.is_dir():
        _remove([p for pattern in LEGACY_OUTPUT_TEMPS for p in output.glob(pattern)], debris)
    return debris


class OwnedOutput:
    """``with OwnedOutput(output, argv, say) as owned:`` — the output folder is this run's alone.

    ``owned.debris`` says what a killed run left and this start removed (for the summary)."""

    def __init__(self, output: str | os.PathLike, command: list[str] | None = None, say=None):
        self.output = Path(output)
        self.lock = RunLock(self.output, command=["python -m tasks.train", *(command or [])])
        self.say = say or (lambda message: print(message, file=sys.stderr, flush=True))
        self.debris = Debris()

    def __enter__(self) -> OwnedOutput:
        self.lock.acquire()
        try:
            if self.lock.taken_over is not None:
                self.say(f"note: {self.output} was locked by a run that is no longer running "
                         f"({self.lock.taken_over.describe()}); taking it over")
            self.debris = remove_crash_debris(self.output)
            if self.debris.removed:
                self.say(f"note: {self.debris.describe()} in {self.output}")
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        self.lock.release()
        return False
