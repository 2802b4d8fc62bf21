"""One run per output folder: a lock file naming its owner, taken over only from a dead owner.

Two runs writing into one folder leave a mix (one run's ``train_config.json``, the other's
``summary.json``), so a run takes ``<output>/run.lock`` before it writes anything and removes it
when it ends. The file holds the owner's pid, host, start time and command, so a refused run can
say which run holds the folder.

How "is the owner still running?" is answered:

- POSIX: the owner holds ``fcntl.flock`` on the lock file for its whole run. The kernel drops that
  lock when the process dies, however it dies (``kill -9`` included), so a file we can lock is
  stale, even if its pid now belongs to another program.
- Windows (no ``flock``): the file is created with ``O_EXCL``; an existing one is stale when its
  host is this machine and its pid is no longer running.
- A lock written on another host (a shared network folder) cannot be checked from here: it is
  refused, and the message says which file to delete if that run is gone.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from utils.errors import UserError

LOCK_NAME = "run.lock"
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation in the owner record

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None


class RunLocked(UserError, ValueError):
    """Another live run owns the output folder (exit code 2: nothing was written)."""

    exit_code = 2


@dataclass(frozen=True)
class Owner:
    pid: int | None
    host: str | None
    started: str | None
    command: str | None

    @classmethod
    def read(cls, text: str) -> Owner:
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        pid = data.get("pid")
        return cls(pid if isinstance(pid, int) else None, data.get("host"), data.get("started"),
                   data.get("command"))

    def describe(self) -> str:
        if self.pid is None:
            return "another run (its lock file is being written or is unreadable)"
        text = f"pid {self.pid} on {self.host or 'an unknown host'}"
        if self.started:
            text += f", running since {self.started}"
        return text


def this_host() -> str:
    return socket.gethostname()


def pid_is_running(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_is_running(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just someone else's
    return True


def _windows_pid_is_running(pid: int) -> bool:
    # os.kill(pid, 0) would *terminate* the process on Windows; ask the kernel instead.
    import ctypes

    process_query_limited_information, still_active = 0x1000, 259
    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


class RunLock:
    """``with RunLock(output) as lock:`` — own ``output`` for the block, or raise RunLocked.

    ``lock.taken_over`` is the Owner of a stale lock that was replaced (None otherwise), so the
    caller can say so. The folder is created if needed (taking the lock is the first write).
    """

    def __init__(self, folder: str | os.PathLike, command: list[str] | str | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = " ".join(command) if isinstance(command, list) else command
        self.taken_over: Owner | None = None
        self._fd: int | None = None

    # -- acquire ---------------------------------------------------------------------------------

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # each retry means the lock file changed under us: rare, never endless
            if self._try_acquire():
                return self
        raise RunLocked(f"{self.path}: could not take the run lock (it keeps changing) — is another run "
                        "starting in this folder? Try again in a moment")

    def _try_acquire(self) -> bool:
        try:
            fd, created = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _BINARY, 0o644), True
        except FileExistsError:
            try:
                fd, created = os.open(self.path, os.O_RDWR | _BINARY), False
            except FileNotFoundError:
                return False  # released between our two calls: try again
        try:
            if not self._lock_or_refuse(fd, created):
                os.close(fd)
                return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_owner()
        return True

    def _lock_or_refuse(self, fd: int, created: bool) -> bool:
        """True when ``fd`` is now ours; False to retry; raises RunLocked for a live owner."""
        previous = None if created else Owner.read(_read_fd(fd))
        locked = _flock(fd)
        if locked:
            if not _same_file(fd, self.path):
                return False  # the owner removed the file after we opened it: that one is gone
            if previous is not None and previous.host not in (None, this_host()):
                self._refuse(previous, other_host=True)
            if previous is not None and previous.pid is not None:
                self.taken_over = previous
            return True
        if locked is False:  # locked by a live process
            self._refuse(previous or Owner.read(_read_fd(fd)))
        # No flock (Windows, some network file systems): O_EXCL creation is the lock; an existing
        # file is judged by its pid.
        if created:
            return True
        if previous.host not in (None, this_host()):
            self._refuse(previous, other_host=True)
        if previous.pid is not None and pid_is_running(previous.pid):
            self._refuse(previous)
        self.taken_over = previous
        return True

    def _refuse(self, owner: Owner, other_host: bool = False) -> None:
        if other_host:
            raise RunLocked(f"{self.folder} is in use by {owner.describe()}; this machine cannot check whether "
                            f"it still runs — wait for it, choose another --output, or delete {self.path} "
                            "if that run is gone")
        raise RunLocked(f"{self.folder} is in use by another training run ({owner.describe()}"
                        + (f": {owner.command}" if owner.command else "")
                        + ") — wait for it to finish, stop it, or choose another --output")

    def _write_owner(self) -> None:
        started = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        data = json.dumps({"pid": os.getpid(), "host": this_host(), "started": started,
                           "command": self.command}) + "\n"
        # Rewritten in place, not renamed: the flock belongs to this very file.
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data.encode("utf-8"))
        os.fsync(self._fd)

    # -- release ---------------------------------------------------------------------------------

    def release(self) -> None:
        if self._fd is None:
            return
        # POSIX: unlink while still holding the flock (_same_file makes a run that opened the old
        # file retry). Windows cannot delete an open file, so close first there.
        if sys.platform == "win32":
            os.close(self._fd)
        with contextlib.suppress(OSError):
            self.path.unlink()
        if sys.platform != "win32":
            os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _flock(fd: int) -> bool | None:
    """True: locked by us; False: another process holds it; None: no flock here."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK/EOPNOTSUPP: a file system without locks
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
