"""espeak-ng's data path where piper's build cuts it short, and a guard that keeps it short.

piper-tts's espeak-ng keeps its data folder in a fixed buffer (``path_home``).
``espeak_ng_InitializePath`` copies the folder piper passes into it with ``snprintf``, so a longer
path is cut; the cut path is no folder (or, cut at a "/", the wrong one), and espeak-ng falls back
to ``$ESPEAK_DATA_PATH``, ``$HOME/espeak-ng-data`` and at last the folder compiled into the wheel
(its CI runner's build tree). There is no phoneme table there: espeak-ng prints ``Error processing file
'/Users/runner/work/piper1-gpl/.../espeak-ng-data/phontab': No such file or directory.`` and calls
``exit(1)``, which ends the Python process without a traceback. A pixi environment puts piper's data
at ``<project>/.pixi/envs/<env>/lib/python3.13/site-packages/piper/espeak-ng-data`` (69 bytes
after the project folder for env ``default``), so on macOS a project folder path of 91 bytes is enough.

``guard_espeak_data_path()`` makes every espeak-ng initialisation in this process use a short
path, a symlink in the user cache (or in a private folder under /tmp), when the real one is too
long. ``check_data_path()`` is ``verify``'s check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path

# Bytes in espeak-ng's path_home buffer, its terminating NUL included, in the build piper-tts 1.8.0
# ships, on the platforms where a real path can outgrow it. Source: espeak-ng
# src/libespeak-ng/speech.h at 724808c, the commit piper1-gpl's CMakeLists.txt pins since cb59d2d
# (2026-04-06): N_PATH_HOME_DEF is 230 on _WIN32, PATH_MAX on __linux__ (4096: Linux refuses longer
# paths itself) and 160 on every other POSIX system, macOS among them. piper1-gpl issue #272 and PR
# #281 (open; builds espeak-ng with -DN_PATH_HOME=4096) bisected the macOS arm64 wheel: a 159-byte
# data folder works, 160 bytes fails. espeak-ng itself sizes the buffer from PATH_MAX since c3232594
# (2026-04-26), after piper's pin.
PATH_BUFFER_BYTES = {"darwin": 160, "win32": 230}
PLATFORM_NAMES = {"darwin": "macOS", "win32": "Windows"}
CHECK_NAME = "espeak-ng data path"
# Marks the wrapped espeakbridge.initialize, so the guard never wraps its own wrapper.
GUARD_MARK = "_coaxial_short_data_path"

# Long data path -> the short link the guard handed espeak-ng instead, for reports.
swapped_paths: dict[str, str] = {}


def this_platform() -> str:
    """``sys.platform``, looked up at each call: tests fake macOS on Linux by replacing this function."""
    return sys.platform


def longest_data_path(platform: str | None = None) -> int | None:
    """Most bytes of its data path espeak-ng keeps on ``platform`` (its buffer less the NUL); None
    where the build never cuts a path the system itself would accept."""
    buffer = PATH_BUFFER_BYTES.get(platform or this_platform())
    return None if buffer is None else buffer - 1


def path_bytes(path: str | os.PathLike) -> int:
    """Length as espeak-ng counts it: piper's bridge hands over the path's UTF-8 bytes."""
    return len(os.fsencode(str(path)))


def too_long(path: str | os.PathLike, platform: str | None = None) -> bool:
    """True where espeak-ng on ``platform`` (default: this one) would cut ``path``."""
    longest = longest_data_path(platform)
    return longest is not None and path_bytes(path) > longest


def piper_data_dir() -> Path:
    """The espeak-ng data bundled with piper, the folder piper initialises espeak-ng with by default."""
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    return Path(ESPEAK_DATA_DIR)


# -- the short link -------------------------------------------------------------------------------

def link_folders() -> list[tuple[Path, bool]]:
    """Where a short link may live, first choice first, each with whether it must be private: the
    user cache (``~/Library/Caches/coaxial-train`` on macOS), then a folder of this user's in /tmp
    for a cache path that is itself too long."""
    from utils.files import user_cache_root

    # /tmp rather than $TMPDIR: macOS's is /var/folders/xx/<28 characters>/T, longer for no gain.
    shared = Path("/tmp") if os.path.isdir("/tmp") else Path(tempfile.gettempdir())
    # Named for the user where users share /tmp; Windows's temp folder is the user's own.
    name = f"coaxial-espeak-{os.getuid()}" if hasattr(os, "getuid") else "coaxial-espeak"
    return [(user_cache_root(), False), (shared / name, True)]


def link_name(target: Path) -> str:
    """One link per data folder: two environments of a project (default, osx-arm64) each keep their
    own, so a run in one never re-points the link a run in the other is reading through."""
    return f"espeak-ng-data-{hashlib.sha256(os.fsencode(str(target))).hexdigest()[:10]}"


def _ready_folder(folder: Path, private: bool) -> bool:
    try:
        folder.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return False
    if not private:
        return folder.is_dir()
    # In a folder every user can write to, another user could have made ours first (and chosen
    # where our link points): use it only if it is a real folder of our own.
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return stat.S_ISDIR(info.st_mode) and mine


def _points_at(link: Path, target: Path) -> bool:
    return os.path.islink(link) and os.path.realpath(link) == str(target)


def _make_link(link: Path, target: Path) -> bool:
    """Point ``link`` at ``target`` in one step: a process reading through the link meanwhile sees
    the old one or the new one, never none."""
    from utils.files import TEMP_SUFFIX

    # Named as utils.files names its temp files: hidden, and never mistaken for a user's file.
    temp = link.with_name(f".{link.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        os.symlink(target, temp, target_is_directory=True)
        os.replace(temp, link)
    except OSError:  # no symlinks here (Windows without the right), or a real folder took the name
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return False
    return _points_at(link, target)


def short_data_link(target: str | os.PathLike, platform: str | None = None) -> Path | None:
    """A symlink to ``target`` whose own path espeak-ng keeps whole: reused where it already points
    there, made or re-pointed otherwise. None when no folder can take one."""
    target = Path(os.path.realpath(target))
    for folder, private in link_folders():
        link = folder / link_name(target)
        if too_long(link, platform) or not _ready_folder(folder, private):
            continue
        if _points_at(link, target) or _make_link(link, target):
            return link
    return None


# -- the guard ------------------------------------------------------------------------------------

def short_path_for(data_dir: str, platform: str | None = None) -> str:
    """``data_dir`` itself where espeak-ng keeps it whole, else a short link to it (``data_dir``
    again when no link can be made: espeak-ng then fails as it would have)."""
    if not too_long(data_dir, platform):
        return data_dir
    link = short_data_link(data_dir, platform)
    if link is None:
        return data_dir
    swapped_paths[data_dir] = str(link)
    return str(link)


def _wrap_initialize(bridge) -> None:
    """Route ``bridge.initialize`` through ``short_path_for``. Every espeak-ng start in piper goes
    through it, looked up on the module at call time: EspeakPhonemizer (whose default folder is bound
    when piper is imported), PiperVoice (which passes its espeak_data_dir to one), piper.train's
    dataset, and this project's direct calls."""
    original = bridge.initialize
    if getattr(original, GUARD_MARK, False):
        return

    def initialize(data_dir, /):
        return original(short_path_for(data_dir) if isinstance(data_dir, str) else data_dir)

    initialize.__wrapped__ = original
    setattr(initialize, GUARD_MARK, True)
    bridge.initialize = initialize


def guard_espeak_data_path() -> str | None:
    """On a platform whose espeak-ng cuts its data path: make every espeak-ng initialisation in this
    process use a short link instead of a path that is too long. Idempotent; cheap where nothing is
    cut (nothing is imported). Returns the link now used for piper's own data, None if none is needed
    or none could be made (``verify`` then says to move the project).

    Also points ``$ESPEAK_DATA_PATH`` at the link. espeak-ng reads that variable when the path it was
    given (cut) is no folder, so the processes this one starts without the guard find the data too:
    the feature cache's workers, which macOS starts with spawn, not fork. A value the user set is
    replaced: espeak-ng reads it only in that case, and it would hold data of another espeak-ng."""
    if longest_data_path() is None:
        return None
    try:
        from piper import espeakbridge

        data_dir = str(piper_data_dir())
    except ImportError:  # no piper: nothing here starts espeak-ng, and verify reports what is missing
        return None
    _wrap_initialize(espeakbridge)
    link = short_path_for(data_dir)
    if link == data_dir:
        return None
    os.environ["ESPEAK_DATA_PATH"] = link
    return link


# -- verify's check -------------------------------------------------------------------------------

def check_data_path(data_dir: str | os.PathLike | None = None, platform: str | None = None):
    """``verify``'s check: the data path's length against what espeak-ng keeps on this platform."""
    from utils.checks import Check

    platform = platform or this_platform()
    try:
        data_dir = str(piper_data_dir() if data_dir is None else data_dir)
    except ImportError:
        return Check(CHECK_NAME, "skip", "piper-tts is not installed (see versions)")
    size, longest = path_bytes(data_dir), longest_data_path(platform)
    where = PLATFORM_NAMES.get(platform, platform)
    if longest is None:
        return Check(CHECK_NAME, "pass", f"{data_dir}: {size} bytes; piper's espeak-ng does not cut "
                                         f"its data path on {where}")
    if size <= longest:
        return Check(CHECK_NAME, "pass", f"{data_dir}: {size} bytes, within the {longest} piper's "
                                         f"espeak-ng keeps on {where}")
    detail = (f"{data_dir} is {size} bytes; piper's espeak-ng on {where} keeps {longest}, then stops the "
              "process with \"Error processing file '.../espeak-ng-data/phontab': No such file or directory.\"")
    move = (f"move the project to a folder path at least {size - longest} bytes shorter "
            f"(this environment: {sys.prefix})")
    link = short_data_link(data_dir, platform)
    if link is None:
        return Check(CHECK_NAME, "fail", detail, move)
    return Check(CHECK_NAME, "fail", detail, f"train, evaluate and export already use the short link {link}; "
                                             f"for piper itself (python -m piper) and scripts of your own, {move}")
