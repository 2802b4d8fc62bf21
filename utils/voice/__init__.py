"""Voices: datasets, audio conversion, the training run around piper.train, checkpoints, export,
reports.

Import rule: anything in ``utils`` plus torch, piper, Lightning, numpy; ``utils.lock`` and
``utils.machine`` never import from here (``tests/test_layout.py`` checks it).
"""
