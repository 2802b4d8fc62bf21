"""A fine-tune's starting point: base checkpoints.

Owns: the catalog of pinned bases (``base_catalog``), resumable hash-checked downloads
(``download``), loading checkpoints without unpickling code (``checkpoints``), reading the old
piper_train files (``published_checkpoint``), one speaker of a multi-speaker base
(``base_speaker``), choosing and applying a base (``finetune``), and a published voice's ONNX as a
base: its inference graph written and read (``inference_graph``) and mapped back onto piper's
network (``onnx_voice``).

Import rule (layer 2): ``data`` and the foundation (``utils.voice.console``,
``utils.voice.run_config``, ``utils.errors``, ``utils.files``, ``utils.machine``), torch, piper;
never ``publish``, ``run`` or the spine.
"""
