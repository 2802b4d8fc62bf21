"""report.html's "How close to the speaker" section: a panel per voice measure across validations."""

from __future__ import annotations

from utils.voice.publish import report_page


def _state(measures, recordings_listener: float | None = None) -> report_page.PageState:
    return report_page.PageState(title="demo", facts={"data": "28 clips"}, step=12, running=False,
                                 val_mel=[(4, 1.1), (8, 0.95)], measures=measures, recordings_wer=0.4,
                                 recordings_listener=recordings_listener)


def _png_height(path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")  # the IHDR chunk: width, then height


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


def test_the_predicted_listener_score_gets_its_panel_with_the_recordings_as_ceiling(tmp_path):
    values = [{"val_mcd": 20.0, "val_f0_rmse": 300.0, "val_voicing_error": 0.7, "val_duration_error": 0.1,
               "val_wer": 1.0, "val_listener": listener} for listener in (1.4, 1.9)]
    without = tmp_path / "without"
    report_page.write_report(without, _state([(4, {**values[0], "val_listener": None})]))
    state = _state(list(zip((4, 8), values, strict=True)), recordings_listener=3.1)
    panels = {panel.name: panel for panel in report_page.measure_panels(state)}
    listener = panels["val_listener"]
    assert "higher is better" in listener.title and listener.points == [(4, 1.4), (8, 1.9)]
    assert listener.ceiling == 3.1 and panels["val_wer"].ceiling == 0.4
    assert all(panel.ceiling is None for name, panel in panels.items() if name not in ("val_wer", "val_listener"))

    report_page.write_report(tmp_path, state)
    page = (tmp_path / report_page.REPORT_NAME).read_text(encoding="utf-8")
    assert "dashed: the recordings themselves (the ceiling)" in page
    # one panel more than the same page without the listener score
    assert _png_height(tmp_path / report_page.MEASURES_PNG) > _png_height(without / report_page.MEASURES_PNG)
