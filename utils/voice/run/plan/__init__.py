"""Phase 3 of a run: everything decided, and refused, before the first byte is written.

Imports: ``configure``, ``output`` and the voice layers below ``run``.
"""
