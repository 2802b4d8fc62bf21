"""Phase 1 of a run: the command line's groups to one ``RunSettings``; writes nothing.

Imports: the voice layers below ``run`` only (the first phase).
"""
