"""Phase 2 of a run: the output folder: its lock and owner, a killed run's debris, disk space,
atomic checkpoint files.

Imports: ``configure`` and the voice layers below ``run``.
"""
