"""The dataset: what a run trains on.

Owns: reading a dataset in either layout (Piper CSV, a Coaxial recorder profile) and its report
(``dataset``, ``dataset_metadata``, ``dataset_audio``, ``dataset_report``: every problem with file,
line and fix), the content checks (``content_measure`` per clip, cached; ``content_checks`` judged
against the dataset; ``content_use`` for --validate-only/--json, --exclude, --trim-silence), the
content-keyed conversion cache (``audio_prep``), piper's phoneme and spectrogram cache prepared
on every core (``feature_cache`` over ``clip_pool``), batches by length with rounded padding
(``bucket_sampler``, ``length_batches``), the phoneme-length limit
(``phoneme_filter``) and the bundled sample (``sample_data``).

Import rule (layer 1, the lowest package): the foundation modules of ``utils.voice``
(``console``, ``run_config``), ``utils.errors``, ``utils.files``, ``utils.machine``, numpy,
torch, piper; never ``base``, ``publish``, ``run`` or the spine.
"""
