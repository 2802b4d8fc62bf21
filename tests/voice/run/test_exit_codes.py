"""How a run ends: one line and the right exit code; tracebacks only with --debug or for bugs."""

from __future__ import annotations

import errno

import pytest

from utils.errors import BadInput, TrainingFailed
from utils.files import TEMP_SUFFIX
from utils.voice.run.output.disk_space import DiskFull, naming_disk_full
from utils.voice.run.output.folder_lock import LOCK_NAME, RunLocked
from utils.voice.run.output.ownership import OwnedOutput
from utils.voice.run.results.outcome import report_failure


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - the point is to carry a real traceback
        return caught


@pytest.mark.parametrize(("error", "code"), [
    (BadInput("--devices 0: must be 1 or more"), 2),
    (RunLocked("out is in use by another training run (pid 1 on host)"), 2),
    (DiskFull("disk full: 3 MB free in out, a checkpoint needs 617 MB"), 1),
    (TrainingFailed("stopped by SIGTERM after 4 batches"), 1),
])
def test_known_failures_print_one_line_without_traceback_unless_debug(error, code, capsys):
    error = _raised(error)
    assert report_failure(error) == code
    err = capsys.readouterr().err
    assert err == f"error: {error}\n"
    assert report_failure(error, debug=True) == code
    assert "Traceback" in capsys.readouterr().err


def test_enospc_from_anywhere_becomes_disk_full_naming_the_folder(tmp_path, capsys):
    target = tmp_path / "voice.onnx"
    assert report_failure(_raised(OSError(errno.ENOSPC, "No space left on device", str(target)))) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: disk full: ") and f"MB free in {tmp_path} while writing voice.onnx" in err
    assert "Traceback" not in err


def test_torch_short_write_inside_a_named_block_says_what_needed_the_space(tmp_path):
    with pytest.raises(DiskFull, match=rf"^disk full: \d+ MB free in {tmp_path}, the export needs 21 MB"), \
            naming_disk_full(tmp_path, 21 * 1024 * 1024, "the export"):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")


def test_an_unforeseen_error_keeps_its_traceback_and_exits_1(capsys):
    assert report_failure(_raised(ZeroDivisionError("division by zero"))) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: training failed: ZeroDivisionError" in err


def test_owning_an_output_removes_a_killed_runs_debris_and_says_how_much(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / f".last.ckpt.abc{TEMP_SUFFIX}").write_bytes(b"\0" * 2048)
    said = []
    with OwnedOutput(tmp_path, ["--resume"], say=said.append) as owned:
        assert (tmp_path / LOCK_NAME).exists()
        assert owned.debris.bytes == 2048
    assert not (tmp_path / LOCK_NAME).exists()
    assert said == [f"note: removed 1 temp file(s) left by an interrupted run (0.0 MB reclaimed) in {tmp_path}"]
