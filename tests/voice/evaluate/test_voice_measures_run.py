"""A real run with validation records the voice measures, and its voice is evaluated end to end.

One x_low run on the bundled sample, 3 batches with a validation at batch 3 (piper holds 2 of the
28 clips out), shared by the tests of this file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.headless_chromium import INSTALL_HINT, artifact_dir, find_chromium, inspect_page

from tasks.evaluate import main as evaluate_main
from tasks.train import main as train_main
from utils.voice.data.dataset import SAMPLE_DATASET

pytestmark = pytest.mark.slow
MEASURES = ("val_mcd", "val_f0_rmse", "val_voicing_error", "val_duration_error", "val_wer", "val_listener")


@pytest.fixture(scope="module")
def run(module_tmp_path_factory) -> Path:
    output = module_tmp_path_factory.mktemp("measured") / "out"
    argv = ["--dataset", str(SAMPLE_DATASET), "--quality", "x_low", "--batch-size", "2", "--segment-size", "4096",
            "--num-workers", "0", "--max-steps", "3", "--trainer.limit_train_batches=3", "--sample-every", "0",
            "--accelerator", "cpu", "--output", str(output),
            "--cache-dir", str(module_tmp_path_factory.mktemp("cache")), "--quiet"]
    assert train_main(argv) == 0
    return output


def _voice(output: Path) -> Path:
    (onnx,) = output.glob("*.onnx")
    return onnx


def test_the_run_writes_its_held_out_clips_and_the_measures_of_each_validation(run):
    held_out = json.loads((run / "held_out.json").read_text(encoding="utf-8"))
    with open(SAMPLE_DATASET / "metadata.csv", encoding="utf-8") as handle:
        text_of = {row[0]: row[1] for row in csv.reader(handle, delimiter="|")}
    assert len(held_out["clips"]) == 2 and held_out["espeak_voice"] == "en-us"
    for clip in held_out["clips"]:
        # each sentence goes with its own recording (piper's split maps back to the dataset's rows)
        assert text_of[Path(clip["audio"]).stem] == clip["text"]
        assert Path(clip["audio"]).is_file() and clip["sample_rate"] == 22050

    with open(run / "metrics.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    validated = [row for row in rows if row.get("val_mcd")]
    assert [int(row["step"]) for row in validated] == [3]
    assert all(float(validated[0][name]) >= 0 for name in ("val_mcd", "val_voicing_error", "val_duration_error"))
    assert 1.0 <= float(validated[0]["val_listener"]) <= 5.0  # the predicted listener score (MOS)

    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    measures = summary["voice_measures"]
    assert measures["clips"] == 2 and measures["recordings_wer"] is not None
    assert 1.0 <= measures["recordings_listener"] <= 5.0  # the recordings' own score: val_listener's ceiling
    (validation,) = measures["validations"]
    assert validation["step"] == 3 and validation["val_mcd"] == pytest.approx(float(validated[0]["val_mcd"]), abs=1e-5)
    assert validation["val_listener"] == pytest.approx(float(validated[0]["val_listener"]), abs=1e-5)
    assert validation["seconds"] > 0

    page = (run / "report.html").read_text(encoding="utf-8")
    assert "How close to the speaker" in page and "report_voice_measures.png" in page
    assert "dashed: the recordings themselves (the ceiling)" in page
    assert (run / "report_voice_measures.png").stat().st_size > 5_000


def test_a_voice_trained_a_few_batches_is_further_from_the_recordings_than_they_are_from_themselves(run, capsys):
    assert evaluate_main(["--voice", str(_voice(run)), "--run", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recordings"]["clips"] == 2
    for clip in report["voices"][0]["clips"]:
        # A recording against itself scores 0, 0, 0, 1 and the recogniser's own error (test_measures.py).
        assert clip["mcd_db"] > 0
        assert clip["f0_rmse_cents"] is None or clip["f0_rmse_cents"] > 0
        assert clip["voicing_error"] > 0
        assert clip["duration_ratio"] != 1.0
        assert clip["wer"] >= clip["wer_recording"]


def test_two_voices_side_by_side_in_the_table(run, tmp_path, capsys):
    import shutil

    other = tmp_path / "copy.onnx"
    shutil.copy(_voice(run), other)
    shutil.copy(f"{_voice(run)}.json", f"{other}.json")
    assert evaluate_main(["--voice", str(_voice(run)), "--voice", str(other), "--run", str(run), "--clips", "1"]) == 0
    out = capsys.readouterr().out
    assert "medians side by side" in out
    assert out.count(f"voice {_voice(run)}") == 1 and out.count(f"voice {other}") == 1
    assert out.count("median ") == 2


def test_the_report_page_shows_the_measures_in_a_browser(run, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    shot = artifact_dir(tmp_path) / "report_page_voice_measures.png"
    result = inspect_page((run / "report.html").as_uri(), {
        "images": "[...document.images].map(i => [i.getAttribute('src').split('?')[0], i.complete && i.naturalWidth])",
        "headings": "[...document.querySelectorAll('h2')].map(h => h.textContent)",
    }, shot, binary)
    assert result.errors == []
    images = dict(result.values["images"])
    assert images["report_voice_measures.png"] > 100  # loaded and drawn
    assert "How close to the speaker" in result.values["headings"]
