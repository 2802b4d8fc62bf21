"""piper's discriminators score real and generated audio in one pass (step patch ``discriminator-one-pass``).

piper's ``MultiPeriodDiscriminator`` and ``MultiResolutionDiscriminator`` call each
sub-discriminator twice per step, on the real audio and on the generated audio, and in the
generator's step they also compute their own weight gradients, which piper's step zeroes unused
before the discriminator's backward. Here each sub-discriminator runs once on both, stacked along
the batch, with its weights frozen in the generator's step. On our 2-core CPU, a probe-size batch
(x_low, batch 2): the frozen weights alone took it from 1.42 to 1.30 s in fp32 and from 1.29 to
1.16 s in bf16; with fused AdamW and the single pass, 0.98 and 0.77 s. Three real steps give
piper's losses (``tests/machine/test_step_patches.py``).
"""

from __future__ import annotations

import contextlib

from utils.machine.step_patches import VITS, _expect, _fail, _mark, _module


@contextlib.contextmanager
def frozen_parameters(module):
    """``module``'s parameters without requires_grad inside; restored after, also on an error."""
    thawed = [p for p in module.parameters() if p.requires_grad]
    for p in thawed:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in thawed:
            p.requires_grad_(True)


def discriminate_in_one_pass(original):
    """``MultiPeriodDiscriminator.forward`` / ``MultiResolutionDiscriminator.forward`` (``original``)
    with each sub-discriminator called once on real and generated audio stacked along the batch.

    Each sub-discriminator treats batch items independently (convolutions, leaky ReLU, per-item
    padding and STFT: no batch statistics), so the scores and feature maps are piper's, split
    back. When ``y_hat`` carries the generator's graph (the generator's step) the weights are
    frozen for the call: gradients still flow to ``y_hat``, and the weight gradients piper used to
    compute there, which its step zeroes before the discriminator's own backward, are not made."""
    import torch

    def forward(self, y, y_hat):
        if y.shape[1:] != y_hat.shape[1:] or y.device != y_hat.device:
            return original(self, y, y_hat)
        generator_step = torch.is_grad_enabled() and y_hat.requires_grad
        count = y.shape[0]
        both = torch.cat([y, y_hat])
        real_scores, fake_scores, real_maps, fake_maps = [], [], [], []
        with frozen_parameters(self) if generator_step else contextlib.nullcontext():
            for discriminator in self.discriminators:
                scores, feature_maps = discriminator(both)
                real_scores.append(scores[:count])
                fake_scores.append(scores[count:])
                real_maps.append([fmap[:count] for fmap in feature_maps])
                fake_maps.append([fmap[count:] for fmap in feature_maps])
        return real_scores, fake_scores, real_maps, fake_maps

    return forward


def install_discriminator_pass() -> None:
    models, lightning = _module("models"), _module("lightning")
    for name in ("MultiPeriodDiscriminator", "MultiResolutionDiscriminator"):
        cls = getattr(models, name, None)
        if cls is None:  # piper 1.8.0 has both; an older one lacks the resolution discriminator
            if name == "MultiPeriodDiscriminator":
                raise _fail(f"{VITS}.models no longer has MultiPeriodDiscriminator")
            continue
        _expect(cls.forward, "for i, d in enumerate(self.discriminators)" if name.startswith("MultiP")
                else "for d in self.discriminators", "= d(y)", "= d(y_hat)")
        cls.forward = _mark(discriminate_in_one_pass(cls.forward), cls.forward)
    # The patch relies on piper's step discarding the generator step's discriminator gradients.
    _expect(lightning.VitsModel.training_step, "opt_d.zero_grad()", "self.manual_backward(loss_d)")
