"""``python -m tasks.train --validate-only [--json] [--exclude ...]`` with the content checks: the
JSON schema, exit 0 with only warnings and 2 with problems, options refused with exit 2."""

from __future__ import annotations

import json

import pytest
from support.content_builders import make_content_profile
from support.dataset_builders import make_broken_dataset, snapshot
from support.train_process import call_main

from tasks.train import main
from utils.voice.data.dataset_report import CONTENT_KINDS

ENTRY_KEYS = {"file", "line", "clip", "kind", "message", "fix"}


@pytest.fixture(scope="module")
def damaged(module_tmp_path_factory):
    return make_content_profile(module_tmp_path_factory.mktemp("damaged"), 20, damaged=True)




def _check_entries(entries):
    for entry in entries:
        assert set(entry) == ENTRY_KEYS
        assert isinstance(entry["file"], str) and entry["file"]
        assert entry["line"] is None or isinstance(entry["line"], int)
        assert entry["clip"] is None or isinstance(entry["clip"], str)
        assert all(isinstance(entry[k], str) and entry[k] for k in ("kind", "message", "fix"))


def test_json_report_of_a_damaged_set_exits_0_with_every_kind(damaged, tmp_path, capsys):
    before = snapshot(damaged)
    code, out, _ = call_main(main, ["--dataset", str(damaged), "--validate-only", "--json",
                         "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0
    data = json.loads(out)  # one object, nothing else on stdout
    assert {"clips", "seconds", "problems", "warnings"} <= set(data)
    assert data["clips"] == 20 and data["seconds"] > 40 and data["problems"] == []
    _check_entries(data["warnings"])
    content = [w for w in data["warnings"] if w["kind"] in CONTENT_KINDS]
    assert {w["kind"] for w in content} == set(CONTENT_KINDS)
    clipped = next(w for w in content if w["kind"] == "clipped")
    assert clipped["clip"] == "0001_take1" and clipped["line"] == 2
    assert clipped["file"].endswith("recordings/0001_take1.wav")
    assert snapshot(damaged) == before


def test_json_report_with_problems_exits_2(tmp_path, capsys):
    broken = make_broken_dataset("missing-audio", tmp_path / "data")
    code, out, _ = call_main(main, ["--dataset", str(broken.path), "--validate-only", "--json",
                         "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2
    data = json.loads(out)
    _check_entries(data["problems"])
    assert any(p["file"] == str(broken.culprit) and p["line"] == broken.line for p in data["problems"])


def test_text_report_lists_content_warnings_by_kind_and_what_exclude_would_leave_out(damaged, tmp_path, capsys):
    code, out, _ = call_main(main, ["--dataset", str(damaged), "--validate-only", "--exclude", "noise,level",
                         "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0
    assert "Content warnings (8 in 8 clip(s)" in out
    for kind in CONTENT_KINDS:
        assert f"  {kind} (" in out
    assert "With --exclude noise,level: 2 of 20 clip(s) would be left out of training." in out
    assert out.rstrip().splitlines()[-2] == "OK: dataset is ready to train."


@pytest.mark.parametrize(("args", "named"), [
    (["--exclude", "loud"], "--exclude 'loud': choose from clipped, silence, noise"),
    (["--json"], "--json goes with --validate-only"),
])
def test_bad_content_options_exit_2_naming_the_option(tmp_path, capsys, args, named):
    before = snapshot(tmp_path)
    code, _, err = call_main(main, ["--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *args],
                             capsys)
    assert code == 2 and named in err
    assert snapshot(tmp_path) == before
