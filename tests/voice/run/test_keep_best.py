"""Keep-best retention, the stalled stop and the out-of-memory guard, on a real Lightning Trainer.

The network is tests/support/scripted_validation.py's linear layer whose validation logs a scripted
``val_mel`` sequence, so each test knows which checkpoint must survive; the callbacks under test
are the ones the training run uses. The VITS end-to-end path is covered in test_watch_training.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from support.scripted_validation import ScriptedValidation, fit_scripted  # noqa: E402

from utils.voice.run.configure import watch_options  # noqa: E402
from utils.voice.run.fit import keep_best, memory_guard  # noqa: E402


def scripted_val_mel(scores, fail_at_step=None) -> ScriptedValidation:
    return ScriptedValidation({"val_mel": scores}, fail_at_step=fail_at_step)


def test_keep_best_keeps_exactly_the_lowest_val_mel_checkpoints(tmp_path):
    scores = [0.9, 0.7, 0.8, 0.5, 0.6, 0.95]
    lines = []
    keep = keep_best.make_keep_best(tmp_path / "ckpt", keep_best=2, say=lines.append)
    fit_scripted(scripted_val_mel(scores), [keep], tmp_path, epochs=len(scores))

    kept = keep_best.best_checkpoints(tmp_path / "ckpt")
    assert [round(b.val_mel, 4) for b in kept] == [0.5, 0.6]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == sorted(b.path.name for b in kept)
    assert kept[0].path == Path(keep.best_model_path)
    assert any("on disk" in line for line in lines), lines
    # saved: 0.9, 0.7, 0.8, 0.5, 0.6 (0.95 is worse than both kept); each save past two displaced one
    assert sum("removed" in line for line in lines) == 3


def test_keep_best_one_never_deletes_the_file_being_written(tmp_path, monkeypatch):
    removed_while_missing = []
    keep = keep_best.make_keep_best(tmp_path / "ckpt", keep_best=1, say=lambda _line: None)
    original = keep._remove_checkpoint

    def checked_remove(trainer, filepath):
        # The new best must already be on disk when the old one goes.
        if not Path(keep.best_model_path).is_file() or Path(filepath) == Path(keep.best_model_path):
            removed_while_missing.append(filepath)
        original(trainer, filepath)

    monkeypatch.setattr(keep, "_remove_checkpoint", checked_remove)
    fit_scripted(scripted_val_mel([0.9, 0.8, 0.7, 0.6]), [keep], tmp_path, epochs=4)
    assert removed_while_missing == []
    assert [round(b.val_mel, 4) for b in keep_best.best_checkpoints(tmp_path / "ckpt")] == [0.6]


def test_stall_stop_ends_after_n_validations_without_improvement(tmp_path):
    lines = []
    stall = keep_best.make_stall_stop(2, say=lines.append)
    keep = keep_best.make_keep_best(tmp_path / "ckpt", keep_best=1, say=lambda _line: None)
    model = scripted_val_mel([0.9, 0.8, 0.85, 0.81, 0.5, 0.4])
    trainer = fit_scripted(model, [stall, keep], tmp_path, epochs=6)
    assert model.validations == 4, "two validations without beating 0.8 must end the run"
    assert trainer.current_epoch == 4
    assert stall.stopped_at_step is not None and "not improved for 2" in " ".join(lines)
    assert [round(b.val_mel, 4) for b in keep_best.best_checkpoints(tmp_path / "ckpt")] == [0.8]


def test_stall_patience_is_checked():
    assert watch_options.check_stall_patience(None) is None
    with pytest.raises(ValueError, match="stop-when-stalled 0"):
        watch_options.check_stall_patience(0)


def test_out_of_memory_saves_a_checkpoint_and_advises(tmp_path):
    saved = tmp_path / "last.ckpt"
    guard = memory_guard.make_oom_guard(saved)
    with pytest.raises(torch.OutOfMemoryError) as info:
        fit_scripted(scripted_val_mel([0.9] * 5, fail_at_step=3), [guard], tmp_path, epochs=5)
    assert memory_guard.is_out_of_memory(info.value)
    assert guard.saved == saved and saved.is_file() and guard.step == 1
    assert torch.load(saved, weights_only=False)["global_step"] == 3
    advice = memory_guard.oom_advice(16, None, guard.step, guard.saved, tmp_path)
    assert "--batch-size 8" in advice and "--max-phoneme-ids 400" in advice and str(saved) in advice


def test_other_errors_are_not_taken_for_out_of_memory(tmp_path):
    assert not memory_guard.is_out_of_memory(RuntimeError("shape mismatch"))
    assert memory_guard.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
