"""Which Piper quality a network is, so labels describe the network trained, not the flag given.

A ``--finetune`` checkpoint fixes the network's shape whatever ``--quality`` says, so the label in
``.onnx.json``, ``summary.json`` and ``train_config.json`` must be read from the shape. Piper's
presets differ in a few hyper-parameters: x_low narrows the text encoder (hidden/inter 96, filter
384), high widens the decoder (resblock "1", 512 initial channels); low and medium are one network
that Piper publishes at 16 kHz (low) and 22050 Hz (medium), so for that network the rate decides.
"""

from __future__ import annotations

from typing import Any

PIPER_DEFAULT_HIDDEN = 192   # VitsModel's hidden_channels default (low/medium/high)
PIPER_DEFAULT_UPSAMPLE = 256  # VitsModel's upsample_initial_channel default (x_low/low/medium)
MEDIUM_SAMPLE_RATE = 22050


def quality_of_network(model: dict[str, Any]) -> str:
    """The Piper quality whose network ``model`` (VitsModel keyword arguments) builds, whatever
    ``--quality`` asked for."""
    hidden = int(model.get("hidden_channels", PIPER_DEFAULT_HIDDEN))
    upsample = int(model.get("upsample_initial_channel", PIPER_DEFAULT_UPSAMPLE))
    if hidden < PIPER_DEFAULT_HIDDEN:
        return "x_low"
    if upsample > PIPER_DEFAULT_UPSAMPLE or str(model.get("resblock", "2")) == "1":
        return "high"
    return "medium" if int(model.get("sample_rate", MEDIUM_SAMPLE_RATE)) >= MEDIUM_SAMPLE_RATE else "low"
