"""environments/: pixi.lock re-expressed for people who install without pixi.

Two formats, both generated only from pixi.lock and byte-for-byte deterministic:

- ``<env>.conda-lock.yml``: one conda-lock (format v1) file per environment holding every locked
  platform, conda and PyPI packages, each platform under its real conda subdir (pixi.lock calls
  cuda12's platforms ``p1``/``p2``; conda-lock users ask for ``linux-64``/``win-64``). Built from
  conda-lock's own pydantic models and written by conda-lock's own writer, so it is exactly what
  ``conda-lock install`` / ``conda-lock render`` parse; needs the ``conda-lock`` package (the default
  environment carries it).
- ``<env>.<subdir>.requirements.txt``: the PyPI part of one environment on one platform,
  ``name==version --hash=sha256:...``; pure stdlib so that a minimal environment can still check it.

API:
    render_exports(lock, only=None, manifest=None) -> dict[filename, text]   ("conda-lock" / "pip")
    render_requirements(lock, env, platform) -> str            (platform: lock name or subdir)
    required_virtual_packages(lock, env, platform) -> list[str] ("__cuda >= 12.8")
    render_conda_lock(lock, env) -> str                        (imports conda_lock)
    stale_exports(expected, directory) -> list[Difference]
    write_exports(expected, directory) -> list[str]            (atomic per file, removes orphans)
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_write_text
from utils.lock.lockfile import REPO_ROOT, Lock, Package, normalize_name

ENVIRONMENTS_DIR = REPO_ROOT / "environments"
CONDA_LOCK_SUFFIX = ".conda-lock.yml"
REQUIREMENTS_SUFFIX = ".requirements.txt"
FORMATS = ("conda-lock", "pip")

# The markers pip evaluates on each conda platform; used to decide which `requires_dist` edges exist.
_MARKER_ENV = {
    "linux-64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    },
    "linux-aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "aarch64",
    },
    "osx-arm64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "arm64",
    },
    "osx-64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "x86_64",
    },
    "win-64": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    },
}


class ExportError(RuntimeError):
    """An export cannot be produced (missing tool, or a lock record conda-lock cannot express)."""


def conda_lock_filename(env: str) -> str:
    return f"{env}{CONDA_LOCK_SUFFIX}"


def requirements_filename(env: str, platform: str) -> str:
    return f"{env}.{platform}{REQUIREMENTS_SUFFIX}"


def is_export_name(name: str) -> bool:
    return name.endswith((CONDA_LOCK_SUFFIX, REQUIREMENTS_SUFFIX))


# Virtual packages a user's machine must provide beyond what every machine of the subdir has.
_USER_VISIBLE_VIRTUAL = ("__cuda",)


def _virtual_package_notes(needs: list[str]) -> list[str]:
    """Header lines telling a conda user which virtual packages the solve assumed, and how to provide them."""
    lines = []
    for need in needs:
        name, _, version = need.partition(" >= ")
        lines.append(f"# Solved for the virtual package {need}.")
        if name == "__cuda":
            lines += [
                f"# conda reads __cuda from the NVIDIA driver (one for CUDA {version} or newer); where there",
                f"# is none (a Docker build, CI), set CONDA_OVERRIDE_CUDA={version}.",
            ]
    return lines


def required_virtual_packages(lock: Lock, env: str, platform: str) -> list[str]:
    """["__cuda >= 12.8"] for a platform solved with __cuda=12.8; [] for plain subdirs."""
    entry = lock.platform(lock.resolve_platform(env, platform))
    out = []
    for name in _USER_VISIBLE_VIRTUAL:
        version = entry.virtual_package(name)
        if version:
            out.append(f"{name} >= {version}")
    return out


def _content_hash(packages: list[Package]) -> str:
    # Changes exactly when what would be installed changes; `conda-lock render` prints it.
    lines = sorted(f"{p.kind} {p.url} {p.sha256 or ''}" for p in packages)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# --------------------------------------------------------------------------- pip
def render_requirements(lock: Lock, env: str, platform: str) -> str:
    packages = lock.packages(env, platform)
    subdir = lock.platform(lock.resolve_platform(env, platform)).subdir
    pypi = sorted((p for p in packages if p.kind == "pypi"), key=lambda p: normalize_name(p.name))
    python = next((p.version for p in packages if p.kind == "conda" and p.name == "python"), "?")
    this = f"environments/{requirements_filename(env, subdir)}"
    if any(normalize_name(p.name) == "torch" for p in pypi):
        torch_note = "# torch is a PyPI wheel on this platform (listed here); --no-deps keeps pip to these pins."
    else:
        torch_note = "# --no-deps matters: without it pip would replace conda's pytorch with a PyPI torch."
    lines = [
        "# Generated from pixi.lock by `pixi run export-envs`. DO NOT EDIT: change pixi.toml, then run",
        "# `pixi run lock`.",
        f"# Environment {env!r}, platform {subdir}, Python {python}: the PyPI part only, one wheel a line.",
        f"# The conda part (python, numpy, ...) is in {conda_lock_filename(env)}; install that",
        "# first, then, inside it:",
        f"#     python -m pip install --no-deps --require-hashes -r {this}",
        torch_note,
    ]
    lines += _virtual_package_notes(required_virtual_packages(lock, env, platform))
    lines.append(f"# content hash: {_content_hash(packages)}")
    for p in pypi:
        if not p.sha256:
            raise ExportError(f"{lock.path}: PyPI record {p.url} has no sha256; re-lock with `pixi run lock`")
        lines.append(f"{normalize_name(p.name)}=={p.version} --hash=sha256:{p.sha256}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- conda-lock
def _conda_dependencies(depends: list[str]) -> dict[str, str]:
    """conda `depends` -> conda-lock's {name: version spec} (build strings dropped, as conda-lock does)."""
    specs: dict[str, list[str]] = {}
    for dep in depends:
        parts = dep.split()
        if parts:
            specs.setdefault(parts[0], []).extend(parts[1:2])
    out = {}
    for name, versions in specs.items():
        versions = list(dict.fromkeys(versions))
        if len(versions) > 1:  # "x * *_llvm" next to "x >=4.5": the star adds nothing
            versions = [v for v in versions if v != "*"]
        out[name] = ",".join(versions)
    return out


def _marker_env(platform: str, python_version: str) -> dict[str, str]:
    env = dict(_MARKER_ENV.get(platform, {}))
    env.update(
        python_version=".".join(python_version.split(".")[:2]),
        python_full_version=python_version,
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def _requirements(pkg: Package):
    from packaging.requirements import InvalidRequirement, Requirement

    for text in pkg.requires_dist:
        try:
            yield Requirement(text)
        except InvalidRequirement as exc:
            raise ExportError(f"PyPI record {pkg.url}: unreadable requires_dist {text!r} ({exc})") from None


def _applies(req, marker_env: dict, extras: set[str]) -> bool:
    """Does this requirement hold on the platform for a package installed with `extras`?"""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**marker_env, "extra": e}) for e in {"", *extras})


def requested_extras(pypi: dict[str, Package], roots: dict[str, set[str]], marker_env: dict) -> dict[str, set[str]]:
    """Extras in force for each PyPI package: those the manifest asks for, then those that the
    requirements in force ask for (`piper-tts[train]` -> `lightning`), until nothing changes."""
    extras = {name: set(want) for name, want in roots.items() if name in pypi}
    todo = list(extras)
    while todo:
        name = todo.pop()
        for req in _requirements(pypi[name]):
            target = normalize_name(req.name)
            if target not in pypi or not _applies(req, marker_env, extras[name]):
                continue
            want = {e.lower() for e in req.extras}
            if target not in extras or not want <= extras[target]:
                extras.setdefault(target, set()).update(want)
                todo.append(target)
    return extras


def _pip_dependencies(pkg: Package, marker_env: dict, extras: set[str], installed: dict[str, str]) -> dict[str, str]:
    """requires_dist edges in force on this platform: markers evaluated for the platform, extras only
    those requested (by the manifest or a requirement in force), never an edge to itself, and only to
    packages of this environment, under their name there (`installed`: PyPI name -> exported name,
    so `torch` points at conda's `pytorch`)."""
    me = normalize_name(pkg.name)
    out: dict[str, str] = {}
    for req in _requirements(pkg):
        name = installed.get(normalize_name(req.name))
        if name is None or name == me or not _applies(req, marker_env, extras):
            continue
        spec = str(req.specifier)
        out[name] = ",".join(x for x in (out.get(name), spec) if x) if name in out else spec
    return out


def _locked_dependencies(lock: Lock, env: str, platform: str, roots: dict[str, set[str]]):
    """conda-lock records of one lock platform, filed under its real subdir."""
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    packages = lock.packages(env, platform)
    platform = lock.platform(platform).subdir
    python = next((p.version for p in packages if p.kind == "conda" and p.name == "python"), None)
    pypi = {normalize_name(p.name): p for p in packages if p.kind == "pypi"}
    installed = {p.pypi_name: p.name for p in packages if p.kind == "conda" and p.pypi_name}
    installed.update({name: name for name in pypi})
    marker_env = _marker_env(platform, python or "")
    extras = requested_extras(pypi, roots, marker_env) if pypi else {}
    out = []
    for p in packages:
        if p.kind == "conda":
            if not p.md5:
                raise ExportError(f"{lock.path}: conda record {p.url} has no md5, which conda-lock requires")
            out.append(
                LockedDependency(
                    name=p.name,
                    version=p.version,
                    manager="conda",
                    platform=platform,
                    dependencies=_conda_dependencies(p.depends),
                    url=p.url,
                    hash=HashModel(md5=p.md5, sha256=p.sha256),
                    build=p.build,
                    categories={"main"},
                )
            )
        else:
            if python is None:
                raise ExportError(f"{lock.path}: {env}/{platform} has PyPI packages but no conda python")
            out.append(
                LockedDependency(
                    name=normalize_name(p.name),
                    version=p.version,
                    manager="pip",
                    platform=platform,
                    dependencies=_pip_dependencies(p, marker_env, extras.get(normalize_name(p.name), set()), installed),
                    url=p.url,
                    hash=HashModel(sha256=p.sha256),
                    categories={"main"},
                )
            )
    return out


def _roots(lock: Lock, env: str, platform: str, manifest: Path | None) -> dict[str, set[str]]:
    """The PyPI names (with extras) that pixi.toml asks for in `env` on this lock platform."""
    from utils.lock.manifest_plan import ManifestError, requested_pypi_extras

    manifest = Path(manifest) if manifest else lock.path.with_name("pixi.toml")
    entry = lock.platform(platform)
    try:
        return requested_pypi_extras(manifest, env, entry.subdir, entry.cuda)
    except (OSError, ManifestError) as exc:
        raise ExportError(
            f"{manifest}: cannot read the extras pixi.toml requests ({exc}); the exports "
            "need the manifest beside the lock, or --manifest PATH"
        ) from None


def render_conda_lock(lock: Lock, env: str, manifest: Path | None = None) -> str:
    try:
        from conda_lock.lockfile import write_conda_lock_file
        from conda_lock.lockfile.v2prelim.models import Lockfile, LockMeta
    except ImportError as exc:
        raise ExportError(
            f"conda-lock is not installed here ({exc}); run this in the default environment "
            "(`pixi run export-envs`) or `pip install conda-lock`"
        ) from None
    names = lock.platforms(env)
    platforms = lock.subdirs(env)
    if len(set(platforms)) != len(platforms):
        raise ExportError(
            f"{lock.path}: environment {env!r} locks one subdir twice ({', '.join(names)}); "
            "conda-lock files hold one platform per subdir"
        )
    channels = [c["url"] if isinstance(c, dict) else c for c in lock.environments[env].get("channels") or []]
    packages = [d for name in names for d in _locked_dependencies(lock, env, name, _roots(lock, env, name, manifest))]
    content = Lockfile(
        package=packages,
        metadata=LockMeta(
            content_hash={lock.platform(n).subdir: _content_hash(lock.packages(env, n)) for n in names},
            channels=channels,
            platforms=platforms,
            sources=["../pixi.toml"],
            custom_metadata={
                "generated_from": "pixi.lock",
                "generator": "pixi run export-envs",
                "pixi_environment": env,
            },
        ),
    )
    this = f"environments/{conda_lock_filename(env)}"
    header = [
        "# Generated from pixi.lock by `pixi run export-envs`. DO NOT EDIT: change pixi.toml, then run",
        "# `pixi run lock`.",
        f"# Environment {env!r} of coaxial-train for {', '.join(platforms)} (conda and PyPI packages).",
        "#",
        "# Install with conda-lock (needs conda or mamba; PyPI packages go in with the environment's pip):",
        f"#     conda-lock install -n coaxial-{env} {this}",
        "# Or render one platform as a conda explicit file (PyPI packages appear as '# pip' lines that only",
        "# conda-lock and micromamba install; see the requirements.txt files for plain pip):",
        f"#     conda-lock render --kind explicit --platform {platforms[0]} {this}",
    ]
    needs = sorted({need for name in names for need in required_virtual_packages(lock, env, name)})
    header += _virtual_package_notes(needs)
    # conda-lock's writer only writes to a path; render into a private temp file and read it back.
    with tempfile.TemporaryDirectory(prefix="export-envs-") as tmp:
        target = Path(tmp) / conda_lock_filename(env)
        write_conda_lock_file(content, target, metadata_choices=None, include_help_text=False)
        body = target.read_text(encoding="utf-8")
    return "\n".join(header) + "\n" + body


# --------------------------------------------------------------------------- all files
def render_exports(lock: Lock, only: tuple[str, ...] = FORMATS, manifest: Path | None = None) -> dict[str, str]:
    """Every export file for every environment in the lock, keyed by file name."""
    files: dict[str, str] = {}
    for env in lock.environment_names():
        if "conda-lock" in only:
            files[conda_lock_filename(env)] = render_conda_lock(lock, env, manifest)
        if "pip" in only:
            for name in lock.platforms(env):
                subdir = lock.platform(name).subdir
                files[requirements_filename(env, subdir)] = render_requirements(lock, env, name)
    return dict(sorted(files.items()))


@dataclass
class Difference:
    name: str
    problem: str  # "missing", "differs", "not generated from the lock"

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}"


def stale_exports(expected: dict[str, str], directory: Path, only: tuple[str, ...] = FORMATS) -> list[Difference]:
    directory = Path(directory)
    out = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file():
            out.append(Difference(name, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            out.append(Difference(name, "differs from what pixi.lock gives"))
    if directory.is_dir():
        suffixes = tuple(s for f, s in (("conda-lock", CONDA_LOCK_SUFFIX), ("pip", REQUIREMENTS_SUFFIX)) if f in only)
        for path in sorted(directory.iterdir()):
            if path.name.endswith(suffixes) and path.name not in expected:
                out.append(Difference(path.name, "not generated from the lock (no such environment/platform)"))
    return out


def write_exports(expected: dict[str, str], directory: Path) -> list[str]:
    """Bring `directory` to exactly `expected` (already rendered, so nothing is half-written)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for diff in stale_exports(expected, directory):
        path = directory / diff.name
        if diff.name in expected:
            atomic_write_text(path, expected[diff.name])
        else:
            path.unlink()
        changed.append(diff.name)
    return changed
