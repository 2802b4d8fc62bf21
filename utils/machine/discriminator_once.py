"""piper's discriminators run once per batch (step patch ``discriminator-once-per-batch``).

piper's ``_compute_loss`` calls each discriminator family twice per batch with the same weights:
``model_d(y, y_hat)`` for the generator's losses and ``model_d(y, y_hat.detach())`` for the
discriminator's, and each call runs every sub-discriminator twice (real, generated), each run
recomputing the weight norm of every layer. Its backward for the generator's loss also computes
the discriminator's weight gradients, which the step zeroes unused before the discriminator's own
backward. On a CPU the discriminators are half of a medium batch (``benchmarks/profile_step.py``).

Here the generator's call does the discriminator's forward once, on the real audio and on a
detached copy of the generated audio (``leaf``), with each layer's weight norm computed once for
both. The generator gets its gradient through ``ToGenerated``, a bridge whose backward asks
autograd for the gradient of the generated scores with respect to ``leaf`` only (no weight
gradients, only the generated half). The discriminator's call in the same batch, with the same
audio and unchanged weights (checked by tensor versions), returns that forward's outputs, whose
graph its backward then uses for the weight gradients. Same numbers as piper's four calls; any
call that does not fit the pattern runs piper's forward as it is.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from utils.machine.piper_patching import VITS, expect_source, incompatible, mark_patched, piper_module

SHARED = "_coaxial_shared_pass"


@dataclass
class SharedPass:
    """One batch's discriminator forward, kept from the generator's call for the discriminator's."""

    y: object
    y_version: int
    leaf: object
    weight_versions: list[int]
    real_scores: list
    fake_scores: list
    real_maps: list
    fake_maps: list

    def serves(self, module, y, y_hat) -> bool:
        """Whether ``module(y, y_hat)`` would compute exactly this pass's outputs."""
        return (y is self.y and y._version == self.y_version and not y_hat.requires_grad
                and y_hat.shape == self.leaf.shape and y_hat.stride() == self.leaf.stride()
                and y_hat.data_ptr() == self.leaf.data_ptr() and y_hat._version == self.leaf._version
                and _weight_versions(module) == self.weight_versions)

    def generated_tensors(self) -> list:
        return list(self.fake_scores) + [fmap for maps in self.fake_maps for fmap in maps]


def _weight_versions(module) -> list[int]:
    return [p._version for p in module.parameters()]


def _weight_norm_hooks_only(module) -> bool:
    """True when every forward pre-hook below ``module`` is torch's ``WeightNorm`` (old style).

    Another hook (spectral norm's power iteration, say) would run once instead of piper's twice,
    so such a discriminator keeps piper's forward."""
    from torch.nn.utils.weight_norm import WeightNorm

    return all(isinstance(hook, WeightNorm) for m in module.modules() for hook in m._forward_pre_hooks.values())


@contextlib.contextmanager
def weights_as_computed(module):
    """``module``'s layers without their weight-norm pre-hooks: each keeps the weight its hook
    computed on the previous call (same graph node, so gradients from both calls meet there)."""
    suspended = []
    for m in module.modules():
        if m._forward_pre_hooks:
            suspended.append((m, m._forward_pre_hooks))
            m._forward_pre_hooks = type(m._forward_pre_hooks)()
    try:
        yield
    finally:
        for m, hooks in suspended:
            m._forward_pre_hooks = hooks


@functools.cache
def to_generated():
    """The autograd Function bridging the generator's graph to the shared forward; built on first
    use, once, because utils/machine imports torch only inside functions."""
    import torch

    class ToGenerated(torch.autograd.Function):
        """Generated scores and feature maps as functions of ``y_hat``: forward hands them over;
        backward returns the gradient autograd finds for them with respect to the detached copy.
        The discriminator's graph is kept (``retain_graph``) for the discriminator's own backward."""

        @staticmethod
        def forward(ctx, y_hat, shared):
            ctx.shared = shared
            return tuple(t.detach() for t in shared.generated_tensors())

        @staticmethod
        def backward(ctx, *grads):
            pairs = [(t, g) for t, g in zip(ctx.shared.generated_tensors(), grads, strict=True) if g is not None]
            if not pairs:
                return None, None
            (grad,) = torch.autograd.grad([t for t, _ in pairs], [ctx.shared.leaf], [g for _, g in pairs],
                                          retain_graph=True, allow_unused=True)
            return grad, None

    return ToGenerated


def _forward_once(module, y, y_hat):
    """The generator's call: one forward of each sub-discriminator on real and generated audio."""
    leaf = y_hat.detach().requires_grad_(True)
    shared = SharedPass(y=y, y_version=y._version, leaf=leaf, weight_versions=_weight_versions(module),
                        real_scores=[], fake_scores=[], real_maps=[], fake_maps=[])
    for discriminator in module.discriminators:
        real_score, real_maps = discriminator(y)
        with weights_as_computed(discriminator):
            fake_score, fake_maps = discriminator(leaf)
        shared.real_scores.append(real_score)
        shared.fake_scores.append(fake_score)
        shared.real_maps.append(list(real_maps))
        shared.fake_maps.append(list(fake_maps))
    module.__dict__[SHARED] = shared
    generated = iter(to_generated().apply(y_hat, shared))
    fake_scores = [next(generated) for _ in shared.fake_scores]
    fake_maps = [[next(generated) for _ in maps] for maps in shared.fake_maps]
    # The generator's losses read the real outputs only as constants (feature loss detaches them).
    real_scores = [s.detach() for s in shared.real_scores]
    real_maps = [[f.detach() for f in maps] for maps in shared.real_maps]
    return real_scores, fake_scores, real_maps, fake_maps


def discriminate_once(original):
    """``MultiPeriodDiscriminator.forward`` / ``MultiResolutionDiscriminator.forward`` (``original``),
    sharing one forward between the generator's and the discriminator's call of a batch."""
    import torch

    def forward(self, y, y_hat):
        shared = self.__dict__.pop(SHARED, None)  # one batch at most: never held into the next
        if shared is not None and shared.serves(self, y, y_hat):
            return shared.real_scores, shared.fake_scores, shared.real_maps, shared.fake_maps
        generator_call = torch.is_grad_enabled() and y_hat.requires_grad and not y.requires_grad
        if not (generator_call and y.shape == y_hat.shape and y.device == y_hat.device
                and all(_weight_norm_hooks_only(d) for d in self.discriminators)):
            return original(self, y, y_hat)
        return _forward_once(self, y, y_hat)

    return forward


def install_discriminator_once() -> None:
    models, lightning = piper_module("models", __name__), piper_module("lightning", __name__)
    for name in ("MultiPeriodDiscriminator", "MultiResolutionDiscriminator"):
        cls = getattr(models, name, None)
        if cls is None:  # piper 1.8.0 has both; an older one lacks the resolution discriminator
            if name == "MultiPeriodDiscriminator":
                raise incompatible(__name__, f"{VITS}.models no longer has MultiPeriodDiscriminator")
            continue
        expect_source(__name__, cls.forward, "for i, d in enumerate(self.discriminators)"
                      if name.startswith("MultiP") else "for d in self.discriminators", "= d(y)", "= d(y_hat)")
        cls.forward = mark_patched(discriminate_once(cls.forward), cls.forward)
    # Sharing relies on piper's order: both calls of a batch before any step, the generator's first,
    # the discriminator's on the detached generated audio, its gradients zeroed before its backward.
    expect_source(__name__, lightning.VitsModel._compute_loss, "self.model_d(y, y_hat)",
                  "self.model_d(y, y_hat.detach())")
    expect_source(__name__, lightning.VitsModel.training_step, "opt_d.zero_grad()", "self.manual_backward(loss_d)")
