"""report.html: content, atomic rewrite, and what headless Chromium shows on a phone-sized screen.

The page is built from clips of the bundled sample copied in as saved samples, with loss points
from a real-looking schedule; the end-to-end run in test_watch_training.py checks the page a real
training writes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from support.headless_chromium import INSTALL_HINT, artifact_dir, find_chromium, inspect_page

from utils.voice.data.dataset import SAMPLE_DATASET
from utils.voice.publish import report_page

FACTS = {"data": "28 clips, 61.0 s (data/sample)", "base": "from scratch", "device": "cpu x1",
         "precision": "32-true"}


def _outputs_with_samples(tmp_path: Path, steps: list[int]) -> Path:
    output = tmp_path / "outputs" / "demo"
    wavs = sorted((SAMPLE_DATASET / "wavs").glob("*.wav"))
    for step, wav in zip(steps, wavs, strict=False):
        target = output / "samples" / f"step-{step}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, target)
    return output


def _state(running: bool) -> report_page.PageState:
    train = [(step, 1.2 - 0.02 * step) for step in range(1, 13)]
    return report_page.PageState(title="demo", facts=dict(FACTS), step=12, total_steps=24, steps_this_run=12,
                                 elapsed_s=60.0, running=running, train_mel=train,
                                 val_mel=[(4, 1.1), (8, 0.95), (12, 0.97)])


def test_page_lists_samples_newest_first_and_names_the_best_step(tmp_path):
    output = _outputs_with_samples(tmp_path, [4, 12, 8])
    page = report_page.write_report(output, _state(running=True)).read_text(encoding="utf-8")
    audio = re.findall(r'<audio[^>]*src="([^"?]+)', page)
    assert audio == ["samples/step-12.wav", "samples/step-8.wav", "samples/step-4.wav"]
    assert "best so far: batch 8" in page and "0.9500" in page
    assert "about 60 s left" in page  # 12 batches in 60 s, 12 to go
    assert 'http-equiv="refresh"' in page and 'name="viewport"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page must not reach the network"
    for name in (report_page.LOSS_PNG, report_page.SPECTROGRAM_PNG):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(output.glob(".*coaxial-tmp")), "atomic writes leave no temp files"


def test_finished_page_stops_refreshing(tmp_path):
    output = _outputs_with_samples(tmp_path, [4])
    state = _state(running=False)
    state.status = "training finished"
    page = report_page.write_report(output, state).read_text(encoding="utf-8")
    assert "http-equiv" not in page and " left" not in page and "training finished" in page


def test_page_before_any_validation_or_sample(tmp_path):
    output = tmp_path / "fresh"
    output.mkdir()
    page = report_page.write_report(output, report_page.PageState(title="x", facts={})).read_text(encoding="utf-8")
    assert "no validation yet" in page and "<audio" not in page and "<img" not in page


AUDIO_DURATIONS = """Promise.all([...document.querySelectorAll('audio')].map(a => a.readyState >= 1
  ? a.duration : new Promise(r => { a.addEventListener('loadedmetadata', () => r(a.duration));
                                     a.addEventListener('error', () => r(-1)); a.load(); })))"""
IMAGES = "[...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def test_headless_chromium_renders_plots_and_one_player_per_sample(tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    steps = [4, 8, 12]
    output = _outputs_with_samples(tmp_path, steps)
    path = report_page.write_report(output, _state(running=True))
    shot = artifact_dir(tmp_path) / "report_page_phone.png"
    result = inspect_page(path.as_uri(), {"durations": AUDIO_DURATIONS, "images": IMAGES,
                                          "fits_width": OVERFLOW}, shot, binary)
    assert result.errors == []
    durations = result.values["durations"]
    assert len(durations) == len(steps) and all(d > 0.3 for d in durations), durations
    images = result.values["images"]
    assert [src.split("?")[0] for src, _, _ in images] == [report_page.LOSS_PNG, report_page.SPECTROGRAM_PNG]
    assert all(complete and width > 100 for _, complete, width in images), images
    assert result.values["fits_width"], "the page scrolls sideways on a phone-sized screen"
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_headless_check_catches_a_broken_link_and_console_error(tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="missing.png"><script>console.error("boom")</script></body></html>',
                    encoding="utf-8")
    result = inspect_page(page.as_uri(), {"images": IMAGES}, tmp_path / "broken.png", binary)
    assert any("missing.png" in error for error in result.errors) and "console: boom" in result.errors
