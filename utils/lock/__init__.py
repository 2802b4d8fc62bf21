"""pixi.lock and what is derived from it: reading (format 7), exports, audit, venv pins, footprint.

Import rule: the standard library and ``utils.files`` at import time, and nothing else at all in
what ``python3 -m tasks.venv`` runs (``lockfile``, ``venv_builder``): it reads the lock on a bare
machine before anything is installed. The conda-lock writer in ``exports`` and the audit's
render check import conda-lock (a dev-feature tool) inside the functions that need it.
``tests/test_layout.py`` checks this.
"""
