"""Download size of each locked environment x platform, from pixi.lock.

conda records carry `size`. PyPI records in our lock carry none, so their sizes come from PyPI's JSON
API (`https://pypi.org/pypi/<name>/<version>/json`, matched by sha256, else by file name) and are
cached by sha256 in `pypi-sizes.json` under the project's cache root (utils.files.user_cache_root).
A file's size never changes for a given sha256, so the cache never goes stale; it lives outside the
repo because it is derived data that any machine with PyPI access can rebuild in seconds. Offline,
uncached wheels are counted as unknown and the total is reported as a lower bound.

API:
    resolve_pypi_sizes(packages, cache_path=None, fetch=True) -> SizeReport
    measure(lock, env, platform, sizes) -> Footprint   (platform: lock name or subdir; reported as subdir)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from utils.files import atomic_write_text, user_cache_root
from utils.lock.lockfile import Lock, Package, normalize_name

PYPI_JSON = "https://pypi.org/pypi/{name}/{version}/json"


def default_cache_path() -> Path:
    return user_cache_root() / "pypi-sizes.json"


@dataclass
class SizeReport:
    sizes: dict[str, int]  # sha256 -> bytes
    from_cache: int = 0
    fetched: int = 0
    via_head: int = 0  # of `fetched`, how many came from HEAD requests instead of the JSON API
    errors: list[str] = field(default_factory=list)  # why some wheels have no size
    notes: list[str] = field(default_factory=list)  # fallbacks taken (sizes still exact)


def _load_cache(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def _save_cache(path: Path, sizes: dict[str, int]) -> None:
    atomic_write_text(path, json.dumps(dict(sorted(sizes.items())), indent=0))


def _fetch_release(name: str, version: str, timeout: float) -> list[dict]:
    url = PYPI_JSON.format(name=normalize_name(name), version=version)
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https host)
        return json.load(resp).get("urls") or []


def _head_size(url: str, timeout: float) -> int:
    req = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (https URL from the lock)
        length = resp.headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise ValueError(f"no Content-Length for {url}")
    return int(length)


def _fetch_missing(
    missing: dict[tuple[str, str], list[Package]], report: SizeReport, cache: dict[str, int], timeout: float
) -> None:
    """JSON API per release (sizes checked against the lock's sha256); HEAD on the locked URL as fallback.

    Some PyPI mirrors serve the project JSON but not /pypi/<name>/<version>/json; one probe decides,
    so such a mirror costs one failed request instead of one per release.
    """
    keys = sorted(missing)
    use_json = True
    try:
        first = _fetch_release(*keys[0], timeout=timeout)
    except urllib.error.HTTPError as exc:
        first, use_json = [], False
        report.notes.append(
            f"{PYPI_JSON.format(name=keys[0][0], version=keys[0][1])}: HTTP {exc.code}; "
            "fell back to HEAD requests on the locked wheel URLs"
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        report.errors.append(f"pypi.org unreachable ({exc}); wheel sizes unknown")
        return

    def one(key):
        files, err = [], None
        if use_json:
            try:
                files = first if key == keys[0] else _fetch_release(*key, timeout=timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                err = exc
        by_sha = {f.get("digests", {}).get("sha256"): f.get("size") for f in files}
        by_name = {f.get("filename"): f.get("size") for f in files}
        out = []
        for p in missing[key]:
            size, how = by_sha.get(p.sha256) or by_name.get(p.filename), "json"
            if not isinstance(size, int):
                try:
                    size, how = _head_size(p.url, timeout), "head"
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    size, how = None, f"{p.filename}: {err or exc}"
            out.append((p, size, how))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        for results in pool.map(one, keys):
            for p, size, how in results:
                if size is None:
                    report.errors.append(how)
                    continue
                report.sizes[p.sha256] = cache[p.sha256] = size
                report.fetched += 1
                report.via_head += how == "head"


def resolve_pypi_sizes(
    packages: list[Package], cache_path: Path | None = None, fetch: bool = True, timeout: float = 20.0
) -> SizeReport:
    """Sizes for every PyPI package given (deduplicated by sha256); never raises for network trouble."""
    cache_path = cache_path or default_cache_path()
    cache = _load_cache(cache_path)
    wanted = {p.sha256: p for p in packages if p.kind == "pypi" and p.sha256}
    report = SizeReport(sizes={})
    missing: dict[tuple[str, str], list[Package]] = {}
    for sha, p in wanted.items():
        if p.size is not None:
            report.sizes[sha] = p.size
        elif sha in cache:
            report.sizes[sha] = cache[sha]
            report.from_cache += 1
        else:
            missing.setdefault((normalize_name(p.name), p.version), []).append(p)
    if missing and not fetch:
        report.errors.append(
            f"{sum(map(len, missing.values()))} wheel size(s) not cached and fetching is off"
        )
    elif missing:
        _fetch_missing(missing, report, cache, timeout)
        if report.fetched:
            try:
                _save_cache(cache_path, cache)
            except OSError as exc:
                report.errors.append(f"cache {cache_path} not written: {exc}")
    return report


@dataclass
class Footprint:
    env: str
    platform: str  # the conda subdir ("linux-64"), also for cuda12's "p1"
    lock_platform: str  # the lock's name for it
    conda_bytes: int
    pypi_bytes: int
    unknown: list[str]  # file names whose size is unknown (total is then a lower bound)
    top: list[tuple[str, int]]  # (package, bytes), largest first

    @property
    def total(self) -> int:
        return self.conda_bytes + self.pypi_bytes


def measure(lock: Lock, env: str, platform: str, sizes: dict[str, int], top: int = 5) -> Footprint:
    name = lock.resolve_platform(env, platform)
    conda = pypi = 0
    unknown, each = [], []
    for p in lock.packages(env, name):
        size = p.size if p.size is not None else sizes.get(p.sha256 or "")
        if size is None:
            unknown.append(p.filename)
            continue
        label = f"{p.name} {p.version}" + (" (conda)" if p.kind == "conda" else " (PyPI)")
        each.append((label, size))
        if p.kind == "conda":
            conda += size
        else:
            pypi += size
    each.sort(key=lambda t: (-t[1], t[0]))
    return Footprint(env, lock.platform(name).subdir, name, conda, pypi, sorted(unknown), each[:top])
