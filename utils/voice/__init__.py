"""Voices: datasets, audio conversion, the training run around piper.train, checkpoints, export,
reports.

Import rule: anything in ``utils`` plus torch, piper, Lightning, numpy; ``utils.lock`` and
``utils.machine`` never import from here (``tests/test_layout.py`` checks it).

Where things are, in the order a run meets them (``tasks/train.py`` -> ``pipeline.train``):

- the data: ``dataset`` (``validate_dataset``; ``dataset_report``, ``dataset_metadata``,
  ``dataset_audio``), ``audio_prep`` (the content-keyed conversion cache), ``phoneme_filter``
  (``--max-phoneme-ids``), ``sample_data`` (regenerates the bundled sample);
- the settings: ``run_config`` (typed options and settings, presets, ``train_config.json``),
  ``passthrough`` (``--trainer.X``/``--model.X``/``--data.X``), ``watch`` (sampling, report,
  retention and stopping options);
- refusing before writing: ``run_plan`` (step 1, everything that can exit 2), ``run_checks``
  (option validators), ``run_guard`` (option checks, folder ownership, one-line errors),
  ``run_lock`` (one run per output folder), ``crash_debris``, ``disk_space``;
- a fine-tune base: ``base_catalog`` (pinned bases), ``download`` (resumable, hash-checked),
  ``published_checkpoint`` (old piper_train files, safely), ``checkpoints`` (weights-only loads,
  atomic saves), ``base_speaker`` (one speaker of a multi-speaker base), ``finetune``,
  ``epoch_estimate``;
- training: ``pipeline`` (the steps after planning), ``lightning_run`` (model, data module,
  trainer, signals, resume), ``history`` (``metrics.csv``), ``samples``, ``retention``
  (keep-best), ``stopping`` (stalled stop, out of memory), ``report_page`` (``report.html``);
- the voice: ``export`` (ONNX, voice config, speaking), ``checkpoint_export`` (``pixi run
  export``), ``voice_naming`` (published file names, language block), ``install``
  (``pixi run install-voice``), ``report`` (plots and the printed summary).
"""
