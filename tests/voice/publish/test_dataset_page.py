"""report.html's dataset section: counts per kind, each flagged clip with its reason and
a player for a copy beside the page; and a real short run with --exclude all --trim-silence."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf
from support.content_builders import make_content_profile
from support.dataset_builders import snapshot
from support.train_process import run_train

from utils.voice.data.content_checks import check_content, leave_out
from utils.voice.data.content_use import DATASET_CHECK_NAME
from utils.voice.data.dataset import validate_dataset
from utils.voice.data.dataset_report import CONTENT_KINDS
from utils.voice.publish import report_page
from utils.voice.publish.dataset_page import FLAGGED_DIR, write_dataset_check


@pytest.fixture(scope="module")
def damaged(module_tmp_path_factory):
    return make_content_profile(module_tmp_path_factory.mktemp("damaged"), 20, damaged=True)


def test_dataset_section_counts_kinds_and_plays_each_flagged_clip(damaged, tmp_path):
    report = validate_dataset(damaged)
    result = check_content(report, 16000, None)
    removed = leave_out(report, result, ["clipped"])
    result.excluded_kinds, result.excluded = ["clipped"], [c.id for c in removed]
    output = tmp_path / "out"
    write_dataset_check(output, report, result, 16000, tmp_path / "cache")
    # the measures the plan took, saved now: 19 contents (0006 and 0007 are one file saved twice)
    assert len(list((tmp_path / "cache" / "content").iterdir())) == 19
    state = report_page.PageState(title="anna", facts={"data": "19 clips"}, running=False)
    page = report_page.write_report(output, state).read_text(encoding="utf-8")

    section = page[page.index("<h2>Dataset: content checks</h2>"):]
    assert "19 clips trained; 1 left out by --exclude clipped" in section
    for kind in CONTENT_KINDS:
        expected = 2 if kind == "mismatch" else 1
        assert f"<tr><th>{kind}</th><td>{expected}</td></tr>" in section
    players = re.findall(r'<audio[^>]*src="(dataset/[^"]+)"', section)
    assert sorted(players) == sorted(f"{FLAGGED_DIR}/{clip}.wav" for clip in result.flagged)
    for player in players:
        info = sf.info(str(output / player))
        assert info.samplerate == 16000 and info.subtype == "PCM_16"
    assert "0001_take1" in section and "(left out of training)" in section
    assert "0009_take1" in section and "dB below the dataset&#x27;s median level" in section


@pytest.mark.slow
def test_a_run_with_exclude_all_and_trim_silence_trains_on_the_clean_clips(damaged, tmp_path):
    before = snapshot(damaged)
    output, cache = tmp_path / "out", tmp_path / "cache"
    proc = run_train(["--dataset", str(damaged), "--output", str(output), "--cache-dir", str(cache), "--quality",
                      "x_low", "--max-steps", "1", "--batch-size", "2", "--segment-size", "4096", "--num-workers",
                      "0", "--no-export", "--exclude", "all", "--trim-silence"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "content checks: 8 warning(s) in 8 clip(s)" in proc.stderr
    assert "--exclude clipped,silence,noise,mismatch,duplicate,bandwidth,level: leaving out 8 of 20 clips" \
        in proc.stderr
    config = json.loads((output / "train_config.json").read_text())
    assert config["exclude"] == list(CONTENT_KINDS) and config["trim_silence"] is True
    assert config["dataset"]["clips"] == 12
    check = json.loads((output / DATASET_CHECK_NAME).read_text())
    assert len(check["excluded"]["clips"]) == 8 and check["clips"] == 12
    page = (output / "report.html").read_text(encoding="utf-8")
    assert "12 clips trained; 8 left out by --exclude" in page
    assert snapshot(damaged) == before  # trimming and checks never write the user's files
