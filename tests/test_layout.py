"""The import rules each utils/ package states in its __init__ docstring hold for every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

UTILS = REPO_ROOT / "utils"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _imports(path: Path, module_level_only: bool) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file; optionally only those that run at
    import time (not inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def _violations(package: str, allowed_prefixes: tuple[str, ...], module_level_only: bool) -> list[str]:
    bad = []
    for path in sorted((UTILS / package).glob("*.py")):
        for name, line in _imports(path, module_level_only):
            top = name.split(".")[0]
            if top in STDLIB and top != "utils":
                continue
            if not name.startswith(allowed_prefixes):
                bad.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {name}")
    return bad


def test_lock_package_imports_only_the_standard_library_at_import_time():
    assert _violations("lock", ("utils.lock", "utils.files", "utils.checks"), module_level_only=True) == []


@pytest.mark.parametrize("module", ["lockfile", "venv_builder"])
def test_what_tasks_venv_runs_uses_the_standard_library_alone(module):
    # Functions included: python3 -m tasks.venv runs these before anything is installed.
    bad = [f"{name} (line {line})" for name, line in _imports(UTILS / "lock" / f"{module}.py", False)
           if name.split(".")[0] not in STDLIB and not name.startswith(("utils.lock", "utils.files", "utils.checks"))]
    assert bad == []


def test_machine_package_imports_heavy_libraries_only_inside_functions():
    allowed = ("utils.machine", "utils.lock", "utils.files", "utils.checks", "numpy")
    assert _violations("machine", allowed, module_level_only=True) == []


@pytest.mark.parametrize("package", ["lock", "machine"])
def test_lock_and_machine_never_import_voice(package):
    voice = [f"{p.relative_to(REPO_ROOT)}:{line} imports {name}"
             for p in sorted((UTILS / package).glob("*.py"))
             for name, line in _imports(p, module_level_only=False) if name.startswith("utils.voice")]
    assert voice == []


def test_the_rule_checker_sees_a_violation(tmp_path, monkeypatch):
    # Guard against a checker that passes because it reads nothing.
    fake = tmp_path / "utils" / "lock"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("import numpy\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "UTILS", tmp_path / "utils")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert _violations("lock", ("utils.files",), module_level_only=False) == ["utils/lock/bad.py:1 imports numpy"]


@pytest.mark.parametrize("package", ["lock", "machine", "voice"])
def test_every_package_states_its_import_rule(package):
    doc = ast.get_docstring(ast.parse((UTILS / package / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "Import rule" in doc


def test_tests_mirror_the_utils_packages():
    for package in ("lock", "machine", "voice"):
        assert list((REPO_ROOT / "tests" / package).glob("test_*.py")), f"tests/{package}/ has no tests"
