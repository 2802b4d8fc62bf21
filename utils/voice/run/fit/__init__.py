"""Phase 4 of a run: from the plan to the end of training: the output started, the audio
prepared, the Lightning run with its callbacks, signals, history, best checkpoints and guards.

Imports: ``configure``, ``output``, ``plan`` and the voice layers below ``run``.
"""
