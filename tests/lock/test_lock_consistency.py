"""Every requirement of every locked PyPI package is met by the lock itself.

The offline locker hands conda-provided PyPI names to uv as overrides, which hides their version
bounds from dependents; this catches a lock that pins a package its neighbours cannot use.
"""

from __future__ import annotations

import pytest
from conftest import REPO_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from utils.lock.lockfile import load_lock
from utils.lock.venv_builder import lock_pins, lock_python_version

LOCK = load_lock(REPO_ROOT / "pixi.lock")
MARKERS = {
    "linux-64": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"},
    "linux-aarch64": {
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "aarch64"
    },
    "win-64": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
    "osx-arm64": {
        "sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"
    },
}


@pytest.mark.parametrize("env,platform", [(e, p) for e in LOCK.environment_names() for p in LOCK.subdirs(e)])
def test_locked_requirements_are_satisfied_by_the_lock(env, platform):
    pins = lock_pins(LOCK, env, platform)
    py = lock_python_version(LOCK, env, platform)
    markers = dict(MARKERS[platform], python_version=".".join(py.split(".")[:2]), python_full_version=py,
                   implementation_name="cpython", platform_python_implementation="CPython", extra="")
    problems = []
    for pin in pins.values():
        for raw in pin.requires_dist:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate(markers):
                continue
            dep = pins.get(canonicalize_name(req.name))
            if dep is None:
                problems.append(f"{pin.name} {pin.version} needs {raw}: not in the lock")
            elif not req.specifier.contains(dep.version, prereleases=True):
                problems.append(f"{pin.name} {pin.version} needs {raw}: lock has {dep.version}")
    assert not problems, "\n".join(problems)
