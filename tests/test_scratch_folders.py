"""The suite frees its disk as it goes: a training test leaves 0.6-2 GB of checkpoints, and CI's
disk filled once when every test's folder was kept to the session's end."""

from __future__ import annotations

from conftest import REPO_ROOT

pytest_plugins = ["pytester"]

MODULE = """
import pytest

@pytest.fixture(scope="module")
def run_folder(module_tmp_path_factory):
    folder = module_tmp_path_factory.mktemp("run")
    (folder / "last.ckpt").write_bytes(b"x" * 1000)
    return folder

def test_uses_it(run_folder, tmp_path):
    (tmp_path / "out.wav").write_bytes(b"x")
    assert {OUTCOME}
"""


def test_passing_tests_leave_no_folders_and_failing_ones_keep_theirs(pytester):
    pytester.makeconftest((REPO_ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini((REPO_ROOT / "pytest.ini").read_text(encoding="utf-8"))
    pytester.makepyfile(test_passes=MODULE.replace("{OUTCOME}", "True"),
                        test_fails=MODULE.replace("{OUTCOME}", "False"))
    basetemp = pytester.path / "basetemp"
    result = pytester.runpytest_subprocess(f"--basetemp={basetemp}")
    result.assert_outcomes(passed=1, failed=1)
    left = sorted(str(p.relative_to(basetemp)) for p in basetemp.rglob("*") if p.is_file())
    # Only the failing module's checkpoint and its test's output are left to look at.
    # (test_fails.py runs first, so its test's tmp_path is test_uses_it0.)
    assert left == ["test_fails0/run0/last.ckpt", "test_uses_it0/out.wav"]
