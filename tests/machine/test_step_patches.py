"""The training-step patches compute what piper computes, without the host reads."""

from __future__ import annotations

import math

import pytest
import torch

from utils.machine import discriminator_once, piper_compat, runtime_patches, step_patches


@pytest.fixture(scope="module")
def originals():
    piper_compat.install_mas_kernel()
    from piper.train.vits import commons, losses, mel_processing

    def unwrap(fn):
        return getattr(fn, "__coaxial_original__", fn)

    return {"slice": unwrap(commons.slice_segments), "disc": unwrap(losses.discriminator_loss),
            "mel": unwrap(mel_processing.mel_spectrogram_torch)}


def test_slice_segments_is_pipers_slice_where_piper_works(originals):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 50, generator=g)
    starts = torch.tensor([0, 7, 30, -3])  # piper clamps a negative start to 0
    assert torch.equal(step_patches.slice_segments(x, starts, 20), originals["slice"](x, starts, 20))


def test_slice_segments_pads_with_zeros_where_piper_raised(originals):
    x = torch.arange(2 * 1 * 10, dtype=torch.float32).reshape(2, 1, 10)
    starts = torch.tensor([6, 0])
    with pytest.raises(RuntimeError):  # piper: "The expanded size of the tensor ... must match"
        originals["slice"](x, starts, 8)
    out = step_patches.slice_segments(x, starts, 8)
    assert out[0, 0].tolist() == [6, 7, 8, 9, 0, 0, 0, 0]
    assert out[1, 0].tolist() == list(range(10, 18))


def test_rand_slice_draws_offsets_inside_each_length():
    torch.manual_seed(1)
    x = torch.randn(3, 2, 40)
    lengths = torch.tensor([40, 12, 25])
    out, ids = step_patches.rand_slice_segments(x, lengths, 10)
    assert ((ids >= 0) & (ids <= lengths - 10)).all()
    for i in range(3):
        assert torch.equal(out[i], x[i, :, ids[i]:ids[i] + 10])


def test_discriminator_loss_equals_pipers_and_keeps_tensors(originals):
    g = torch.Generator().manual_seed(2)
    real = [torch.randn(2, 1, 30, generator=g) for _ in range(5)]
    fake = [torch.randn(2, 1, 30, generator=g, requires_grad=True) for _ in range(5)]
    want, want_r, want_g = originals["disc"](real, fake)
    got, got_r, got_g = step_patches.discriminator_loss(real, fake)
    assert torch.equal(got, want)
    assert [t.item() for t in got_r] == want_r and [t.item() for t in got_g] == want_g
    assert all(isinstance(t, torch.Tensor) and not t.requires_grad for t in got_r + got_g)
    got.backward()  # still a training loss
    assert fake[0].grad is not None


def test_mel_is_pipers_mel_without_printing(originals, capsys):
    t = torch.arange(16000) / 16000
    y = (1.2 * torch.sin(2 * math.pi * 220 * t))[None]  # over full scale: piper prints its range
    args = (1024, 80, 16000, 256, 1024, 0.0, None)
    fast = step_patches._mel_without_checks(originals["mel"])
    got = fast(y, *args)
    assert capsys.readouterr().out == ""
    want = originals["mel"](y, *args)
    assert "max value is" in capsys.readouterr().out
    assert torch.equal(got, want)


def test_lightning_conversion_gives_item_values_in_one_pass():
    from lightning.fabric.utilities.apply_func import convert_tensors_to_scalars as lightning_convert

    metrics = {"a": torch.tensor(1.5), "b": {"c": torch.tensor(3)}, "d": torch.tensor([True]), "e": 7}
    got = step_patches.convert_tensors_to_scalars(metrics)
    assert got == lightning_convert(metrics)
    assert type(got["b"]["c"]) is int and type(got["d"]) is bool
    with pytest.raises(ValueError):
        step_patches.convert_tensors_to_scalars({"x": torch.zeros(2)})


def test_duration_predictor_makes_its_tensors_on_the_input_device():
    # "meta" stands in for CUDA (no GPU here): a factory call inside lands on x's device.
    def forward(self, x):
        return torch.randn(2).device

    wrapped = step_patches.on_input_device(forward)
    assert forward(None, torch.empty(1, device="meta")) == torch.device("cpu")  # piper: made on the CPU
    assert wrapped(None, torch.empty(1, device="meta")) == torch.device("meta")
    assert wrapped(None, torch.empty(1)) == torch.device("cpu")


def test_fused_adamw_where_this_torch_has_the_kernel():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([param], lr=1e-3, betas=(0.8, 0.99), eps=1e-9)
    opts, scheds = step_patches.fuse_adamw([opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    # Both torches this project runs (the lock's 2.8 and CI's newer one) have the CPU kernel (>= 2.4).
    assert opts[0] is not opt and opts[0].defaults["fused"]
    assert opts[0].defaults["betas"] == (0.8, 0.99) and opts[0].defaults["eps"] == 1e-9 and scheds[0].gamma == 0.9
    assert opts[0].param_groups[0]["params"] == [param]


def test_fused_adamw_leaves_the_optimiser_where_torch_refuses(monkeypatch):
    class OldTorchAdamW(torch.optim.AdamW):
        """FAKE: a torch < 2.4, whose fused AdamW refuses CPU parameters."""

        def __init__(self, params, *args, fused=None, **kwargs):
            if fused:
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                                   "supported devices: ['cuda', 'xpu', 'privateuseone'].")
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", OldTorchAdamW)
    param = torch.nn.Parameter(torch.zeros(3))
    opt = OldTorchAdamW([param], lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    opts, scheds = step_patches.fuse_adamw([opt], [sched])
    assert opts[0] is opt and scheds[0] is sched


def test_optimisers_let_go_of_gradients_once_stepped():
    param = torch.nn.Parameter(torch.ones(3))
    (opt,) = step_patches.free_gradients_after_step([torch.optim.AdamW([param], lr=0.1)])
    (param * 2).sum().backward()
    assert param.grad is not None
    opt.step()
    assert param.grad is None and not torch.equal(param.detach(), torch.ones(3))  # stepped, then released


def _discriminator(kind: str):
    from piper.train.vits import models

    torch.manual_seed(3)
    return models.MultiPeriodDiscriminator() if kind == "period" else models.MultiResolutionDiscriminator()


def _flat(outputs) -> torch.Tensor:
    return torch.cat([t.flatten() for t in torch.utils._pytree.tree_leaves(outputs)])


def _one_batch(forward, disc, y, source):
    """piper's use of a discriminator family in one batch: the generator's call and losses, the
    discriminator's call on the detached audio, the generator's backward, then the discriminator's.
    Returns the outputs of both calls and the gradients each backward produced."""
    disc.zero_grad(set_to_none=True)
    y_hat = source.clone().requires_grad_(True)
    generator_call = forward(disc, y, y_hat)
    _, fake_scores, real_maps, fake_maps = generator_call
    loss_g = sum(torch.mean((1 - s) ** 2) for s in fake_scores)
    loss_g = loss_g + sum(torch.mean(torch.abs(r.detach() - f)) for rs, fs in zip(real_maps, fake_maps, strict=True)
                          for r, f in zip(rs, fs, strict=True))
    real, fake, _, _ = discriminator_call = forward(disc, y, y_hat.detach())
    loss_g.backward()
    weight_grads_of_generator_loss = [p.grad for p in disc.parameters()]
    disc.zero_grad(set_to_none=True)
    step_patches.discriminator_loss(real, fake)[0].backward()
    return {"generator_call": generator_call, "discriminator_call": discriminator_call, "y_hat_grad": y_hat.grad,
            "weight_grads_of_generator_loss": weight_grads_of_generator_loss,
            "weight_grads": [p.grad.clone() for p in disc.parameters()]}


@pytest.mark.parametrize("kind", ["period", "resolution"])
def test_one_forward_a_batch_gives_pipers_scores_and_gradients(kind):
    step_patches.install_step_patches()
    disc = _discriminator(kind)
    original = type(disc).forward.__coaxial_original__
    torch.manual_seed(4)
    y, source = torch.randn(2, 1, 4096), torch.randn(2, 1, 4096)
    piper = _one_batch(original, disc, y, source)
    ours = _one_batch(type(disc).forward, disc, y, source)
    for call in ("generator_call", "discriminator_call"):
        for our_part, piper_part in zip(ours[call], piper[call], strict=True):  # scores and maps, real and fake
            torch.testing.assert_close(_flat(our_part), _flat(piper_part), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours["y_hat_grad"], piper["y_hat_grad"], rtol=1e-4, atol=1e-6)
    for our_grad, piper_grad in zip(ours["weight_grads"], piper["weight_grads"], strict=True):
        torch.testing.assert_close(our_grad, piper_grad, rtol=1e-3, atol=1e-6)
    assert all(g is not None for g in piper["weight_grads_of_generator_loss"])  # piper made them, then zeroed them
    assert all(g is None for g in ours["weight_grads_of_generator_loss"])
    assert discriminator_once.SHARED not in disc.__dict__  # the batch's forward is not held into the next


def test_discriminator_call_after_a_weight_change_runs_pipers_forward():
    step_patches.install_step_patches()
    disc = _discriminator("period")
    original = type(disc).forward.__coaxial_original__
    torch.manual_seed(7)
    y, y_hat = torch.randn(2, 1, 4096), torch.randn(2, 1, 4096, requires_grad=True)
    shared_fake = type(disc).forward(disc, y, y_hat)[1]
    with torch.no_grad():
        next(disc.parameters()).add_(0.5)  # an optimiser step between the two calls
    ours = type(disc).forward(disc, y, y_hat.detach())
    with torch.no_grad():
        piper = original(disc, y, y_hat.detach())
    torch.testing.assert_close(_flat(ours[1]), _flat(piper[1]), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(_flat(ours[1]), _flat(shared_fake))  # the stale forward was not served


def test_weight_norm_hooks_come_back_after_an_error():
    layer = torch.nn.utils.weight_norm(torch.nn.Conv1d(1, 2, 3))
    hooks = dict(layer._forward_pre_hooks)
    with pytest.raises(ZeroDivisionError), discriminator_once.weights_as_computed(layer):
        assert not layer._forward_pre_hooks
        1 / 0  # noqa: B018
    assert dict(layer._forward_pre_hooks) == hooks


def test_install_is_idempotent_listed_and_refuses_a_changed_piper():
    first = step_patches.install_step_patches()
    assert step_patches.install_step_patches() == first
    assert all(step_patches.active_step_patches().values())
    assert set(step_patches.STEP_PATCHES) <= set(runtime_patches.active_patches())
    from piper.train.vits import commons, lightning

    assert lightning.slice_segments is commons.slice_segments is step_patches.slice_segments

    def changed(x):
        return x

    with pytest.raises(piper_compat.PiperCompatError,
                       match="no longer contains .*utils/machine/step_patches.py was written for piper-tts"):
        step_patches._expect(changed, "max(0, ids_str[i])")


def test_patched_step_trains_like_pipers_on_cpu():
    # On the CPU the device draws the same random numbers piper draws on the host, so real fp32
    # steps give piper's losses: the patches change where and how the work runs, not what. Three
    # steps, so the losses of the last one follow two updates of both optimisers (fused AdamW, the
    # discriminator's weight gradients from its one-pass call).
    from utils.machine.smoke_step import train_steps

    step_patches.install_step_patches()
    patched = train_steps("cpu", "32-true", steps=3, batch_size=3)
    from piper.train.vits import commons, lightning, losses, mel_processing, models, monotonic_align

    saved = {}
    for module, name in ((commons, "slice_segments"), (commons, "rand_slice_segments"),
                         (lightning, "slice_segments"), (losses, "discriminator_loss"),
                         (lightning, "discriminator_loss"), (lightning, "mel_spectrogram_torch"),
                         (monotonic_align, "maximum_path"), (mel_processing, "mel_spectrogram_torch"),
                         (models.StochasticDurationPredictor, "forward"),
                         (models.MultiPeriodDiscriminator, "forward"),
                         (models.MultiResolutionDiscriminator, "forward"),
                         (lightning.VitsModel, "configure_optimizers")):
        saved[(module, name)] = getattr(module, name)
        setattr(module, name, getattr(module, name).__coaxial_original__)
    try:
        plain = train_steps("cpu", "32-true", steps=3, batch_size=3)
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)
    assert patched["losses"] == pytest.approx(plain["losses"], rel=1e-4)
    assert patched["losses"] != pytest.approx(train_steps("cpu", "32-true", steps=1, batch_size=3)["losses"],
                                              rel=1e-3)  # the two updates moved the losses
    assert patched["finite"] and patched["weights_changed"]
