"""In-process compatibility patches for piper-tts 1.8.0, never touching site-packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.machine import monotonic_align, piper_compat

REPO = Path(__file__).resolve().parents[2]


def _piper_tree_listing() -> list[str]:
    import piper

    root = Path(piper.__file__).parent
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def test_piper_alignment_import_fails_without_the_patch_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-c", "import piper.train.vits.monotonic_align"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0 and "monotonic_align.core" in proc.stderr


def test_patch_makes_piper_alignment_importable_without_writing_site_packages():
    before = _piper_tree_listing()
    lines = piper_compat.install_piper_patches()
    assert lines == piper_compat.install_piper_patches()
    from piper.train.vits import monotonic_align as piper_mas

    rng = np.random.default_rng(1)
    neg_cent = torch.from_numpy(rng.standard_normal((3, 50, 14)).astype(np.float32))
    mask = torch.ones(3, 50, 14)
    mask[2, 30:] = 0
    mask[2, :, 9:] = 0
    assert torch.equal(piper_mas.maximum_path(neg_cent, mask), monotonic_align.maximum_path(neg_cent, mask))
    assert _piper_tree_listing() == before


def test_piper_export_uses_torchscript_exporter_and_leaves_torch_alone(tmp_path):
    piper_compat.install_piper_patches()
    import piper.train.export_onnx as export_onnx

    assert torch.onnx.export.__name__ == "export"  # torch itself is not patched
    if piper_compat._torch_version() < (2, 9):
        pytest.skip("torch < 2.9 already defaults to the TorchScript exporter")
    assert export_onnx.torch.onnx.export is not torch.onnx.export
    assert export_onnx.torch.manual_seed is torch.manual_seed
    out = tmp_path / "linear.onnx"
    # the dynamo exporter would need onnxscript; the TorchScript one writes the file directly
    export_onnx.torch.onnx.export(torch.nn.Linear(3, 2), (torch.randn(1, 3),), str(out), opset_version=15)
    assert out.stat().st_size > 0
    assert "onnx-torchscript-exporter" in piper_compat.active_patches()


def test_checkpoint_callbacks_drop_only_the_val_mos_checkpoint(tmp_path):
    from piper.train.__main__ import _DEFAULT_CALLBACKS

    callbacks = piper_compat.checkpoint_callbacks(dirpath=tmp_path / "ckpt")
    monitors = [cb.monitor for cb in callbacks]
    assert monitors == [cb.monitor for cb in _DEFAULT_CALLBACKS if cb.monitor != "val_mos"] == ["val_mel"]
    cb = callbacks[0]
    assert cb.save_last and cb.dirpath == os.path.realpath(tmp_path / "ckpt")
    assert all(cb is not orig for orig in _DEFAULT_CALLBACKS)  # piper's module-level objects stay clean


def test_a_changed_piper_fails_loudly_naming_the_version(tmp_path):
    # A FAKE newer piper (shadowing the real one on sys.path) whose alignment package changed.
    pkg = tmp_path / "piper" / "train" / "vits" / "monotonic_align"
    pkg.mkdir(parents=True)
    for d in (tmp_path / "piper", tmp_path / "piper" / "train", tmp_path / "piper" / "train" / "vits"):
        (d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .kernels import maximum_path\n")
    code = "from utils.machine import piper_compat\npiper_compat.install_mas_kernel()\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode != 0
    assert "PiperCompatError" in proc.stderr and "piper-tts 1.8.0" in proc.stderr
    assert "maximum_path_c" in proc.stderr
