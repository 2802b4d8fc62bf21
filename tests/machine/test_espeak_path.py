"""The espeak-ng data path guard: macOS's espeak-ng cuts data paths over 159 bytes (piper1-gpl #281).

This machine is Linux, whose espeak-ng keeps paths up to PATH_MAX. The tests FAKE macOS (the
platform lookup answers "darwin") and use a FAKE long project path (a symlink to piper's real data
nested more than 160 bytes deep); the phonemization through it is real. espeakbridge.initialize
sets process-global C state: every test that starts espeak-ng elsewhere starts it again on piper's
own data afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from piper import espeakbridge, phonemize_espeak
from piper.phonemize_espeak import EspeakPhonemizer

from tasks import verify
from utils.machine import espeak_path, hardware
from utils.machine.runtime_patches import apply_runtime_patches

REAL_DATA = espeak_path.piper_data_dir()
MACOS_LONGEST = 159


def nest_link_to_real_data(top, at_least: int) -> str:
    """A folder chain under ``top`` ending in a symlink named espeak-ng-data to piper's real data,
    the whole path at least ``at_least`` bytes. Made folder by folder, relative to an open folder,
    because Linux refuses whole paths over 4096 bytes."""
    os.makedirs(top, exist_ok=True)
    path, folder = str(top), os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while len(path) + len("/espeak-ng-data") < at_least:
            name = "FAKE-long-project-folder-" + "x" * min(200, at_least)
            os.mkdir(name, dir_fd=folder)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder, path = inner, f"{path}/{name}"
        os.symlink(REAL_DATA, "espeak-ng-data", dir_fd=folder)
    finally:
        os.close(folder)
    return f"{path}/espeak-ng-data"


@pytest.fixture
def fake_long_data_dir(tmp_path):
    """FAKE long project path: piper's real espeak-ng data, reached through more than 160 bytes."""
    path = nest_link_to_real_data(tmp_path / "deep", 200)
    assert espeak_path.path_bytes(path) > 160
    return path


@pytest.fixture
def fake_macos(monkeypatch, tmp_path_factory):
    """FAKE macOS: the platform lookup says darwin. The link goes to a short scratch cache; the
    guard's records, $ESPEAK_DATA_PATH and espeakbridge.initialize are put back afterwards."""
    monkeypatch.setattr(espeak_path, "this_platform", lambda: "darwin")
    cache = tmp_path_factory.mktemp("c")
    monkeypatch.setenv("COAXIAL_CACHE", str(cache))
    monkeypatch.delenv("ESPEAK_DATA_PATH", raising=False)
    monkeypatch.setattr(espeak_path, "swapped_paths", {})
    monkeypatch.setattr(espeakbridge, "initialize", espeakbridge.initialize)
    yield cache
    espeakbridge.initialize(str(REAL_DATA))


@pytest.fixture
def started_with(monkeypatch):
    """Every path espeakbridge.initialize receives, in order (installed before the guard wraps it)."""
    seen: list[str] = []
    real = espeakbridge.initialize

    def recording(data_dir):
        seen.append(data_dir)
        return real(data_dir)

    monkeypatch.setattr(espeakbridge, "initialize", recording)
    return seen


def hello_world(data_dir) -> list[list[str]]:
    return EspeakPhonemizer(data_dir).phonemize("en-us", "Hello world.")


def test_linux_espeak_ng_does_not_cut_and_verify_says_so():
    check = espeak_path.check_data_path(platform="linux")
    assert check.status == "pass"
    assert f"{espeak_path.path_bytes(REAL_DATA)} bytes" in check.detail and "does not cut" in check.detail
    assert espeak_path.longest_data_path("linux") is None and not espeak_path.too_long("x" * 500, "linux")


def test_macos_limit_is_159_bytes_counted_in_utf8():
    assert espeak_path.longest_data_path("darwin") == MACOS_LONGEST
    assert not espeak_path.too_long("/" + "a" * 158, "darwin") and espeak_path.too_long("/" + "a" * 159, "darwin")
    assert espeak_path.too_long("/" + "é" * 79 + "a", "darwin")  # 160 bytes in 81 characters


def test_on_fake_macos_verify_fails_for_a_fake_long_path_and_names_the_short_link(fake_macos, fake_long_data_dir):
    check = espeak_path.check_data_path(fake_long_data_dir)
    size = espeak_path.path_bytes(fake_long_data_dir)
    assert check.status == "fail"
    assert fake_long_data_dir in check.detail and f"is {size} bytes" in check.detail and "keeps 159" in check.detail
    assert "phontab" in check.detail
    link = fake_macos / espeak_path.link_name(REAL_DATA.resolve())
    assert f"already use the short link {link}" in check.remedy
    assert f"at least {size - MACOS_LONGEST} bytes shorter" in check.remedy
    assert os.path.realpath(link) == str(REAL_DATA.resolve())


def test_on_fake_macos_without_a_place_for_a_link_verify_says_move_the_project(
        fake_macos, fake_long_data_dir, monkeypatch, tmp_path):
    too_deep = tmp_path / ("FAKE-long-cache-" + "y" * 160)
    monkeypatch.setattr(espeak_path, "link_folders", lambda: [(too_deep, False)])
    check = espeak_path.check_data_path(fake_long_data_dir)
    assert check.status == "fail" and "short link" not in check.remedy
    assert check.remedy.startswith("move the project to a folder path at least")
    assert not too_deep.exists()


def test_on_fake_macos_verify_task_exits_1_with_the_fix(fake_macos, fake_long_data_dir, monkeypatch, capsys):
    monkeypatch.setattr(phonemize_espeak, "ESPEAK_DATA_DIR", fake_long_data_dir)
    code = verify.main(["--json", "--quick"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert code == 1 and [n for n, c in checks.items() if c["status"] == "fail"] == ["espeak-ng data path"]
    assert "already use the short link" in checks["espeak-ng data path"]["remedy"]
    # verify applied the runtime patches, the guard among them, and reports it with the torch flags
    assert "espeak-ng data path=short link" in checks["patches active in this process"]["detail"]


def test_on_fake_macos_the_guard_phonemizes_a_fake_long_path_through_a_short_link(
        fake_macos, fake_long_data_dir, started_with, monkeypatch):
    monkeypatch.setattr(phonemize_espeak, "ESPEAK_DATA_DIR", fake_long_data_dir)
    expected = hello_world(REAL_DATA)

    link = espeak_path.guard_espeak_data_path()
    phonemes = hello_world(fake_long_data_dir)

    assert phonemes == expected and "".join(phonemes[0]).startswith("həlˈoʊ")
    handed = started_with[-1]
    assert handed == link and espeak_path.path_bytes(handed) < 160
    assert os.path.islink(handed) and os.path.realpath(handed) == str(REAL_DATA.resolve())
    assert espeak_path.swapped_paths == {fake_long_data_dir: link}
    # for the processes this one starts without the guard (spawned feature-cache workers)
    assert os.environ["ESPEAK_DATA_PATH"] == link


def test_on_fake_macos_the_guard_wraps_once_and_leaves_a_short_path_alone(fake_macos, started_with):
    assert espeak_path.guard_espeak_data_path() is None  # piper's own data path here is short
    wrapper = espeakbridge.initialize
    espeak_path.guard_espeak_data_path()
    assert espeakbridge.initialize is wrapper and wrapper.__wrapped__.__name__ == "recording"

    assert hello_world(REAL_DATA)[0]
    assert started_with == [str(REAL_DATA)]
    assert list(fake_macos.iterdir()) == [] and "ESPEAK_DATA_PATH" not in os.environ


def test_on_linux_the_guard_changes_nothing(monkeypatch):
    monkeypatch.setattr(espeak_path, "this_platform", lambda: "linux")
    before = espeakbridge.initialize
    assert espeak_path.guard_espeak_data_path() is None
    assert espeakbridge.initialize is before


def test_apply_runtime_patches_reports_the_guard_on_fake_macos(fake_macos, fake_long_data_dir, monkeypatch):
    monkeypatch.setattr(phonemize_espeak, "ESPEAK_DATA_DIR", fake_long_data_dir)
    monkeypatch.setattr(hardware, "probe", lambda: hardware.Hardware(  # FAKE Mac without MPS: the CPU path
        torch_version=torch.__version__, torch_cuda_version=None, cuda_available=False, device_count=0,
        device_name=None, capability=None, arch_list=(), mps_available=False, nvidia_smi_gpus=(), machine="arm64",
        system="Darwin", cpu_count=8))
    applied = apply_runtime_patches(accelerator="cpu", precision="32-true")["applied"]
    link = fake_macos / espeak_path.link_name(REAL_DATA.resolve())
    assert applied["espeak-ng data path"] == f"short link {link}"


def test_the_link_is_reused_and_re_pointed_when_it_points_elsewhere(fake_macos, tmp_path):
    link = espeak_path.short_data_link(REAL_DATA)
    assert link.parent == fake_macos
    made = os.lstat(link)
    assert espeak_path.short_data_link(REAL_DATA) == link
    assert os.lstat(link).st_ino == made.st_ino  # reused, not made again

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link.unlink()
    link.symlink_to(elsewhere, target_is_directory=True)
    assert espeak_path.short_data_link(REAL_DATA) == link
    assert os.path.realpath(link) == str(REAL_DATA.resolve())
    assert [p.name for p in fake_macos.iterdir()] == [link.name]  # no temp name left behind


def test_a_folder_in_the_links_place_or_a_long_cache_moves_the_link_to_tmp(fake_macos, monkeypatch, tmp_path):
    real_folders = espeak_path.link_folders
    private = tmp_path / "coaxial-espeak-test"
    monkeypatch.setattr(espeak_path, "link_folders", lambda: [(fake_macos, False), (private, True)])
    (fake_macos / espeak_path.link_name(REAL_DATA.resolve())).mkdir()  # a real folder took the name
    link = espeak_path.short_data_link(REAL_DATA)
    assert link.parent == private and (private.stat().st_mode & 0o777) == 0o700

    monkeypatch.setenv("COAXIAL_CACHE", str(tmp_path / ("FAKE-long-cache-" + "z" * 160)))
    cache, fallback = real_folders()
    assert fallback[1] and fallback[0].name == f"coaxial-espeak-{os.getuid()}"
    monkeypatch.setattr(espeak_path, "link_folders", lambda: [cache, (private, True)])
    assert espeak_path.short_data_link(REAL_DATA, "darwin") == link  # the cache path is too long


def test_real_espeak_ng_cut_path_fails_and_falls_back_to_espeak_data_path(tmp_path):
    """Real truncation, no fake: Linux's espeak-ng cuts at PATH_MAX (4096) the same way macOS's cuts
    at 160. Cut, it ends the process on the compiled-in folder's phontab; with $ESPEAK_DATA_PATH
    (what the guard sets for spawned workers) it finds the data."""
    deep = nest_link_to_real_data(tmp_path / "deep", 4300)
    code = ("from piper.phonemize_espeak import EspeakPhonemizer as E; "
            f"print(''.join(E({deep!r}).phonemize('en-us', 'Hi.')[0]))")
    env = {**os.environ, "HOME": str(tmp_path)}  # no ~/espeak-ng-data to fall back on
    env.pop("ESPEAK_DATA_PATH", None)
    try:
        cut = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        env["ESPEAK_DATA_PATH"] = str(REAL_DATA)
        rescued = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(tmp_path / "deep")  # fd-based: copes with a path longer than Linux accepts
    assert cut.returncode == 1 and "phontab': No such file or directory" in cut.stderr
    assert rescued.returncode == 0 and "ˈaɪ" in rescued.stdout
