"""utils.lock.lockfile reads pixi.lock format 7 exactly as a YAML parser does, maps platform names to
their subdir and virtual packages, refuses other formats with the re-lock command, and names the line
of bad input."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO_ROOT

from utils.lock.lockfile import LockError, LockVersionError, load_lock, parse_lock, parse_yaml_subset

LOCK_TEXT = (REPO_ROOT / "pixi.lock").read_text(encoding="utf-8")

# The layout pixi 0.77 writes: a plain platform named after its subdir, a CUDA platform under the
# alias p1, package lists keyed by platform name, `purls` on conda records.
V7 = """\
version: 7
platforms:
- name: linux-64
  virtual-packages:
  - __unix=0=0
  - __glibc=2.28
  - __archspec=0=x86_64
- name: p1
  subdir: linux-64
  virtual-packages:
  - __cuda=12.8
  - __unix=0=0
  - __glibc=2.28
  - __archspec=0=x86_64
environments:
  cpu:
    channels:
    - url: https://conda.anaconda.org/conda-forge/
    packages:
      linux-64:
      - conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cpu_mkl_py313_h1_102.conda
  gpu:
    channels:
    - url: https://conda.anaconda.org/conda-forge/
    packages:
      p1:
      - conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cuda129_mkl_py313_h2_302.conda
packages:
- conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cpu_mkl_py313_h1_102.conda
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
  depends:
  - python >=3.13,<3.14.0a0
  purls:
  - pkg:pypi/torch?source=hash-mapping
- conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cuda129_mkl_py313_h2_302.conda
  sha256: 2222222222222222222222222222222222222222222222222222222222222222
  depends:
  - __cuda
  - python >=3.13,<3.14.0a0
  purls: []
"""

# What pixi < 0.68 wrote: no platforms list, package lists keyed by subdir.
V6 = """\
version: 6
environments:
  cpu:
    channels:
    - url: https://conda.anaconda.org/conda-forge/
    packages:
      linux-64:
      - conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cpu_mkl_py313_h1_102.conda
packages:
- conda: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.8.0-cpu_mkl_py313_h1_102.conda
  sha256: 1111111111111111111111111111111111111111111111111111111111111111
"""


def test_subset_parser_agrees_with_pyyaml_on_the_real_lock():
    assert parse_yaml_subset(LOCK_TEXT, "pixi.lock") == yaml.safe_load(LOCK_TEXT)


def test_subset_parser_agrees_with_pyyaml_on_the_v7_fixture():
    assert parse_yaml_subset(V7, "fixture") == yaml.safe_load(V7)


def test_alias_platform_maps_to_its_subdir_and_virtual_packages():
    lock = parse_lock(V7, "fixture.lock")
    assert lock.platforms("gpu") == ["p1"] and lock.subdirs("gpu") == ["linux-64"]
    p1 = lock.platform("p1")
    assert (p1.subdir, p1.cuda, p1.virtual_package("__glibc")) == ("linux-64", "12.8", "2.28")
    assert p1.label == "linux-64 (p1)"
    plain = lock.platform("linux-64")
    assert (plain.subdir, plain.cuda, plain.label) == ("linux-64", None, "linux-64")


def test_packages_are_found_by_platform_name_or_by_real_subdir():
    lock = parse_lock(V7, "fixture.lock")
    by_subdir = lock.packages("gpu", "linux-64")
    assert by_subdir == lock.packages("gpu", "p1")
    assert [p.build for p in by_subdir] == ["cuda129_mkl_py313_h2_302"]
    assert [p.build for p in lock.packages("cpu", "linux-64")] == ["cpu_mkl_py313_h1_102"]


def test_purls_decide_the_pypi_name_and_an_empty_list_means_none():
    lock = parse_lock(V7, "fixture.lock")
    assert lock.packages("cpu", "linux-64")[0].pypi_name == "torch"
    assert lock.packages("gpu", "p1")[0].pypi_name is None


def test_unlocked_subdir_names_what_is_locked():
    lock = parse_lock(V7, "fixture.lock")
    with pytest.raises(LockError, match=r"'gpu' is not locked for win-64 \(locked: linux-64 \(p1\)\)"):
        lock.packages("gpu", "win-64")


def test_package_list_for_an_undeclared_platform_is_refused():
    text = V7.replace("      p1:\n", "      p9:\n")
    with pytest.raises(LockError, match=r"platform 'p9'.*offline-lock/lock"):
        parse_lock(text, "fixture.lock")


@pytest.mark.parametrize("text", [V6, V7.replace("version: 7", "version: 8")])
def test_other_format_versions_are_refused_with_the_relock_command(text):
    with pytest.raises(LockVersionError) as info:
        parse_lock(text, "old.lock")
    message = str(info.value)
    assert message.startswith("old.lock: lock-file format")
    assert "`pixi lock`" in message and "offline-lock/lock" in message


def test_the_real_lock_names_cuda12_platforms_by_alias_with_cuda():
    lock = load_lock(REPO_ROOT / "pixi.lock")
    assert lock.version == 7
    entries = [lock.platform(n) for n in lock.platforms("cuda12")]
    assert sorted(e.subdir for e in entries) == ["linux-64", "win-64"]
    assert all(e.name != e.subdir and e.cuda == "12.8" for e in entries)


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
    text = "version: 7\nenvironments:\n  default:\n    this line has no colon\n"
    with pytest.raises(LockError, match=r"pixi.lock:4"):
        parse_lock(text, "pixi.lock")


def test_missing_lock_names_the_file(tmp_path):
    with pytest.raises(LockError, match=str(tmp_path / "nope.lock")):
        load_lock(tmp_path / "nope.lock")


def test_unknown_environment_lists_the_known_ones():
    lock = load_lock(REPO_ROOT / "pixi.lock")
    with pytest.raises(LockError, match="cuda12"):
        lock.packages("gpu", "linux-64")
