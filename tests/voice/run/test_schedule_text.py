"""Pass-through options that change the schedule are printed, and shown in report.html, as
Lightning applies them; a toy Lightning run checks that reading of Lightning."""

from __future__ import annotations

import html

import pytest
from support.settings_helpers import settings_for

from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
from utils.voice.publish import report_page
from utils.voice.run.configure import schedule_text
from utils.voice.run.configure.schedule_text import (
    batches_per_epoch,
    max_time_seconds,
    passthrough_lines,
    train_batches,
    validation_text,
)


@pytest.fixture(scope="module")
def report():
    return validate_dataset(SAMPLE_DATASET)


def _settings(report, demo: bool = False, **trainer):
    return settings_for(report, dataset=None if demo else str(SAMPLE_DATASET), batch_size=2,
                        passthrough={"trainer": trainer, "model": {}, "data": {}})


def test_check_val_every_n_epoch_limits_and_max_time_are_printed_and_on_the_report_page(report, tmp_path):
    settings = _settings(report, check_val_every_n_epoch=25, limit_train_batches=3, limit_val_batches=0.5,
                         max_time="00:01:30:00")
    printed = schedule_text.describe_schedule(settings)
    assert "validation after every epoch" not in printed
    assert "validation after every 25th epoch (held-out clips, mel loss) [--trainer.check_val_every_n_epoch=25]" \
        in printed
    assert "each epoch trains: only 3 batch(es) (--trainer.limit_train_batches=3)" in printed
    assert "each validation uses: only 50% of the batches (--trainer.limit_val_batches=0.5)" in printed
    assert "training stops after 1 h 30 min (--trainer.max_time=00:01:30:00)" in printed
    assert batches_per_epoch(settings) == 3  # of 13: the summary's per-epoch estimate follows the limit

    facts = schedule_text.page_facts(settings)
    page = report_page.write_report(tmp_path, report_page.PageState(title="t", facts=facts)).read_text()
    text = html.unescape(page)
    assert "validation after every 25th epoch" in text and "only 3 batch(es)" in text and "1 h 30 min" in text


def test_without_pass_through_options_the_schedule_reads_as_before(report):
    printed = schedule_text.describe_schedule(_settings(report))
    assert "\n  validation after every epoch (held-out clips, mel loss)\n" in printed
    assert "Lightning options" not in schedule_text.page_facts(_settings(report))
    demo = schedule_text.describe_schedule(_settings(report, demo=True))
    assert "no validation (too few clips, or the demo schedule)" in demo and "checkpoints: last.ckpt" in demo


@pytest.mark.parametrize("trainer,expected", [
    ({"val_check_interval": 0.25}, "validation every 0.25 of an epoch (4 times per epoch)"),
    ({"val_check_interval": 50, "check_val_every_n_epoch": None},
     "validation every 50 batches (counted across epochs)"),
    ({"val_check_interval": 50}, "validation every 50 batches (within each epoch)"),
    ({"limit_val_batches": 0}, "no validation (--trainer.limit_val_batches=0)"),
])
def test_validation_timing_in_words(trainer, expected):
    assert validation_text(trainer, validation=True).startswith(expected)


def test_options_without_effect_say_so():
    lines = passthrough_lines({"check_val_every_n_epoch": 5, "limit_test_batches": 2}, validation=False)
    assert lines == ["validation options have no effect: this run has no validation",
                     "--trainer.limit_test_batches=2: no effect (training runs no test or prediction)"]


@pytest.mark.parametrize("value,seconds", [("01:02:03:04", 93784), ({"hours": 2, "minutes": 30}, 9000),
                                           ("soon", None)])
def test_max_time_forms_lightning_accepts(value, seconds):
    assert max_time_seconds(value) == seconds


def test_lightning_does_what_the_text_says_on_a_toy_model():
    """Count the training batches and validations of a real Lightning fit with the options the
    texts above describe: 3 batches per epoch of 8, validation after epochs 2 and 4, and with
    val_check_interval=0.5 twice per epoch."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Toy(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)
            self.trained, self.validated = 0, []

        def training_step(self, batch, batch_idx):
            self.trained += 1
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            if batch_idx == 0:
                self.validated.append((self.current_epoch, self.trained))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = DataLoader(TensorDataset(torch.zeros(8, 2)), batch_size=1)

    def fit(**options):
        model = Toy()
        pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, **options).fit(model, data, data)
        return model

    limited = fit(check_val_every_n_epoch=2, limit_train_batches=3)
    assert train_batches(8, {"limit_train_batches": 3}) == 3 and limited.trained == 4 * 3
    assert limited.validated == [(1, 6), (3, 12)]  # after the 2nd and 4th epoch
    assert "every 2nd epoch" in validation_text({"check_val_every_n_epoch": 2}, True)
    halves = fit(val_check_interval=0.5)
    assert [trained for _, trained in halves.validated] == [4, 8, 12, 16, 20, 24, 28, 32]
