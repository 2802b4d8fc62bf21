"""coaxial-train's library, in three packages by concern plus what they all share.

- ``utils.lock``: reading pixi.lock and what is derived from it (exports, audit, venv, footprint).
  Standard library only: ``python3 -m tasks.venv`` runs it before anything is installed.
- ``utils.machine``: this machine (hardware probe, device/precision policy, in-process patches,
  the alignment kernel, verify). Testable without a GPU; imports torch only inside functions.
- ``utils.voice``: voices (datasets, audio, the training run, checkpoints, export, reports).
  Uses torch, piper and Lightning.
- ``utils.files``: atomic file writes and the cache root, used by all three.
- ``utils.checks``: one check result and its table, for ``verify`` and ``audit-lock``.

``utils.patch_lightning`` keeps the old setup's entry point ``apply_runtime_patches()``.
"""
