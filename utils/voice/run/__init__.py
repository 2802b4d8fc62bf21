"""One training run, from the resolved settings to the last checkpoint.

Owns: resolving settings (``resolve``, ``passthrough``, ``watch``), planning and refusing before
anything is written (``run_plan``, ``run_checks``, ``run_guard``), the output folder's lock and
a killed run's debris (``run_lock``, ``crash_debris``), free disk space (``disk_space``),
checkpoint writes (``checkpoint_io``), the Lightning run itself (``lightning_run``), stopping
early and keeping the best checkpoints (``stopping``, ``retention``), the per-batch history
(``history``), the schedule lines (``epoch_estimate``), and the steps the spine runs after
planning (``run_steps``: own, start, prepare, fit, record; ``run_results``: export, summary, report).

Import rule (layer 4): ``publish``, ``base``, ``data`` and the foundation; never the spine
(``utils.voice.pipeline``).
"""
