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
    allowed = ("utils.machine", "utils.lock", "utils.files", "utils.checks", "utils.errors", "numpy")
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
    for package in ("lock", "machine", "voice", *(f"voice/{sub}" for sub in VOICE_LAYERS if sub != "")):
        assert list((REPO_ROOT / "tests" / package).glob("test_*.py")), f"tests/{package}/ has no tests"


# utils/voice/: the foundation modules ("" = the package's own modules, the spine excepted) and
# its sub-packages, lowest layer first (utils/voice/__init__.py draws the picture).
VOICE_LAYERS = ("", "data", "base", "publish", "evaluate", "run")
SPINE = "pipeline"


def _voice_layer(module: str) -> int:
    """Layer of a utils.voice module name (len(VOICE_LAYERS) for the spine)."""
    parts = module.split(".")[2:]
    if not parts or parts[0] == SPINE:
        return len(VOICE_LAYERS)
    return VOICE_LAYERS.index(parts[0]) if parts[0] in VOICE_LAYERS else 0


def _upward_imports(voice_root: Path) -> list[str]:
    bad = []
    for path in sorted(voice_root.rglob("*.py")):
        rel = path.relative_to(voice_root).with_suffix("")
        own = _voice_layer(".".join(("utils", "voice", *rel.parts)))
        for name, line in _imports(path, module_level_only=False):
            if name.startswith("utils.voice.") and _voice_layer(name) > own:
                bad.append(f"utils/voice/{rel}.py:{line} imports {name}")
    return bad


def test_voice_packages_import_only_downward():
    assert _upward_imports(UTILS / "voice") == []


def test_the_layer_checker_sees_an_upward_import(tmp_path):
    fake = tmp_path / "voice" / "data"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from utils.voice.run.configure import settings\n", encoding="utf-8")
    assert _upward_imports(tmp_path / "voice") == ["utils/voice/data/bad.py:1 imports utils.voice.run.configure"]


def test_voice_keeps_few_modules_of_its_own_and_small_ones():
    own = [p.name for p in (UTILS / "voice").glob("*.py") if p.name != "__init__.py"]
    assert len(own) <= 6, own
    for package in VOICE_LAYERS[1:]:
        doc = ast.get_docstring(ast.parse((UTILS / "voice" / package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Import rule" in doc, f"utils/voice/{package}/__init__.py states no import rule"


def test_the_command_line_is_read_only_by_the_task_and_the_spine():
    # TrainOptions (the parsed command line) may be built in tasks/ and resolved by
    # utils/voice/pipeline.py's plan_run; every other module gets a typed group or plain values.
    readers = {}
    for path in sorted(UTILS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.unparse(node.args)
                if "TrainOptions" in text:
                    readers[f"{path.relative_to(REPO_ROOT)}:{node.name}"] = True
    assert sorted(readers) == ["utils/voice/pipeline.py:plan_run", "utils/voice/pipeline.py:train"]


def test_modules_and_functions_stay_small():
    # A module a newcomer can read in one sitting, a function that fits on a screen.
    too_big = []
    for path in sorted([*UTILS.rglob("*.py"), *(REPO_ROOT / "tasks").glob("*.py")]):
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 430:
            too_big.append(f"{path.relative_to(REPO_ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 65:
                too_big.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}: "
                               f"{node.end_lineno - node.lineno + 1} lines")
    assert too_big == []


PROJECT_CODE = ("utils", "tasks", "benchmarks")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules(roots: tuple[str, ...] = PROJECT_CODE, base: Path = REPO_ROOT) -> dict[str, Path]:
    return {_module_name(p) if base == REPO_ROOT else ".".join(p.relative_to(base).with_suffix("").parts): p
            for root in roots for p in sorted((base / root).rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere (module level or inside functions)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other through imports (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle_anywhere_in_the_project():
    # Lazy imports inside functions count: a circle through them still ties the modules together.
    assert import_circles(import_graph(_project_modules())) == []


def _fake_utils(tmp_path: Path, sources: dict[str, str]) -> dict[str, Path]:
    """A FAKE utils/ package of the given modules, read as the checkers read the project."""
    (tmp_path / "utils").mkdir()
    for name, source in sources.items():
        (tmp_path / "utils" / f"{name}.py").write_text(source)
    return _project_modules(("utils",), base=tmp_path)


def test_the_circle_finder_sees_a_circle_through_a_lazy_import(tmp_path):
    graph = import_graph(_fake_utils(tmp_path, {"a": "from utils.b import thing\n",
                                                "b": "def thing():\n    from utils import c\n",
                                                "c": "import utils.a\n", "d": "import utils.a\n"}))
    assert import_circles(graph) == [["utils.a", "utils.b", "utils.c"]]


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def private_names_taken(modules: dict[str, Path]) -> list[str]:
    """``from project.module import _name`` and ``module._name`` on an imported project module:
    a module's ``_private`` names are its own."""
    found = []
    for path in modules.values():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and node.module in modules:
                        found.append(f"{_shown(path)}:{node.lineno} imports {node.module}.{alias.name}")
                    elif f"{node.module}.{alias.name}" in modules:
                        aliases.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                aliases |= {alias.asname for alias in node.names if alias.asname and alias.name in modules}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{_shown(path)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_takes_another_modules_private_names():
    assert private_names_taken(_project_modules()) == []


def test_the_private_name_checker_sees_both_forms(tmp_path):
    found = private_names_taken(_fake_utils(tmp_path, {"a": "def _hidden():\n    pass\n",
                                                       "b": "from utils.a import _hidden\n",
                                                       "c": "from utils import a\n\na._hidden()\n"}))
    assert len(found) == 2 and "imports utils.a._hidden" in found[0] and "uses a._hidden" in found[1]


def _later_phase_imports(run_root: Path) -> list[str]:
    """Imports from a later phase of ``utils/voice/run/`` (its ``PHASES``, in run order)."""
    from utils.voice.run import PHASES

    bad = []
    for path in sorted(run_root.rglob("*.py")):
        rel = path.relative_to(run_root)
        if len(rel.parts) < 2:
            continue
        own = PHASES.index(rel.parts[0])
        for name, line in _imports(path, module_level_only=False):
            parts = name.split(".")
            if name.startswith("utils.voice.run.") and len(parts) > 3 and parts[3] in PHASES \
                    and PHASES.index(parts[3]) > own:
                bad.append(f"utils/voice/run/{rel}:{line} imports {name}")
    return bad


def test_run_phases_import_only_earlier_phases():
    from utils.voice.run import PHASES

    assert sorted(p.name for p in (UTILS / "voice" / "run").iterdir() if p.is_dir() and p.name != "__pycache__") \
        == sorted(PHASES)
    assert not [p.name for p in (UTILS / "voice" / "run").rglob("run_*.py")]
    assert _later_phase_imports(UTILS / "voice" / "run") == []


def test_the_phase_checker_sees_a_later_phase_imported(tmp_path):
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "bad.py").write_text("from utils.voice.run.fit.trainer import run_training\n")
    assert _later_phase_imports(tmp_path) == ["utils/voice/run/plan/bad.py:1 imports utils.voice.run.fit.trainer"]
