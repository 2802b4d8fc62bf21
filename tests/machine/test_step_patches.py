"""The training-step patches compute what piper computes, without the host reads."""

from __future__ import annotations

import math

import pytest
import torch

from utils.machine import piper_compat, step_patches


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


def test_fused_adamw_only_for_cuda_parameters():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([param], lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    opts, scheds = step_patches.fuse_adamw([opt], [sched])
    assert opts[0] is opt and scheds[0] is sched  # CPU parameters: piper's optimiser as it is
    if torch.cuda.is_available():
        param = torch.nn.Parameter(torch.zeros(3, device="cuda"))
        opt = torch.optim.AdamW([param], lr=1e-3, betas=(0.8, 0.99), eps=1e-9)
        opts, scheds = step_patches.fuse_adamw([opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)])
        assert opts[0].defaults["fused"] and opts[0].defaults["betas"] == (0.8, 0.99) and scheds[0].gamma == 0.9


def test_install_is_idempotent_listed_and_refuses_a_changed_piper():
    first = step_patches.install_step_patches()
    assert step_patches.install_step_patches() == first
    assert all(step_patches.active_step_patches().values())
    assert set(step_patches.STEP_PATCHES) <= set(piper_compat.active_patches())
    from piper.train.vits import commons, lightning

    assert lightning.slice_segments is commons.slice_segments is step_patches.slice_segments

    def changed(x):
        return x

    with pytest.raises(piper_compat.PiperCompatError, match="no longer contains"):
        step_patches._expect(changed, "max(0, ids_str[i])")


def test_patched_step_trains_like_pipers_on_cpu():
    # On the CPU the device draws the same random numbers piper draws on the host, so one real
    # fp32 step gives piper's losses exactly: the patches change where the work runs, not what.
    from utils.machine.smoke_step import train_steps

    step_patches.install_step_patches()
    patched = train_steps("cpu", "32-true", steps=1, batch_size=3)
    from piper.train.vits import commons, lightning, losses, mel_processing, models, monotonic_align

    saved = {}
    for module, name in ((commons, "slice_segments"), (commons, "rand_slice_segments"),
                         (lightning, "slice_segments"), (losses, "discriminator_loss"),
                         (lightning, "discriminator_loss"), (lightning, "mel_spectrogram_torch"),
                         (monotonic_align, "maximum_path"), (mel_processing, "mel_spectrogram_torch"),
                         (models.StochasticDurationPredictor, "forward")):
        saved[(module, name)] = getattr(module, name)
        setattr(module, name, getattr(module, name).__coaxial_original__)
    try:
        plain = train_steps("cpu", "32-true", steps=1, batch_size=3)
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)
    assert patched["losses"] == pytest.approx(plain["losses"], rel=1e-5)
    assert patched["finite"] and patched["weights_changed"]
