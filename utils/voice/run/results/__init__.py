"""Phase 5 of a run: after training: the voice exported, summary and report, the run's outcome.

Imports: every earlier phase and the voice layers below ``run``.
"""
