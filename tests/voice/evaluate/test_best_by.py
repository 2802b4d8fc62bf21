"""--best-by: the kept checkpoints ranked by a voice measure instead of the validation mel loss.

The Lightning harness is tests/support/scripted_validation.py: a linear model whose validations log
scripted scores, here under the name of a voice measure, so the test knows which checkpoint must
survive. The real measures come from tests/voice/evaluate/test_voice_measures_run.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from support.scripted_validation import ScriptedValidation, fit_scripted  # noqa: E402

from tasks.train import main as train_main  # noqa: E402
from utils.voice.data.dataset import SAMPLE_DATASET  # noqa: E402
from utils.voice.run.configure import watch_options  # noqa: E402
from utils.voice.run.fit import keep_best  # noqa: E402


def test_best_by_mcd_keeps_the_lowest_mcd_not_the_lowest_mel(tmp_path):
    scores = [9.0, 7.0, 8.0, 5.0, 6.0]  # val_mel runs the other way: ranking by it would keep 9.0
    keep = keep_best.make_keep_best(tmp_path / "ckpt", keep_best=1, say=lambda _: None, monitor="val_mcd")
    fit_scripted(ScriptedValidation({"val_mcd": scores, "val_mel": [1.0 - s for s in scores]}), [keep], tmp_path,
                 epochs=len(scores))
    (kept,) = keep_best.best_checkpoints(tmp_path / "ckpt")
    assert kept.metric == "val_mcd" and kept.val_mel == 5.0
    assert kept.path.name.startswith("best-batch=") and "-val_mcd=5.0000" in kept.path.name
    assert keep_best.parse_best_name(Path("best-batch=12-val_mel=0.8100.ckpt")).metric == "val_mel"


def test_best_by_accepts_the_measure_names_with_or_without_val():
    assert watch_options.check_best_by(None) == "val_mel"
    assert watch_options.check_best_by("mcd") == watch_options.check_best_by("val_mcd") == "val_mcd"
    with pytest.raises(ValueError, match="choose one of mel, mcd, f0_rmse"):
        watch_options.check_best_by("loudness")


@pytest.mark.parametrize("argv,message", [
    (["--best-by", "mcd"], "--best-by mcd needs validation"),
    (["--dataset", str(SAMPLE_DATASET), "--best-by", "loudness"], "--best-by loudness: choose one of"),
    (["--dataset", str(SAMPLE_DATASET), "--espeak-voice", "de", "--best-by", "wer"], "English only"),
])
def test_a_best_by_that_cannot_work_exits_2_before_writing(argv, message, tmp_path, capsys):
    output = tmp_path / "out"
    code = train_main([*argv, "--output", str(output), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and not output.exists()
