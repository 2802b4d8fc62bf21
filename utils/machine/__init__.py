"""This machine: hardware probe, device and precision policy, in-process patches, verify.

Import rule: the standard library, numpy, ``utils.files`` and ``utils.lock`` at module level; torch,
Lightning and piper only inside functions, so every policy is testable without them or a GPU
(``tests/test_layout.py`` checks it).
"""
