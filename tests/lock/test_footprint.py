"""`footprint` sums the lock's download sizes and says when PyPI sizes are missing."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import pytest

from benchmarks import bench_footprint as bench
from utils.lock.footprint import measure, resolve_pypi_sizes
from utils.lock.lockfile import DEFAULT_LOCK, load_lock


@pytest.fixture(scope="module")
def lock():
    return load_lock(DEFAULT_LOCK)


def test_offline_without_cache_counts_conda_only_and_lists_unknown_wheels(lock, tmp_path):
    pkgs = lock.packages("cpu", "linux-64")
    report = resolve_pypi_sizes(pkgs, cache_path=tmp_path / "sizes.json", fetch=False)
    assert report.sizes == {} and report.errors
    fp = measure(lock, "cpu", "linux-64", report.sizes)
    assert fp.pypi_bytes == 0
    assert fp.conda_bytes == sum(p.size for p in pkgs if p.kind == "conda") > 0
    assert fp.unknown == sorted(p.filename for p in pkgs if p.kind == "pypi")


def test_cached_sizes_are_used_without_network(lock, tmp_path):
    # A cache file written by hand (sizes are arbitrary here): proves lookup by sha256, not the figures.
    pkgs = lock.packages("cuda12", "linux-64")
    wheels = [p for p in pkgs if p.kind == "pypi"]
    cache = tmp_path / "sizes.json"
    cache.write_text(json.dumps({p.sha256: 1000 + i for i, p in enumerate(wheels)}))
    report = resolve_pypi_sizes(pkgs, cache_path=cache, fetch=False)
    assert report.from_cache == len(wheels) and report.fetched == 0 and not report.errors
    fp = measure(lock, "cuda12", "linux-64", report.sizes, top=3)
    assert fp.unknown == []
    assert fp.pypi_bytes == sum(1000 + i for i in range(len(wheels)))
    assert [b for _, b in fp.top] == sorted((b for _, b in fp.top), reverse=True)
    assert fp.top[0][1] == max(p.size for p in pkgs if p.kind == "conda")


def test_report_marks_lower_bounds_when_offline(tmp_path, capsys):
    assert bench.main(["--offline", "--cache", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "lower bounds" in out and "fallback:" in out
    assert "cpu         linux-64" in out and "<= 1.00" in out


def test_json_report_has_a_row_per_locked_environment_and_platform(lock, tmp_path, capsys):
    assert bench.main(["--offline", "--json", "--cache", str(tmp_path / "none.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {(r["env"], r["platform"], r["lock_platform"]) for r in data["rows"]}
    # Rows name the real subdir (cuda12: linux-64) and keep the lock's name for it (p1).
    assert rows == {(e, lock.platform(p).subdir, p) for e in lock.environment_names() for p in lock.platforms(e)}
    assert all(r["lower_bound"] for r in data["rows"])
    goals = {(r["env"], r["platform"]): r["goal_bytes"] for r in data["rows"] if r["goal_bytes"]}
    assert set(goals) == {("cpu", "linux-64"), ("cuda12", "linux-64")}


def test_linux_aarch64_torch_counts_as_a_pypi_download(lock, tmp_path):
    pkgs = lock.packages("cpu", "linux-aarch64")
    torch = next(p for p in pkgs if p.kind == "pypi" and p.name == "torch")
    cache = tmp_path / "sizes.json"
    cache.write_text(json.dumps({p.sha256: 7 for p in pkgs if p.kind == "pypi"} | {torch.sha256: 10**8}))
    fp = measure(lock, "cpu", "linux-aarch64", resolve_pypi_sizes(pkgs, cache_path=cache, fetch=False).sizes)
    assert (fp.platform, fp.unknown) == ("linux-aarch64", [])
    assert fp.top[0] == ("torch 2.8.0 (PyPI)", 10**8)
    assert fp.conda_bytes == sum(p.size for p in pkgs if p.kind == "conda")


@pytest.mark.slow
def test_fetched_wheel_size_equals_the_downloaded_file(lock, tmp_path):
    wheel = min((p for p in lock.packages("cpu", "linux-64") if p.kind == "pypi"), key=lambda p: p.name)
    report = resolve_pypi_sizes([wheel], cache_path=tmp_path / "sizes.json")
    if report.errors and not report.sizes:
        pytest.fail(f"PyPI unreachable from this machine: {report.errors}")
    try:
        with urllib.request.urlopen(wheel.url, timeout=60) as resp:
            body = resp.read()
    except urllib.error.URLError as exc:
        pytest.fail(f"cannot download {wheel.url}: {exc}")
    assert hashlib.sha256(body).hexdigest() == wheel.sha256
    assert report.sizes[wheel.sha256] == len(body)
    again = resolve_pypi_sizes([wheel], cache_path=tmp_path / "sizes.json", fetch=False)
    assert again.from_cache == 1 and again.sizes == report.sizes
