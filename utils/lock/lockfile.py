"""Reading pixi.lock (format 7, as pixi >= 0.68 writes it) with the standard library alone.

`tasks.venv` runs before anything is installed, so this module cannot use PyYAML. pixi.lock is a
small, regular YAML subset (block mappings and sequences, plain or quoted scalars, `[]`/`{}`), and
the parser below reads exactly that subset; anything else raises LockError naming the line.

Format 7 names platforms: a top-level `platforms:` list maps each name to a conda subdir and the
virtual packages it was solved with, and environments key their package lists by that name. A
plain platform is named after its subdir (`linux-64`); one with extra virtual packages, such as
pixi.toml's `{ name = "linux-64-cuda", platform = "linux-64", cuda = "12.8" }`, is written under a
short alias (`p1`) with `subdir: linux-64` and `__cuda=12.8`. Code that installs or exports wants the
subdir; code that checks promises wants the virtual packages. Any other format version is refused
(LockVersionError) with the command that re-locks, never guessed at.

API:
    load_lock(path) -> Lock
    lock.environment_names(), lock.platforms(env)       (platform names as the lock keys them)
    lock.subdirs(env)                                   (their conda subdirs: linux-64, win-64, ...)
    lock.platform(name) -> LockPlatform                 (.subdir, .virtual_packages, .cuda)
    lock.resolve_platform(env, name_or_subdir) -> name
    lock.packages(env, name_or_subdir) -> list[Package] (conda and PyPI records)
    current_platform() -> str                           ("linux-64", "osx-arm64", "win-64", ...)
    Package.pypi_name                                   (PyPI name a record provides, or None)
    normalize_name(name)                                (PEP 503)
"""

from __future__ import annotations

import platform as _platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOCK = REPO_ROOT / "pixi.lock"

# conda records that ship Python itself rather than an importable distribution.
_NOT_DISTRIBUTIONS = {"python", "cpython", "python_abi", "pybind11-abi"}
# conda names whose PyPI distribution has another name, for records that carry no purls.
_CONDA_TO_PYPI = {"pytorch": "torch", "typing_extensions": "typing-extensions"}

LOCK_VERSION = 7
RELOCK = "re-lock with `pixi lock` (pixi >= 0.77) or, where pixi cannot run, ../shared/offline-lock/lock"


class LockError(ValueError):
    """pixi.lock cannot be read; the message names the file and line."""


class LockVersionError(LockError):
    """pixi.lock is in another format version than LOCK_VERSION; the message says how to re-lock."""

    def __init__(self, message: str, version):
        super().__init__(message)
        self.version = version


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Package:
    kind: str  # "conda" or "pypi"
    url: str
    name: str
    version: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    build: str | None = None
    subdir: str | None = None
    depends: list[str] = field(default_factory=list)
    purls: list[str] | None = None
    requires_dist: list[str] = field(default_factory=list)
    requires_python: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def depends_on_python(self) -> bool:
        return any(d.split()[0] in ("python", "python_abi") for d in self.depends if d.strip())

    @property
    def pypi_name(self) -> str | None:
        """The PyPI distribution this record provides (conda records: from purls, else by name)."""
        if self.kind == "pypi":
            return normalize_name(self.name)
        for purl in self.purls or []:
            m = re.match(r"pkg:pypi/([^@?#]+)", purl)
            if m:
                return normalize_name(m.group(1))
        if self.purls is None and self.depends_on_python and self.name not in _NOT_DISTRIBUTIONS:
            # records harvested without purls: conda-forge names its Python packages after PyPI
            return normalize_name(_CONDA_TO_PYPI.get(self.name, self.name))
        return None


@dataclass(frozen=True)
class LockPlatform:
    name: str  # as the lock keys package lists: "linux-64", or an alias such as "p1"
    subdir: str  # the conda subdir packages are built for: "linux-64", "win-64", ...
    virtual_packages: tuple[str, ...]  # "__cuda=12.8", "__glibc=2.28", "__archspec=0=x86_64", ...

    def virtual_package(self, name: str) -> str | None:
        """Version of a virtual package this platform was solved with ("__cuda" -> "12.8"), or None."""
        for spec in self.virtual_packages:
            vname, _, rest = spec.partition("=")
            if vname == name:
                return rest.split("=")[0] if rest else ""
        return None

    @property
    def cuda(self) -> str | None:
        return self.virtual_package("__cuda")

    @property
    def label(self) -> str:
        """The subdir, plus the lock's name where that differs ("linux-64 (p1)")."""
        return self.subdir if self.name == self.subdir else f"{self.subdir} ({self.name})"


@dataclass
class Lock:
    path: Path
    version: int
    environments: dict  # env -> {"packages": {platform name: [url, ...]}, ...}
    records: dict  # url -> Package
    platform_entries: dict = field(default_factory=dict)  # platform name -> LockPlatform

    def environment_names(self) -> list[str]:
        return sorted(self.environments)

    def platforms(self, env: str) -> list[str]:
        """Platform names the lock keys `env`'s packages by (aliases such as "p1" included)."""
        self._require_env(env)
        return list((self.environments[env].get("packages") or {}).keys())

    def subdirs(self, env: str) -> list[str]:
        return [self.platform(name).subdir for name in self.platforms(env)]

    def platform(self, name: str) -> LockPlatform:
        try:
            return self.platform_entries[name]
        except KeyError:
            raise LockError(f"{self.path}: no platform {name!r} in its `platforms:` list; {RELOCK}") from None

    def resolve_platform(self, env: str, platform: str) -> str:
        """The lock's platform name for `platform`, given as that name or as a subdir ("linux-64" -> "p1")."""
        names = self.platforms(env)
        if platform in names:
            return platform
        matches = [n for n in names if self.platform(n).subdir == platform]
        if len(matches) == 1:
            return matches[0]
        locked = ", ".join(self.platform(n).label for n in names)
        if matches:
            raise LockError(f"{self.path}: environment {env!r} has several {platform} platforms ({locked}); "
                            "name one of them")
        raise LockError(f"{self.path}: environment {env!r} is not locked for {platform} (locked: {locked})")

    def _require_env(self, env: str) -> None:
        if env not in self.environments:
            raise LockError(f"{self.path}: no environment {env!r} (has {', '.join(self.environment_names())})")

    def packages(self, env: str, platform: str) -> list[Package]:
        name = self.resolve_platform(env, platform)  # raises LockError naming what is locked
        urls = self.environments[env]["packages"][name] or []
        out = []
        for entry in urls:
            (kind, url), = entry.items()
            if url not in self.records:
                raise LockError(f"{self.path}: {env}/{platform} lists {url} but no package record has it")
            out.append(self.records[url])
        return out


def current_platform() -> str:
    machine = _platform.machine().lower()
    arm = machine in ("arm64", "aarch64")
    if sys.platform.startswith("linux"):
        return "linux-aarch64" if arm else "linux-64"
    if sys.platform == "darwin":
        return "osx-arm64" if arm else "osx-64"
    if sys.platform == "win32":
        return "win-arm64" if arm else "win-64"
    return f"{sys.platform}-{machine}"


# --------------------------------------------------------------------------- YAML subset
def _scalar(text: str, where: str):
    s = text.strip()
    if s == "[]":
        return []
    if s == "{}":
        return {}
    if s.startswith("'"):
        if not s.endswith("'") or len(s) < 2:
            raise LockError(f"{where}: unterminated quoted string")
        return s[1:-1].replace("''", "'")
    if s.startswith('"'):
        if not s.endswith('"') or len(s) < 2:
            raise LockError(f"{where}: unterminated quoted string")
        return s[1:-1].encode().decode("unicode_escape")
    if s in ("null", "~", ""):
        return None
    if s in ("true", "false"):
        return s == "true"
    if re.fullmatch(r"-?[0-9]+", s):
        return int(s)
    if s[0] in "[{&*!|>":
        raise LockError(f"{where}: YAML construct {s[:20]!r} is not part of the pixi.lock subset")
    return s


def _split_key(content: str, where: str):
    """'key: value' -> (key, value or ''); returns None when content is not a mapping entry."""
    if content.startswith(("'", '"')):
        q = content[0]
        end = content.find(q, 1)
        while end != -1 and q == "'" and content[end + 1:end + 2] == "'":
            end = content.find(q, end + 2)
        if end == -1:
            raise LockError(f"{where}: unterminated quoted key")
        key, rest = _scalar(content[:end + 1], where), content[end + 1:]
        if rest == ":" or rest.startswith(": "):
            return key, rest[1:].strip()
        return None
    m = re.match(r"([^\s:][^:]*?):(?: (.*)|)$", content)
    if not m:
        return None
    return m.group(1), (m.group(2) or "").strip()


def parse_yaml_subset(text: str, source: str = "<text>"):
    lines = []  # [indent, content, line number]
    for no, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise LockError(f"{source}:{no}: tab in indentation")
        lines.append([len(raw) - len(raw.lstrip(" ")), raw.strip(), no])

    def block(i, indent):
        if lines[i][1].startswith("- ") or lines[i][1] == "-":
            return sequence(i, indent)
        return mapping(i, indent)

    def sequence(i, indent):
        out = []
        while i < len(lines) and lines[i][0] == indent and (lines[i][1].startswith("- ") or lines[i][1] == "-"):
            item = lines[i][1][2:].strip()
            where = f"{source}:{lines[i][2]}"
            if item and _split_key(item, where) is not None:
                lines[i] = [indent + 2, item, lines[i][2]]  # "- key: v" opens a mapping one level in
                value, i = mapping(i, indent + 2)
            elif item:
                value, i = _scalar(item, where), i + 1
            else:
                i += 1
                value = None
                if i < len(lines) and lines[i][0] > indent:
                    value, i = block(i, lines[i][0])
            out.append(value)
        return out, i

    def mapping(i, indent):
        out = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            where = f"{source}:{lines[i][2]}"
            kv = _split_key(lines[i][1], where)
            if kv is None:
                raise LockError(f"{where}: expected 'key: value', got {lines[i][1][:60]!r}")
            key, rest = kv
            i += 1
            if rest:
                out[key] = _scalar(rest, where)
            elif i < len(lines) and lines[i][0] > indent:
                out[key], i = block(i, lines[i][0])
            elif i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                out[key], i = sequence(i, indent)  # indentless sequence, as pixi writes them
            else:
                out[key] = None
        return out, i

    if not lines:
        return None
    value, i = block(0, lines[0][0])
    if i != len(lines):
        raise LockError(f"{source}:{lines[i][2]}: unexpected indentation")
    return value


# --------------------------------------------------------------------------- lock model
def _conda_package(rec: dict, where: str) -> Package:
    url = rec["conda"]
    fn = url.rsplit("/", 1)[-1]
    stem = re.sub(r"(\.tar\.bz2|\.conda)$", "", fn)
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        raise LockError(f"{where}: cannot read name-version-build from {fn}")
    name, version, build = parts
    return Package(
        kind="conda", url=url, name=str(rec.get("name", name)), version=str(rec.get("version", version)),
        build=str(rec.get("build", build)), subdir=url.rsplit("/", 2)[-2], sha256=rec.get("sha256"),
        md5=rec.get("md5"), size=rec.get("size"), depends=list(rec.get("depends") or []),
        purls=rec.get("purls"),
    )


def _pypi_package(rec: dict, where: str) -> Package:
    if "name" not in rec or "version" not in rec:
        raise LockError(f"{where}: PyPI record {rec.get('pypi')} lacks name or version")
    return Package(
        kind="pypi", url=rec["pypi"], name=str(rec["name"]), version=str(rec["version"]),
        sha256=rec.get("sha256"), size=rec.get("size"), requires_dist=list(rec.get("requires_dist") or []),
        requires_python=rec.get("requires_python"),
    )


def _platform_entries(data: dict, source: str) -> dict[str, LockPlatform]:
    entries = {}
    for n, rec in enumerate(data.get("platforms") or []):
        if not isinstance(rec, dict) or not isinstance(rec.get("name"), str):
            raise LockError(f"{source}: platforms[{n}] has no name; {RELOCK}")
        name = rec["name"]
        entries[name] = LockPlatform(name=name, subdir=str(rec.get("subdir") or name),
                                     virtual_packages=tuple(str(v) for v in rec.get("virtual-packages") or []))
    for env, body in (data.get("environments") or {}).items():
        for name in ((body or {}).get("packages") or {}):
            if name not in entries:
                raise LockError(f"{source}: environment {env!r} lists packages for platform {name!r}, "
                                f"which the `platforms:` list does not define; {RELOCK}")
    return entries


def parse_lock(text: str, source: str = "pixi.lock") -> Lock:
    data = parse_yaml_subset(text, source)
    if not isinstance(data, dict) or "version" not in data:
        raise LockError(f"{source}: not a pixi.lock (no 'version:' at the top)")
    if data["version"] != LOCK_VERSION:
        raise LockVersionError(
            f"{source}: lock-file format {data['version']} is not supported (this project reads format "
            f"{LOCK_VERSION}, which pixi writes since 0.68); {RELOCK}", data["version"])
    records = {}
    for n, rec in enumerate(data.get("packages") or []):
        where = f"{source}: packages[{n}]"
        if "conda" in rec:
            pkg = _conda_package(rec, where)
        elif "pypi" in rec:
            pkg = _pypi_package(rec, where)
        else:
            raise LockError(f"{where}: neither a conda nor a pypi record")
        records[pkg.url] = pkg
    return Lock(path=Path(source), version=LOCK_VERSION, environments=data.get("environments") or {},
                records=records, platform_entries=_platform_entries(data, source))


def load_lock(path: Path | str = DEFAULT_LOCK) -> Lock:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{path}: no such file; {RELOCK}") from None
    return parse_lock(text, str(path))
