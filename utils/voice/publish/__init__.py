"""What a run gives its user: the voice and the pages and sounds that describe it.

Owns: ONNX export, the voice config and speaking with the piper runtime (``export``), exporting
any checkpoint (``checkpoint_export``, ``pixi run export``), published file names and the language
block (``voice_naming``), installing into wyoming-piper (``install``), plots and the printed
summary (``report``), samples spoken while training (``samples``) and the live ``report.html``
(``report_page``) with its dataset section (``dataset_page``: what the content checks flagged).

Import rule (layer 3): ``base``, ``data`` and the foundation; Lightning, torch, piper,
matplotlib; never ``run`` or the spine (the run hands these modules plain values).
"""
