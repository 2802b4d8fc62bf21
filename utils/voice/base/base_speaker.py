"""One speaker of a multi-speaker base as a single-speaker network (``--base-speaker N``).

Fine-tuning a multi-speaker base (e.g. libritts_r, 904 speakers) on one new voice as it is would
retrain the shared network while every other speaker id keeps pointing at it: all of them
change, and the exported voice still advertises 904 speakers (old piper#786). Instead the chosen
speaker is baked into a single-speaker network before training starts, exactly:

In Piper's VITS the speaker reaches the generator only through ``g = emb_g[sid]``, and every use
of ``g`` is a 1x1 convolution ``cond(g)`` whose result is *added* to the output of a layer with a
bias (the decoder's ``conv_pre``, the stochastic duration predictor's ``pre``, and each WaveNet
``in_layers[i]`` of the posterior encoder and the flow). For a fixed speaker that sum is a
constant per channel, so it folds into that bias. The single-speaker network (``gin_channels=0``)
has the same layers minus ``emb_g`` and the ``cond`` layers, and with the folded biases it computes
what the base computed for speaker N. The new voice therefore starts as speaker N and is one
speaker; the others are not carried over, and the summary says so.
"""

from __future__ import annotations

from typing import Any

from utils.voice.base.checkpoints import CheckpointError

GENERATOR = "model_g."


def single_speaker_state_dict(state_dict: dict[str, Any], speaker: int) -> dict[str, Any]:
    """``state_dict`` of a multi-speaker VitsModel -> that of a single-speaker one speaking as ``speaker``."""
    import torch

    table = state_dict.get(GENERATOR + "emb_g.weight")
    if table is None:
        raise CheckpointError("--base-speaker: this base has one speaker (no speaker table); drop --base-speaker")
    if not 0 <= speaker < table.shape[0]:
        raise CheckpointError(f"--base-speaker {speaker}: this base has speakers 0 to {table.shape[0] - 1}")
    embedding = table[speaker].float()
    out = dict(state_dict)
    with torch.no_grad():
        for prefix in _prefixes(state_dict, ".cond.weight"):
            offset = _conv1x1(out.pop(prefix + "cond.weight"), out.pop(prefix + "cond.bias", None), embedding)
            _add_to_bias(out, _plain_cond_target(state_dict, prefix), offset)
        for prefix in _prefixes(state_dict, ".cond_layer.weight_v"):
            weight = torch._weight_norm(out.pop(prefix + "cond_layer.weight_v"),
                                        out.pop(prefix + "cond_layer.weight_g"), 0)
            offset = _conv1x1(weight, out.pop(prefix + "cond_layer.bias", None), embedding)
            width = out[prefix + "in_layers.0.bias"].shape[0]  # 2 x hidden channels per layer
            for i in range(offset.shape[0] // width):
                _add_to_bias(out, f"{prefix}in_layers.{i}.bias", offset[i * width:(i + 1) * width])
    del out[GENERATOR + "emb_g.weight"]
    left = [key for key in out if key.startswith(GENERATOR) and (".cond." in key or ".cond_layer." in key)]
    if left:
        raise CheckpointError(f"--base-speaker: speaker conditioning left in {left[0]} — this base's layout "
                              "is not one coaxial-train can fold; fine-tune it without --base-speaker")
    return out


def _prefixes(state_dict: dict, suffix: str) -> list[str]:
    return [key[: -len(suffix) + 1] for key in state_dict
            if key.startswith(GENERATOR) and key.endswith(suffix)]


def _plain_cond_target(state_dict: dict, prefix: str) -> str:
    """The bias a plain ``cond`` layer's output is added to: decoder ``conv_pre`` or SDP ``pre``."""
    for name in ("conv_pre.bias", "pre.bias"):
        if prefix + name in state_dict:
            return prefix + name
    # The deterministic duration predictor adds g before a padded convolution: not a constant
    # after it, so it cannot be folded exactly.
    raise CheckpointError(f"--base-speaker: cannot fold the speaker into {prefix}cond (no bias it is added "
                          "to); fine-tune this base without --base-speaker")


def _conv1x1(weight, bias, vector):
    offset = weight[:, :, 0].float() @ vector
    return offset if bias is None else offset + bias.float()


def _add_to_bias(state_dict: dict, key: str, offset) -> None:
    if key not in state_dict:
        raise CheckpointError(f"--base-speaker: expected {key} in the base's weights; fine-tune it without "
                              "--base-speaker")
    bias = state_dict[key]
    state_dict[key] = (bias.float() + offset).to(bias.dtype)


def single_speaker_kwargs(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The base's VitsModel arguments for the folded single-speaker network."""
    return {**model_kwargs, "num_speakers": 1, "gin_channels": 0}
