"""Shared test configuration: markers, the repository root, and per-module scratch folders."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: real training or install runs (seconds to minutes); CI runs them, `-m 'not slow'` skips"
    )


class ModuleScratch:
    """``mktemp(name)`` as tmp_path_factory's, inside one folder that belongs to a test module."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        number = 0
        while (self.root / f"{name}{number}").exists():
            number += 1
        path = self.root / f"{name}{number}"
        path.mkdir()
        return path


@pytest.fixture(scope="module")
def module_tmp_path_factory(tmp_path_factory, request):
    """For module-scoped fixtures: their folders go when the module's last test is done, unless a
    test of the module failed. A training run leaves 0.6-2 GB of checkpoints, and tmp_path_factory
    keeps its folders until the whole session ends: about 30 such runs filled CI's disk."""
    scratch = ModuleScratch(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    failed_before = request.session.testsfailed
    yield scratch
    if request.session.testsfailed == failed_before:
        shutil.rmtree(scratch.root, ignore_errors=True)
