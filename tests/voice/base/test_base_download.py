"""Base checkpoint downloads over real HTTP (a loopback server): progress, resume, pin check, cache."""

from __future__ import annotations

import hashlib
import os

import pytest
from support.checkpoint_builders import TINY, write_published_checkpoint
from support.loopback_server import LoopbackServer, ServedFiles

from utils.voice.base.download import DownloadError, bases_dir, fetch_base
from utils.voice.base.published_checkpoint import read_base_checkpoint

URL_PATH = "/en/en_US/tiny/medium/epoch%3D2164-step%3D1355540.ckpt"


@pytest.fixture(scope="module")
def published(module_tmp_path_factory):
    path = write_published_checkpoint(module_tmp_path_factory.mktemp("served") / "tiny.ckpt", arch=TINY)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def cached_files(cache):
    return sorted(p.name for p in bases_dir(cache).rglob("*") if p.is_file())


def test_download_shows_progress_is_checked_and_second_run_needs_no_server(published, tmp_path, capsys):
    path, sha = published
    with LoopbackServer(ServedFiles({URL_PATH: path})) as server:
        got = fetch_base(server.url(URL_PATH), sha, size=path.stat().st_size, cache_root=tmp_path)
    err = capsys.readouterr().err
    assert not got.from_cache and got.resumed_from == 0
    assert got.path.name == "epoch=2164-step=1355540.ckpt"  # the URL's file name, unquoted
    assert got.path.read_bytes() == path.read_bytes()
    assert "epoch=2164-step=1355540.ckpt" in err and "100%" in err  # the progress bar ran to the end
    assert read_base_checkpoint(got.path).epoch == 2164

    # Server stopped: the cached copy is checked again and used without any network.
    again = fetch_base(server.url(URL_PATH), sha, size=path.stat().st_size, cache_root=tmp_path)
    assert again.from_cache and again.path == got.path
    assert len(server.served.requests) == 1


def test_download_cut_off_halfway_resumes_with_a_range_request(published, tmp_path):
    path, sha = published
    half = path.stat().st_size // 2
    served = ServedFiles({URL_PATH: path}, cut_after={URL_PATH: half})
    with LoopbackServer(served) as server:
        got = fetch_base(server.url(URL_PATH), sha, cache_root=tmp_path, progress=False)
    assert [r["range"] for r in served.requests] == [None, f"bytes={half}-"]
    assert got.resumed_from == half
    assert hashlib.sha256(got.path.read_bytes()).hexdigest() == sha
    assert cached_files(tmp_path) == [got.path.name]  # no .partial left behind


def test_partial_file_of_a_killed_run_is_continued_not_restarted(published, tmp_path):
    path, sha = published
    data = path.read_bytes()
    partial = bases_dir(tmp_path) / sha / "epoch=2164-step=1355540.ckpt.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:1000])
    served = ServedFiles({URL_PATH: path})
    with LoopbackServer(served) as server:
        got = fetch_base(server.url(URL_PATH), sha, size=len(data), cache_root=tmp_path, progress=False)
    assert [r["range"] for r in served.requests] == ["bytes=1000-"]
    assert got.resumed_from == 1000 and got.path.read_bytes() == data


def test_server_ignoring_range_gets_a_clean_restart(published, tmp_path):
    path, sha = published
    partial = bases_dir(tmp_path) / sha / "epoch=2164-step=1355540.ckpt.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(path.read_bytes()[:5000])
    with LoopbackServer(ServedFiles({URL_PATH: path}, honour_range=False)) as server:
        got = fetch_base(server.url(URL_PATH), sha, cache_root=tmp_path, progress=False)
    assert got.path.read_bytes() == path.read_bytes()  # not 5000 bytes + the whole file again


def test_wrong_sha256_is_refused_names_both_hashes_and_keeps_nothing(published, tmp_path):
    path, sha = published
    wrong = hashlib.sha256(b"another file").hexdigest()
    with LoopbackServer(ServedFiles({URL_PATH: path})) as server, pytest.raises(DownloadError) as caught:
        fetch_base(server.url(URL_PATH), wrong, cache_root=tmp_path, progress=False)
    assert wrong in str(caught.value) and sha in str(caught.value)
    assert cached_files(tmp_path) == []


def test_wrong_size_is_refused_before_hashing(published, tmp_path):
    path, sha = published
    with LoopbackServer(ServedFiles({URL_PATH: path})) as server, pytest.raises(DownloadError, match="size"):
        fetch_base(server.url(URL_PATH), sha, size=path.stat().st_size + 1, cache_root=tmp_path, progress=False)
    assert cached_files(tmp_path) == []


def test_damaged_cache_is_detected_and_downloaded_again(published, tmp_path):
    path, sha = published
    with LoopbackServer(ServedFiles({URL_PATH: path})) as server:
        got = fetch_base(server.url(URL_PATH), sha, cache_root=tmp_path, progress=False)
        with open(got.path, "r+b") as handle:  # one flipped byte in the cached copy
            handle.seek(100)
            byte = handle.read(1)
            handle.seek(100)
            handle.write(bytes([byte[0] ^ 0xFF]))
        again = fetch_base(server.url(URL_PATH), sha, cache_root=tmp_path, progress=False)
    assert not again.from_cache
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == sha


def test_missing_file_and_no_server_fail_with_a_resume_hint(tmp_path):
    with LoopbackServer(ServedFiles({})) as server:
        with pytest.raises(DownloadError, match="404"):
            fetch_base(server.url("/missing.ckpt"), "0" * 64, cache_root=tmp_path, progress=False, retries=0)
    url = server.url(URL_PATH)
    with pytest.raises(DownloadError, match="run the same command again"):
        fetch_base(url, "0" * 64, cache_root=tmp_path, progress=False, retries=1)
    assert not any(os.scandir(bases_dir(tmp_path) / ("0" * 64)))
