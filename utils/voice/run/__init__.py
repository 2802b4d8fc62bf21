"""One training run, from the command line's groups to the exported voice, in phases.

Phases, in the order a run goes through them; a module imports only from its own phase and the
ones before it (``tests/test_layout.py`` checks it):

1. ``configure/``: the command line's groups to one ``RunSettings`` (``settings``), the options
   that watch a run (``watch_options``), Lightning's pass-through options (``passthrough``),
   ``--resume`` (``resume_mode``), and what the schedule says and costs (``schedule_text``).
   Writes nothing.
2. ``output/``: the output folder: one run at a time (``folder_lock``), owning it and clearing a
   killed run's debris (``ownership``), disk space (``disk_space``), atomic checkpoint files
   (``checkpoint_files``).
3. ``plan/``: everything refused before the first write: the command line's values
   (``option_checks``), ``--resume`` and the output folder (``resume_checks``), and ``RunPlan``
   (``decisions``).
4. ``fit/``: the steps from the plan to the fit (``start``), the Lightning run (``trainer``),
   signals from outside (``signals``), the per-batch history (``history``), the best checkpoints
   and the stall stop (``keep_best``), the out-of-memory guard (``memory_guard``), the watching
   callbacks (``watchers``), a voice's warm-up (``hold_restored``).
5. ``results/``: export, summary, report, history and batch time recorded, the exit code
   (``outcome``).

Import rule (voice layer 5): ``evaluate``, ``publish``, ``base``, ``data`` and the foundation;
never the spine (``utils.voice.pipeline``).
"""

PHASES = ("configure", "output", "plan", "fit", "results")
