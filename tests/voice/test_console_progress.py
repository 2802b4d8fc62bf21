"""Progress where stderr is not a terminal (a file, a Slurm log): plain lines, no carriage returns."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT

from utils.voice.console import PlainProgress, progress_bar


def test_a_stage_writing_to_a_file_prints_plain_lines_and_one_at_its_end(tmp_path):
    # stderr redirected to a file, as sbatch's --output does
    log = tmp_path / "slurm.out"
    code = ("from utils.voice.console import progress_bar\n"
            "for _ in progress_bar(range(5), desc='Checking audio', unit='clip', leave=False, every_s=0): pass\n"
            "with progress_bar(total=3, desc='phonemes + spectrograms', unit='clip') as bar:\n"
            "    bar.update(3)\n")
    with open(log, "w") as handle:
        subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, stderr=handle, check=True)
    text = log.read_text()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[:5] == [f"Checking audio: {n}/5 clips (0 s)" for n in range(1, 6)]  # every_s=0: each update
    assert lines[5:] == ["phonemes + spectrograms: 3/3 clips (0 s)"]  # the default interval: only the end


def test_plain_progress_prints_nothing_twice_and_counts_like_tqdm(capsys):
    bar = progress_bar(total=4, desc="x", unit="clip")  # capsys's stderr is no terminal
    assert isinstance(bar, PlainProgress)
    bar.update(2)
    assert bar.n == 2 and capsys.readouterr().err == ""  # under 30 s: no line yet
    bar.close()
    bar.close()
    assert capsys.readouterr().err == "x: 2/4 clips (0 s)\n"
