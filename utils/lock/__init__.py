"""pixi.lock and what is derived from it: reading (format 7), exports, audit, venv pins, footprint.

Import rule: the standard library and ``utils.files`` only (``tests/test_layout.py`` checks it).
``python3 -m tasks.venv`` reads the lock on a bare machine before anything is installed.
"""
