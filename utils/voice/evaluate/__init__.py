"""How close a voice is to its speaker: measures of synthesised speech against held-out recordings.

``measures`` (MCD-DTW, F0 RMSE and voicing error, duration ratio; WORLD via pyworld, DTW via
librosa), ``recognizer`` (word error rate of pocketsphinx's English model, via jiwer),
``listener`` (a predicted listener score that needs no recording: DNSMOS, offline, from the
speechmos wheel), ``held_out`` (which recordings to compare with: a dataset's or a run's held-out clips),
``voices`` (an exported voice spoken through the piper runtime, and whether it can match the
data), ``scoring`` (per-clip rows, medians, the table) and ``during_training`` (the same measures
at every validation, from the generator being trained).

Import rule: anything in ``utils`` below ``utils.voice.run`` (the foundation, ``data``, ``base``,
``publish``) plus numpy, librosa, pyworld, pocketsphinx, jiwer, speechmos, torch, piper, Lightning; heavy
libraries inside functions.
"""
