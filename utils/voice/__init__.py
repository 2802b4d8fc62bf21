"""Voices: datasets, base checkpoints, the training run around piper.train, and what it publishes.

Layers, lowest first; a module imports only from its own layer and those below it
(``tests/test_layout.py`` checks it):

0. the foundation, modules of this package: ``console`` (``say``, ``is_worker_process``),
   ``options`` (the parsed command line in typed groups), ``run_config`` (typed settings, presets,
   defaults, ``train_config.json``), and ``utils.errors`` (``UserError`` and its exit codes);
1. ``data/``: datasets, their reports, the audio cache, phoneme limits, the bundled sample;
2. ``base/``: base checkpoints: catalog, downloads, safe loading, speakers, fine-tune setup;
3. ``publish/``: export, naming, samples, the report page, plots, installing the voice;
4. ``evaluate/``: how close a voice is to its speaker: MCD-DTW, pitch, timing and word error rate
   on held-out recordings, for an exported voice (``tasks/evaluate.py``) and at each validation;
5. ``run/``: one run in phases (``configure``, ``output``, ``plan``, ``fit``, ``results``;
   ``run/__init__.py`` says what each holds);
6. the spine, ``pipeline``: ``tasks/train.py`` hands it the parsed options; it resolves them once
   and runs the steps check, plan, prepare, train, export, report.

Import rule: anything in ``utils`` plus torch, piper, Lightning, numpy; ``utils.lock`` and
``utils.machine`` never import from here.
"""
