"""The old setup's entry point, kept for its users: ``from utils.patch_lightning import
apply_runtime_patches``. The patches live in ``utils.machine.runtime_patches``; despite the old
name they patch torch flags and piper.train in-process, not Lightning.
"""

from utils.machine.runtime_patches import apply_runtime_patches

__all__ = ["apply_runtime_patches"]
