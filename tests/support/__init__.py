"""What the tests share and do not test: builders of datasets, checkpoints and corrupt inputs,
harnesses (a scripted Lightning validation, a real one-node Slurm, a loopback HTTP server, headless
Chromium, a Wyoming client), parsers of the repository's own files, and the one way a test
starts ``tasks.train`` or calls a task's ``main`` (``train_process``).

Imported as ``support.<module>``: pytest puts ``tests/`` on the path through ``tests/conftest.py``.
"""
