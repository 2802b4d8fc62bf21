"""In-process compatibility patches for piper-tts[train] (written against 1.8.0).

Nothing here writes to site-packages: each patch changes objects in this process only, so a
fresh interpreter sees piper exactly as installed. Each patch first checks that what it patches
still looks as expected (module, name, signature, source line) and raises ``PiperCompatError``
naming the installed piper-tts version when a newer piper changed it, instead of silently doing
the wrong thing.

Patches:

- ``mas-kernel``: piper's ``vits/monotonic_align/__init__.py`` imports ``maximum_path_c`` from a
  Cython extension the wheel does not ship. We register ``...monotonic_align.monotonic_align.core``
  in ``sys.modules`` backed by ``utils.machine.monotonic_align`` (numpy; no C compiler). Skipped when a
  compiled kernel is present.
- ``onnx-torchscript-exporter``: torch >= 2.9 defaults ``torch.onnx.export`` to the dynamo
  exporter, which fails on VITS. ``piper.train.export_onnx`` gets a private ``torch`` view whose
  ``onnx.export`` defaults to ``dynamo=False``; torch itself is untouched. If the module is not
  imported yet, an import hook patches it on import (importing it would pull in lightning).

``checkpoint_callbacks()`` gives a launcher of piper's own CLI its default checkpoints minus the
``val_mos`` one, which raises at the first epoch end when the MOS model could not be downloaded
(``benchmarks/bench_finetune.py`` runs plain piper.train so).
"""

from __future__ import annotations

import copy
import importlib
import importlib.abc
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import time
import types
from pathlib import Path

from utils.machine.piper_patching import PiperCompatError, incompatible

MAS_PACKAGE = "piper.train.vits.monotonic_align"
MAS_CORE = MAS_PACKAGE + ".monotonic_align.core"
MAS_IMPORT_LINE = "from .monotonic_align.core import maximum_path_c"
ONNX_MODULE = "piper.train.export_onnx"
CLI_MODULE = "piper.train.__main__"


def _fail(what: str) -> PiperCompatError:
    return incompatible(__name__, what)


def _torch_version() -> tuple[int, int]:
    import torch

    parts = torch.__version__.split("+")[0].split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


# -- MAS kernel ---------------------------------------------------------------------------------

def _mas_package_dir() -> Path:
    try:
        spec = importlib.util.find_spec(MAS_PACKAGE)
    except ModuleNotFoundError as exc:
        raise _fail(f"cannot import piper.train ({exc}); is piper-tts[train] installed?") from exc
    if spec is None or not spec.submodule_search_locations:
        raise _fail(f"package {MAS_PACKAGE} not found")
    return Path(list(spec.submodule_search_locations)[0])


def _native_kernel_present(pkg_dir: Path) -> bool:
    core_dir = pkg_dir / "monotonic_align"
    return core_dir.is_dir() and (any(core_dir.glob("core*.so")) or any(core_dir.glob("core*.pyd")))


def install_mas_kernel() -> str:
    """Make ``piper.train.vits.monotonic_align`` importable; returns a one-line description."""
    pkg_dir = _mas_package_dir()
    init = pkg_dir / "__init__.py"
    source = init.read_text(encoding="utf-8") if init.is_file() else ""
    if MAS_IMPORT_LINE not in source:
        raise _fail(f"{init} no longer contains {MAS_IMPORT_LINE!r}")
    if _native_kernel_present(pkg_dir):
        return "mas-kernel: piper's compiled kernel is present, left as is"
    existing = sys.modules.get(MAS_CORE)
    if existing is None or not getattr(existing, "__coaxial__", False):
        from utils.machine import monotonic_align

        parent_name = MAS_CORE.rsplit(".", 1)[0]
        parent = types.ModuleType(parent_name, "coaxial-train stand-in for piper's missing Cython package")
        parent.__path__ = []  # a package with no files: nothing else can be imported from it
        parent.__coaxial__ = True
        core = types.ModuleType(MAS_CORE, "coaxial-train numpy MAS kernel (utils.machine.monotonic_align)")
        core.maximum_path_c = monotonic_align.maximum_path_c
        core.__coaxial__ = True
        parent.core = core
        sys.modules[parent_name] = parent
        sys.modules[MAS_CORE] = core
    mas = importlib.import_module(MAS_PACKAGE)
    fn = getattr(mas, "maximum_path", None)
    if fn is None or list(inspect.signature(fn).parameters) != ["neg_cent", "mask"]:
        raise _fail(f"{MAS_PACKAGE}.maximum_path(neg_cent, mask) is missing or changed signature")
    return "mas-kernel: numpy maximum_path_c registered for piper.train.vits.monotonic_align"


# -- ONNX export --------------------------------------------------------------------------------

def _torchscript_export(export):
    def export_with_torchscript(*args, **kwargs):
        kwargs.setdefault("dynamo", False)
        return export(*args, **kwargs)

    export_with_torchscript.__wrapped__ = export
    return export_with_torchscript


class _TorchView(types.ModuleType):
    """``torch`` as piper's exporter sees it: identical except ``onnx.export`` defaults dynamo=False."""

    def __init__(self, torch_module):
        super().__init__("torch", "coaxial-train view of torch for piper.train.export_onnx")
        onnx_view = types.ModuleType("torch.onnx")
        onnx_view.__dict__.update(vars(torch_module.onnx))
        onnx_view.export = _torchscript_export(torch_module.onnx.export)
        self.__dict__["_torch"] = torch_module
        self.__dict__["onnx"] = onnx_view
        self.__dict__["__coaxial__"] = True

    def __getattr__(self, name):
        return getattr(self.__dict__["_torch"], name)


def onnx_export_kwargs() -> dict:
    """Extra kwargs for a direct ``torch.onnx.export`` call of a VITS generator."""
    return {"dynamo": False} if _torch_version() >= (2, 9) else {}


def _patch_export_module(module) -> None:
    import torch

    current = getattr(module, "torch", None)
    if getattr(current, "__coaxial__", False):
        return
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise _fail(f"torch {torch.__version__}: torch.onnx.export has no 'dynamo' argument")
    if current is not torch or not callable(getattr(module, "main", None)):
        raise _fail(f"{ONNX_MODULE} no longer has a module-level torch import and main()")
    module.torch = _TorchView(torch)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the module before anyone can call it."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch_export_module(module)


class _ExportOnnxHook(importlib.abc.MetaPathFinder):
    """Patches piper.train.export_onnx when it is imported, so patching costs no import of lightning."""

    __coaxial__ = True

    def find_spec(self, fullname, path, target=None):
        if fullname != ONNX_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def _onnx_hook_installed() -> bool:
    return any(getattr(f, "__coaxial__", False) for f in sys.meta_path)


def patch_onnx_export() -> str:
    """Make piper's exporter use TorchScript on torch >= 2.9, now or when it is first imported."""
    import torch

    line = f"onnx-torchscript-exporter: {ONNX_MODULE} exports with dynamo=False"
    if _torch_version() < (2, 9):
        return f"onnx-torchscript-exporter: not needed on torch {torch.__version__}"
    try:
        spec = importlib.util.find_spec(ONNX_MODULE)
    except ModuleNotFoundError as exc:
        raise _fail(f"cannot find {ONNX_MODULE} ({exc})") from exc
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    if "torch.onnx.export(" not in source:
        raise _fail(f"{ONNX_MODULE} no longer calls torch.onnx.export")
    if ONNX_MODULE in sys.modules:
        _patch_export_module(sys.modules[ONNX_MODULE])
    elif not _onnx_hook_installed():
        sys.meta_path.insert(0, _ExportOnnxHook())
    return line


# -- Trainer defaults without the MOS checkpoint ------------------------------------------------

def _cli_module():  # piper's CLI module, checked for what checkpoint_callbacks reads
    install_mas_kernel()
    module = importlib.import_module(CLI_MODULE)
    for name in ("_DEFAULT_CALLBACKS", "VitsLightningCLI"):
        if not hasattr(module, name):
            raise _fail(f"{CLI_MODULE} has no {name}")
    return module


def checkpoint_callbacks(dirpath: str | Path | None = None) -> list:
    """Fresh copies of piper's ModelCheckpoint callbacks except the one monitoring ``val_mos``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    defaults = _cli_module()._DEFAULT_CALLBACKS
    monitors = [getattr(cb, "monitor", None) for cb in defaults]
    if "val_mos" not in monitors or not all(isinstance(cb, ModelCheckpoint) for cb in defaults):
        raise _fail(f"{CLI_MODULE}._DEFAULT_CALLBACKS changed (monitors: {monitors})")
    kept = [copy.deepcopy(cb) for cb in defaults if cb.monitor != "val_mos"]
    if dirpath is not None:
        for cb in kept:
            cb.dirpath = os.path.realpath(os.path.expanduser(str(dirpath)))
    return kept


# -- Entry point --------------------------------------------------------------------------------

def install_piper_patches() -> list[str]:
    """Apply every patch (idempotent); returns one line per patch describing its state."""
    return [install_mas_kernel(), patch_onnx_export()]


def check_alignment_kernel(batch: int = 2, frames: int = 60, phonemes: int = 20) -> dict:
    """Run piper's own ``maximum_path`` (so through whichever kernel is installed) on random scores,
    the second item masked to 3/4 of the frames and phonemes, and check what an alignment must be:
    every valid frame on exactly one phoneme, moving forward by 0 or 1, every valid phoneme used,
    nothing outside the mask. Returns {"ok", "reason", "frames_aligned", "ms"}."""
    import numpy as np
    import torch
    from piper.train.vits import monotonic_align as piper_mas

    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.standard_normal((batch, frames, phonemes)).astype(np.float32))
    mask = torch.ones(batch, frames, phonemes)
    lengths = [(frames, phonemes)] * batch
    if batch > 1:
        lengths[1] = (frames * 3 // 4, phonemes * 3 // 4)
        mask[1, lengths[1][0]:, :] = 0
        mask[1, :, lengths[1][1]:] = 0
    start = time.perf_counter()
    path = piper_mas.maximum_path(scores, mask).numpy()
    ms = (time.perf_counter() - start) * 1000
    reason = None
    for item, (t_y, t_x) in enumerate(lengths):
        inside = path[item, :t_y, :t_x]
        steps = np.diff(inside.argmax(axis=1))
        if path[item].sum() != inside.sum():
            reason = f"item {item}: alignment outside the mask"
        elif not (inside.sum(axis=1) == 1).all():
            reason = f"item {item}: a frame is not on exactly one phoneme"
        elif not np.isin(steps, (0, 1)).all() or not (inside.sum(axis=0) >= 1).all():
            reason = f"item {item}: the path is not monotonic or skips a phoneme"
        if reason:
            break
    return {"ok": reason is None, "reason": reason, "ms": ms,
            "frames_aligned": [int(v) for v in path.sum(axis=(1, 2))]}


def active_patches() -> list[str]:
    """This module's patches live in this process, read from the process state rather than a flag
    (``runtime_patches.active_patches`` adds the step patches)."""
    live = []
    core = sys.modules.get(MAS_CORE)
    mas = sys.modules.get(MAS_PACKAGE)
    if core is not None and getattr(core, "__coaxial__", False) and mas is not None:
        live.append("mas-kernel")
    onnx_mod = sys.modules.get(ONNX_MODULE)
    if onnx_mod is not None:
        if getattr(getattr(onnx_mod, "torch", None), "__coaxial__", False):
            live.append("onnx-torchscript-exporter")
    elif _onnx_hook_installed():
        live.append("onnx-torchscript-exporter")
    return live
