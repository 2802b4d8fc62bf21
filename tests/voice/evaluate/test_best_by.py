"""--best-by: the kept checkpoints ranked by a voice measure instead of the validation mel loss.

The Lightning harness is the one of tests/voice/run/test_checkpoint_retention.py: a linear model
whose validations log scripted scores, here under the name of a voice measure, so the test knows
which checkpoint must survive. The real measures come from tests/voice/evaluate/test_voice_measures_run.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from tasks.train import main as train_main  # noqa: E402
from utils.voice.data.dataset import SAMPLE_DATASET  # noqa: E402
from utils.voice.run import retention  # noqa: E402


class ScriptedMeasure(pl.LightningModule):
    """Validation ``i`` logs ``scores[i]`` as ``metric``."""

    def __init__(self, metric, scores):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.metric, self.scores, self.validations = metric, list(scores), 0

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log(self.metric, torch.tensor(float(self.scores[self.validations])), batch_size=len(batch[0]))
        self.log("val_mel", torch.tensor(1.0 - self.scores[self.validations]), batch_size=len(batch[0]))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.validations += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 4)), batch_size=4)


def test_best_by_mcd_keeps_the_lowest_mcd_not_the_lowest_mel(tmp_path):
    scores = [9.0, 7.0, 8.0, 5.0, 6.0]  # val_mel runs the other way: ranking by it would keep 9.0
    keep = retention.make_keep_best(tmp_path / "ckpt", keep_best=1, say=lambda _: None, monitor="val_mcd")
    trainer = pl.Trainer(default_root_dir=tmp_path, max_epochs=len(scores), callbacks=[keep], logger=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu")
    trainer.fit(ScriptedMeasure("val_mcd", scores))
    (kept,) = retention.best_checkpoints(tmp_path / "ckpt")
    assert kept.metric == "val_mcd" and kept.val_mel == 5.0
    assert kept.path.name.startswith("best-batch=") and "-val_mcd=5.0000" in kept.path.name
    assert retention.parse_best_name(Path("best-batch=12-val_mel=0.8100.ckpt")).metric == "val_mel"


def test_best_by_accepts_the_measure_names_with_or_without_val():
    assert retention.check_best_by(None) == "val_mel"
    assert retention.check_best_by("mcd") == retention.check_best_by("val_mcd") == "val_mcd"
    with pytest.raises(ValueError, match="choose one of mel, mcd, f0_rmse"):
        retention.check_best_by("loudness")


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
