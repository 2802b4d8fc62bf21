"""utils.machine.versions: the one place that asks which version of a package is installed."""

from __future__ import annotations

import platform

import torch

from utils.machine.versions import installed_version, stack_versions


def test_installed_and_missing_distributions():
    assert installed_version("torch") == torch.__version__
    assert installed_version("no-such-distribution-coaxial") is None


def test_stack_versions_name_python_and_each_distribution():
    found = stack_versions(("torch", "no-such-distribution-coaxial"))
    assert found == {"python": platform.python_version(), "torch": torch.__version__,
                     "no-such-distribution-coaxial": None}
