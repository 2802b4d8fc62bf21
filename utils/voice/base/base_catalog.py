"""The catalog of base checkpoints (data/base_checkpoints.toml): names pinned to URL, size and sha256.

A base is chosen by name (``--base en_US-lessac-medium``) the way a package is chosen by name and
version: the catalog fixes which bytes that name means. Entries under ``[unpinned]`` are published
bases whose hash is not established; they are listed so ``--base`` can say how to use them anyway
(``--base-url`` + ``--base-sha256``), never downloaded on trust.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

CATALOG = Path(__file__).resolve().parents[3] / "data" / "base_checkpoints.toml"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A Hugging Face file at one fixed commit: .../resolve/<40 hex>/...
PINNED_HF_URL = re.compile(r"^https://huggingface\.co/(datasets/)?[^/]+/[^/]+/resolve/[0-9a-f]{40}/.+")
QUALITIES = ("x_low", "low", "medium", "high")
ARCHITECTURES = ("x_low", "medium", "high")


class CatalogError(ValueError):
    """A catalog entry or a requested base is unusable; the message names it and the fix."""


@dataclass(frozen=True)
class BaseEntry:
    name: str
    language: str
    espeak_voice: str
    quality: str
    architecture: str
    sample_rate: int
    speakers: int
    url: str
    size: int | None = None
    sha256: str | None = None
    established: str | None = None
    reason: str | None = None       # why an unpinned entry has no hash

    @property
    def pinned(self) -> bool:
        return self.sha256 is not None

    @property
    def file_name(self) -> str:
        return unquote(urlparse(self.url).path.rsplit("/", 1)[-1])


def load_catalog(path: Path = CATALOG) -> dict[str, BaseEntry]:
    """Every entry, pinned and unpinned, checked; CatalogError names the entry and field at fault."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the base catalog ({exc})") from exc
    if data.get("schema") != 1:
        raise CatalogError(f"{path}: schema = {data.get('schema')!r}, expected 1")
    entries: dict[str, BaseEntry] = {}
    for table, pinned in (("bases", True), ("unpinned", False)):
        for name, fields in (data.get(table) or {}).items():
            if name in entries:
                raise CatalogError(f"{path}: {name} is listed twice")
            entries[name] = _entry(path, table, name, fields, pinned)
    return entries


def _entry(path: Path, table: str, name: str, fields: dict, pinned: bool) -> BaseEntry:
    where = f"{path}: [{table}.{name}]"
    required = ["language", "espeak_voice", "quality", "architecture", "sample_rate", "speakers", "url"]
    required += ["size", "sha256", "established"] if pinned else ["reason"]
    missing = [key for key in required if key not in fields]
    if missing:
        raise CatalogError(f"{where} lacks {', '.join(missing)}")
    unknown = set(fields) - set(required)
    if unknown:
        raise CatalogError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}")
    entry = BaseEntry(name=name, **fields)
    if entry.quality not in QUALITIES or entry.architecture not in ARCHITECTURES:
        raise CatalogError(f"{where}: quality {entry.quality!r} / architecture {entry.architecture!r}: "
                           f"use one of {QUALITIES} / {ARCHITECTURES}")
    if pinned:
        if not SHA256.match(entry.sha256 or ""):
            raise CatalogError(f"{where}: sha256 must be 64 lowercase hex digits")
        if not isinstance(entry.size, int) or entry.size <= 0:
            raise CatalogError(f"{where}: size must be a positive number of bytes")
        if not PINNED_HF_URL.match(entry.url):
            raise CatalogError(f"{where}: url must name a fixed revision (.../resolve/<40 hex>/...), not a branch")
    return entry


def find_base(name: str, catalog: dict[str, BaseEntry] | None = None) -> BaseEntry:
    """The pinned entry called ``name``; CatalogError (bad input) says what to do otherwise."""
    catalog = load_catalog() if catalog is None else catalog
    entry = catalog.get(name)
    pinned = sorted(n for n, e in catalog.items() if e.pinned)
    if entry is None:
        raise CatalogError(f"--base {name}: not in {CATALOG.name}; pinned bases: {', '.join(pinned) or 'none'} "
                           "(or give any checkpoint with --base-url URL --base-sha256 HEX)")
    if not entry.pinned:
        raise CatalogError(f"--base {name}: its sha256 is not established ({entry.reason}); if you have checked "
                           f"the file yourself, use --base-url {entry.url} --base-sha256 HEX")
    return entry
