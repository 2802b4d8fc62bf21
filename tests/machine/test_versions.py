"""utils.machine.versions: the one place that asks which version of a package is installed."""

from __future__ import annotations

import platform

import torch

from utils.machine.versions import installed_version, release, same_release, stack_versions


def test_installed_and_missing_distributions():
    # PyPI's CUDA wheel reports torch.__version__ "2.8.0+cu128" for its distribution "2.8.0".
    assert same_release(installed_version("torch"), torch.__version__)
    assert installed_version("no-such-distribution-coaxial") is None


def test_stack_versions_name_python_and_each_distribution():
    found = stack_versions(("torch", "no-such-distribution-coaxial"))
    assert found["python"] == platform.python_version() and found["no-such-distribution-coaxial"] is None
    assert same_release(found["torch"], torch.__version__)


def test_local_version_labels_name_builds_of_one_release():
    assert release("2.8.0+cu128") == "2.8.0" and release("2.13.0") == "2.13.0"
    assert same_release("2.8.0+cu128", "2.8.0") and same_release("2.8.0+cpu", "2.8.0+cu128")
    assert not same_release("2.8.1", "2.8.0") and not same_release("2.8.0", None)
