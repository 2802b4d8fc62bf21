"""Download a base checkpoint once, check it, and keep it: several hundred MB, resumable, pinned.

Layout under ``user_cache_root() / "bases"``::

    <sha256>/<file name>            a checked file; used as is from then on (offline too)
    <sha256>/<file name>.partial    an unfinished download; the next attempt continues it (HTTP Range)

The cache is keyed by the expected sha256, so two URLs for the same bytes share one file and a
changed pin never meets a stale one. Nothing reads a file before its size and sha256 match: a
finished download is checked while it is still ``.partial`` and only then moved into place
(``utils.files.atomic_path``); a cached file is hashed again before each use, because a cache on
disk can be damaged or edited. A mismatch deletes the download and names both hashes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from utils.files import atomic_path, user_cache_root

CHUNK = 1 << 20           # bytes per read: memory stays flat whatever the file size
TIMEOUT_S = 60            # per socket operation, not for the whole transfer
RETRIES = 3               # connection drops resumed within one call before giving up
USER_AGENT = "coaxial-train (base checkpoint download)"


class DownloadError(RuntimeError):
    """The file could not be fetched or is not the pinned one (exit code 1)."""


@dataclass
class Downloaded:
    path: Path
    sha256: str
    size: int
    from_cache: bool        # True: no network was used
    resumed_from: int = 0   # bytes already on disk when the transfer (re)started, 0 for a fresh one


def bases_dir(cache_root: Path | None = None) -> Path:
    return Path(cache_root or user_cache_root()) / "bases"


def file_name_of(url: str) -> str:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    return name if name and name not in (".", "..") and "/" not in name and "\\" not in name else "base.ckpt"


def fetch_base(url: str, sha256: str, size: int | None = None, cache_root: Path | None = None,
               progress: bool = True, retries: int = RETRIES) -> Downloaded:
    """The checked local copy of ``url`` (downloaded, resumed or from the cache)."""
    sha256 = sha256.strip().lower()
    if urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"{url}: only http(s) URLs can be downloaded; give a local file with --finetune")
    folder = bases_dir(cache_root) / sha256
    final = folder / file_name_of(url)
    if final.is_file():
        problem = _mismatch(final, sha256, size, progress, "checking cached")
        if problem is None:
            return Downloaded(final, sha256, final.stat().st_size, from_cache=True)
        _say(f"cached {final} is damaged ({problem}); downloading it again", progress)
        final.unlink()
    partial = final.with_name(final.name + ".partial")
    folder.mkdir(parents=True, exist_ok=True)
    resumed_from = partial.stat().st_size if partial.is_file() else 0
    for attempt in range(retries + 1):
        try:
            _transfer(url, partial, size, progress)
            break
        except (OSError, http.client.HTTPException) as exc:
            have = partial.stat().st_size if partial.is_file() else 0
            if isinstance(exc, urllib.error.HTTPError) or attempt == retries:
                raise DownloadError(f"{url}: download stopped at {have} bytes ({exc}); run the same command again "
                                    f"to resume from {partial}") from exc
            _say(f"connection lost at {have} bytes ({exc}); resuming", progress)
            resumed_from = resumed_from or have
    problem = _mismatch(partial, sha256, size, progress, "checking")
    if problem is not None:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {problem}; the download was deleted — check the URL and the pinned hash")
    with atomic_path(final) as tmp:
        os.replace(partial, tmp)  # a rename in the same folder; atomic_path fsyncs and publishes it
    return Downloaded(final, sha256, final.stat().st_size, from_cache=False, resumed_from=resumed_from)


def _transfer(url: str, partial: Path, size: int | None, progress: bool) -> None:
    """Append the rest of ``url`` to ``partial``, asking only for the bytes not yet there."""
    have = partial.stat().st_size if partial.is_file() else 0
    if size is not None and have >= size:
        return  # complete (or too long): the hash check decides
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return  # nothing left to send: the partial file is whole (the hash check decides)
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored Range and sends the whole file: start over
        total = _total_size(response, have) or size
        mode = "ab" if have else "wb"
        with open(partial, mode) as out, _bar(total, have, file_name_of(url), progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        got = partial.stat().st_size
        if total is not None and got < total:
            raise http.client.IncompleteRead(b"", total - got)


def _total_size(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _mismatch(path: Path, sha256: str, size: int | None, progress: bool, what: str) -> str | None:
    """None if ``path`` has the expected size and sha256, else a sentence naming both values."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size {actual_size} bytes, expected {size} bytes"
    digest = hashlib.sha256()
    with open(path, "rb") as handle, _bar(actual_size, 0, f"{what} {path.name}", progress) as bar:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    actual = digest.hexdigest()
    return None if actual == sha256 else f"sha256 {actual} does not match the expected {sha256}"


def _bar(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=not enabled, mininterval=0.5)


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)
