"""utils.lock.lockfile reads pixi.lock exactly as a YAML parser does, and names the line of bad input."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO_ROOT

from utils.lock.lockfile import LockError, load_lock, parse_lock, parse_yaml_subset

LOCK_TEXT = (REPO_ROOT / "pixi.lock").read_text(encoding="utf-8")


def test_subset_parser_agrees_with_pyyaml_on_the_real_lock():
    assert parse_yaml_subset(LOCK_TEXT, "pixi.lock") == yaml.safe_load(LOCK_TEXT)


def test_conda_records_get_name_version_build_from_their_filename():
    lock = load_lock(REPO_ROOT / "pixi.lock")
    for pkg in lock.records.values():
        if pkg.kind == "conda":
            assert pkg.filename.startswith(f"{pkg.name}-{pkg.version}-{pkg.build}")


def test_pytorch_records_provide_the_torch_distribution():
    lock = load_lock(REPO_ROOT / "pixi.lock")
    pytorch = [p for p in lock.records.values() if p.kind == "conda" and p.name == "pytorch"]
    assert pytorch and all(p.pypi_name == "torch" for p in pytorch)


def test_malformed_line_is_named():
    text = "version: 6\nenvironments:\n  default:\n    this line has no colon\n"
    with pytest.raises(LockError, match=r"pixi.lock:4"):
        parse_lock(text, "pixi.lock")


def test_other_format_versions_are_refused_with_the_fix():
    with pytest.raises(LockError, match="pixi run lock"):
        parse_lock("version: 5\nenvironments: {}\npackages: []\n", "old.lock")


def test_missing_lock_names_the_file(tmp_path):
    with pytest.raises(LockError, match=str(tmp_path / "nope.lock")):
        load_lock(tmp_path / "nope.lock")


def test_unknown_environment_lists_the_known_ones():
    lock = load_lock(REPO_ROOT / "pixi.lock")
    with pytest.raises(LockError, match="cuda12"):
        lock.packages("gpu", "linux-64")
