"""`make-sample` regenerates the bundled sample byte for byte, and says what to install without the tools."""

from __future__ import annotations

import shutil

import pytest

from tasks import make_sample
from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset

needs_tools = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="espeak-ng and sox not installed")


@needs_tools
def test_committed_sample_matches_a_fresh_generation(capsys):
    assert make_sample.main(["--check"]) == 0, capsys.readouterr().err


@needs_tools
def test_generated_sample_is_valid_repeatable_and_small(tmp_path, capsys):
    out = tmp_path / "sample"
    assert make_sample.main(["--output", str(out)]) == 0
    report = validate_dataset(out)
    assert report.ok and not report.warnings, report.format_report()
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 3_000_000

    assert make_sample.main(["--check", "--output", str(out)]) == 0
    wav = report.clips[5].audio_path
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    capsys.readouterr()
    assert make_sample.main(["--check", "--output", str(out)]) == 1
    assert f"wavs/{wav.name}: content differs" in capsys.readouterr().err


def test_missing_tools_exit_1_with_install_hint_and_write_nothing(tmp_path, monkeypatch, capsys):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    out = tmp_path / "sample"

    assert make_sample.main(["--output", str(out)]) == 1

    err = capsys.readouterr().err
    assert "espeak-ng and sox not found" in err and "apt-get install espeak-ng sox" in err
    assert not out.exists()
    assert SAMPLE_DATASET.is_dir()
