"""report.html's "How close to the speaker" section: a panel per voice measure across validations."""

from __future__ import annotations

from utils.voice.publish import report_page


def _state(measures) -> report_page.PageState:
    return report_page.PageState(title="demo", facts={"data": "28 clips"}, step=12, running=False,
                                 val_mel=[(4, 1.1), (8, 0.95)], measures=measures, recordings_wer=0.4)


def test_the_page_plots_each_measure_against_the_batch(tmp_path):
    values = [{"val_mcd": 21.0 - step / 4, "val_f0_rmse": None, "val_voicing_error": 0.7, "val_duration_error": 0.1,
               "val_wer": 1.0} for step in (4, 8)]
    report_page.write_report(tmp_path, _state(list(zip((4, 8), values, strict=True))))
    page = (tmp_path / report_page.REPORT_NAME).read_text(encoding="utf-8")
    assert "How close to the speaker" in page and f'src="{report_page.MEASURES_PNG}?v=12"' in page
    png = tmp_path / report_page.MEASURES_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_a_run_without_measures_says_they_come_with_validation(tmp_path):
    report_page.write_report(tmp_path, _state([]))
    page = (tmp_path / report_page.REPORT_NAME).read_text(encoding="utf-8")
    assert "no voice measures yet" in page and not (tmp_path / report_page.MEASURES_PNG).exists()
