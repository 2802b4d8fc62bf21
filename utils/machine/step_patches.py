"""In-process patches that keep piper's training step from waiting on the device, or from
computing what it throws away (piper-tts 1.8.0).

On a GPU every ``.item()``, ``bool(tensor)``, ``.cpu()``/``.numpy()`` or host-to-device copy in
the step drains the queue: the host stops issuing work until the device catches up, and the
GPU idles while the host runs the next bit of Python. piper's step does that dozens of times
per batch. Each patch below replaces one such spot, in this process only (site-packages is
never written), after checking the source still looks as written for; a changed piper raises
``PiperCompatError`` instead of being silently patched wrong. ``install_step_patches()``
applies them all; ``active_step_patches()`` reports those live (``verify`` lists them).

- ``slice-segments-gather``: ``commons.slice_segments`` ran a Python ``max(0, ids[i])`` per batch
  item (a host read of a device tensor each) and failed when a slice ran past the audio; now one
  gather, zeros past the end. ``rand_slice_segments`` draws its offsets on the device instead of
  copying CPU random numbers over (a blocking copy).
- ``mas-on-device``: monotonic alignment search in torch on the training device
  (``utils.machine.mas_torch``) instead of a numpy round trip.
- ``losses-on-device``: ``discriminator_loss`` returns its per-discriminator losses as tensors,
  not 2 x ``.item()`` per sub-discriminator (piper's step discards them anyway).
- ``mel-without-range-print``: ``mel_spectrogram_torch`` without the ``if torch.min(y) < -1``
  checks that only print (two host reads per batch); the numbers are piper's.
- ``fused-adamw``: AdamW with ``fused=True`` (one kernel over all parameters instead of a dozen
  per parameter) wherever this torch has the fused kernel for the parameters' device: CUDA, and
  the CPU since torch 2.4 (0.90x the batch time on our 2-core CPU, fp32 and bf16 alike);
  elsewhere piper's optimisers as they are.
- ``discriminator-once-per-batch``: piper ran each discriminator forward twice per batch with the
  same weights (for the generator's losses, then for its own), each time on real and generated
  audio with the weight norm recomputed per call, and computed its weight gradients in the
  generator's backward only to zero them. Now one forward a batch serves both, the weight norm is
  computed once for real and generated audio, and the generator's backward goes through the
  generated half only, without weight gradients (``utils/machine/discriminator_once.py``).
- ``gradients-freed-after-step``: each optimiser drops its gradients once it has stepped (piper
  zeroes them before every backward anyway), so the discriminator's are not held through the
  next generator step, where memory peaks.
- ``duration-noise-on-device``: the stochastic duration predictor makes its noise and its flows'
  zero log-determinants on the CPU and copies them over (``torch.randn(...).type_as(x)``), about
  ten blocking copies per batch; its forward now runs with ``x``'s device as the default device,
  so those tensors are made where they are used.
- ``lightning-log-one-read``: Lightning turns the logged metrics into numbers at each logging step
  with one ``.item()`` per metric; this reads them all in one go (one wait instead of eight).
"""

from __future__ import annotations

import importlib
import inspect

from utils.machine.piper_compat import install_mas_kernel
from utils.machine.piper_patching import VITS, expect_source, incompatible, mark_patched, piper_module

STEP_PATCHES = ("slice-segments-gather", "mas-on-device", "losses-on-device", "mel-without-range-print",
                "fused-adamw", "lightning-log-one-read", "duration-noise-on-device", "discriminator-once-per-batch",
                "gradients-freed-after-step")
WHAT_EACH_SAVES = {
    "slice-segments-gather": "no host read per batch item", "mas-on-device": "no numpy round trip",
    "losses-on-device": "no host reads", "mel-without-range-print": "no host reads",
    "fused-adamw": "one optimiser kernel where torch has it", "lightning-log-one-read": "one host read",
    "duration-noise-on-device": "no blocking copies",
    "discriminator-once-per-batch": "one discriminator forward a batch, no discarded weight gradients",
    "gradients-freed-after-step": "gradients not held past their optimiser's step",
}
LOGGER_CONNECTOR = "lightning.pytorch.trainer.connectors.logger_connector.logger_connector"


def _module(name: str):
    return piper_module(name, __name__)


def _expect(fn, *snippets: str) -> None:
    expect_source(__name__, fn, *snippets)


def _fail(what: str):
    return incompatible(__name__, what)


_mark = mark_patched


# -- slice_segments -------------------------------------------------------------------------------

def slice_segments(x, ids_str, segment_size=4):
    """``x[i, :, start_i : start_i + segment_size]`` for every item in one gather.

    Starts below 0 count as 0 (as piper's ``max(0, ...)``); positions past the end of ``x``
    are zeros where piper raised a shape error.
    """
    import torch

    length = x.size(-1)
    offsets = torch.arange(segment_size, device=x.device)
    index = ids_str.to(device=x.device, dtype=torch.long).clamp(min=0)[:, None] + offsets[None, :]
    inside = index < length
    index = index.clamp(max=max(length - 1, 0))
    out = torch.gather(x, 2, index[:, None, :].expand(x.size(0), x.size(1), segment_size))
    return out * inside[:, None, :].to(out.dtype)


def rand_slice_segments(x, x_lengths=None, segment_size=4):
    """piper's random slice, with the random offsets drawn on ``x``'s device."""
    import torch

    b, _, t = x.size()
    if x_lengths is None:
        x_lengths = t
    ids_str_max = x_lengths - segment_size + 1
    ids_str = (torch.rand([b], device=x.device) * ids_str_max).to(dtype=torch.long)
    return slice_segments(x, ids_str, segment_size), ids_str


def _patch_slices() -> None:
    commons, lightning = _module("commons"), _module("lightning")
    _expect(commons.slice_segments, "max(0, ids_str[i])", "ret[i] = x[i, :, idx_str:idx_end]")
    _expect(commons.rand_slice_segments, "torch.rand([b])", "slice_segments(x, ids_str, segment_size)")
    if getattr(lightning, "slice_segments", None) is not commons.slice_segments:
        raise _fail(f"{VITS}.lightning no longer imports slice_segments from commons")
    fast = _mark(slice_segments, commons.slice_segments)
    commons.rand_slice_segments = _mark(rand_slice_segments, commons.rand_slice_segments)
    commons.slice_segments = lightning.slice_segments = fast


# -- monotonic alignment ------------------------------------------------------------------------

def _patch_mas() -> None:
    from utils.machine.mas_torch import maximum_path_torch

    install_mas_kernel()
    mas = _module("monotonic_align")
    _expect(mas.maximum_path, ".cpu().numpy()")
    models = _module("models")
    if "monotonic_align.maximum_path(" not in inspect.getsource(models.SynthesizerTrn.forward):
        raise _fail(f"{VITS}.models.SynthesizerTrn.forward no longer calls monotonic_align.maximum_path")
    mas.maximum_path = _mark(lambda neg_cent, mask: maximum_path_torch(neg_cent, mask), mas.maximum_path)


# -- discriminator loss -------------------------------------------------------------------------

def discriminator_loss(disc_real_outputs, disc_generated_outputs):
    """piper's least-squares discriminator loss; the per-output losses stay (detached) tensors."""
    import torch

    loss = 0
    r_losses, g_losses = [], []
    for dr, dg in zip(disc_real_outputs, disc_generated_outputs, strict=True):
        r_loss = torch.mean((1 - dr.float()) ** 2)
        g_loss = torch.mean(dg.float() ** 2)
        loss += r_loss + g_loss
        r_losses.append(r_loss.detach())
        g_losses.append(g_loss.detach())
    return loss, r_losses, g_losses


def _patch_losses() -> None:
    losses, lightning = _module("losses"), _module("lightning")
    _expect(losses.discriminator_loss, "r_losses.append(r_loss.item())", "torch.mean((1 - dr) ** 2)")
    if getattr(lightning, "discriminator_loss", None) is not losses.discriminator_loss:
        raise _fail(f"{VITS}.lightning no longer imports discriminator_loss from losses")
    fast = _mark(discriminator_loss, losses.discriminator_loss)
    losses.discriminator_loss = lightning.discriminator_loss = fast


# -- mel spectrogram ----------------------------------------------------------------------------

def _mel_without_checks(original):
    mel_processing = _module("mel_processing")

    def mel_spectrogram_torch(y, n_fft, num_mels, sampling_rate, hop_size, win_size, fmin, fmax, center=False):
        import torch

        key = f"{fmax}_{y.dtype}_{y.device}"
        window_key = f"{win_size}_{y.dtype}_{y.device}"
        # piper's own caches, so a patched and an unpatched call share (and agree on) them.
        if key not in mel_processing.mel_basis:
            mel = mel_processing.librosa_mel_fn(sr=sampling_rate, n_fft=n_fft, n_mels=num_mels, fmin=fmin,
                                                fmax=fmax)
            mel_processing.mel_basis[key] = torch.from_numpy(mel).type_as(y)
        if window_key not in mel_processing.hann_window:
            mel_processing.hann_window[window_key] = torch.hann_window(win_size).type_as(y)
        pad = int((n_fft - hop_size) / 2)
        y = torch.nn.functional.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.view_as_real(torch.stft(
            y, n_fft, hop_length=hop_size, win_length=win_size, window=mel_processing.hann_window[window_key],
            center=center, pad_mode="reflect", normalized=False, onesided=True, return_complex=True))
        spec = torch.sqrt(spec.pow(2).sum(-1) + 1e-6)
        spec = torch.matmul(mel_processing.mel_basis[key], spec)
        return mel_processing.spectral_normalize_torch(spec)

    return _mark(mel_spectrogram_torch, original)


def _patch_mel() -> None:
    mel_processing, lightning = _module("mel_processing"), _module("lightning")
    original = mel_processing.mel_spectrogram_torch
    _expect(original, "if torch.min(y) < -1.0:", "mel_basis[fmax_dtype_device]",
            "torch.sqrt(spec.pow(2).sum(-1) + 1e-6)")
    if getattr(lightning, "mel_spectrogram_torch", None) is not original:
        raise _fail(f"{VITS}.lightning no longer imports mel_spectrogram_torch from mel_processing")
    fast = _mel_without_checks(original)
    mel_processing.mel_spectrogram_torch = lightning.mel_spectrogram_torch = fast


# -- fused AdamW --------------------------------------------------------------------------------

def _fused_kernel_for(params: list) -> bool:
    """Whether this torch has a fused AdamW kernel for these parameters (all on one device type).

    Asked of torch itself by building one: CUDA has had the kernel since torch 2.0, the CPU since
    2.4, MPS since 2.5; an older torch refuses with a RuntimeError naming the devices it supports."""
    import torch

    if len({p.device.type for p in params}) != 1 or not all(p.is_floating_point() for p in params):
        return False
    probe = torch.nn.Parameter(torch.zeros(1, dtype=params[0].dtype, device=params[0].device))
    try:
        torch.optim.AdamW([probe], fused=True)
    except (RuntimeError, ValueError):
        return False
    return True


def fuse_adamw(optimizers: list, schedulers: list) -> tuple[list, list]:
    """Rebuild plain AdamW optimisers (and their ExponentialLR schedules) as fused ones where this
    torch has the fused kernel for the parameters' device; anything else is returned unchanged."""
    import torch

    if "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return optimizers, schedulers
    fused_opts, fused_scheds = [], []
    for opt, sched in zip(optimizers, schedulers, strict=True):
        params = [p for group in opt.param_groups for p in group["params"]]
        plain = type(opt) is torch.optim.AdamW and type(sched) is torch.optim.lr_scheduler.ExponentialLR
        if not (plain and params and len(opt.param_groups) == 1 and _fused_kernel_for(params)):
            fused_opts.append(opt)
            fused_scheds.append(sched)
            continue
        group = opt.param_groups[0]
        new = torch.optim.AdamW(params, lr=group["initial_lr"], betas=group["betas"], eps=group["eps"],
                                weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], fused=True)
        fused_opts.append(new)
        fused_scheds.append(torch.optim.lr_scheduler.ExponentialLR(new, gamma=sched.gamma))
    return fused_opts, fused_scheds


def free_gradients_after_step(optimizers: list) -> list:
    """Each optimiser drops its parameters' gradients (``zero_grad(set_to_none=True)``) as soon as
    it has stepped, so they are not held through the rest of the batch.

    piper's step zeroes each optimiser's gradients before its backward and reads them nowhere
    else, so they are dead after the step; the discriminator's (187 MB at x_low) were kept alive
    through the next batch's generator step, where memory peaks."""
    for opt in optimizers:
        opt.register_step_post_hook(lambda optimizer, args, kwargs: optimizer.zero_grad(set_to_none=True))
    return optimizers


def _patch_optimizers() -> None:
    lightning = _module("lightning")
    original = lightning.VitsModel.configure_optimizers
    if getattr(original, "__coaxial__", False):  # two patch names, one wrapper: install it once
        return
    _expect(original, "torch.optim.AdamW(", "ExponentialLR(", "return optimizers, schedulers")
    _expect(lightning.VitsModel.training_step, "opt_g.zero_grad()", "opt_d.zero_grad()")

    def configure_optimizers(self):
        optimizers, schedulers = fuse_adamw(*original(self))
        return free_gradients_after_step(optimizers), schedulers

    lightning.VitsModel.configure_optimizers = _mark(configure_optimizers, original)


# -- discriminators: one forward a batch (utils/machine/discriminator_once.py) ---------------------

def _patch_discriminators() -> None:
    from utils.machine.discriminator_once import install_discriminator_once

    install_discriminator_once()


# -- stochastic duration predictor --------------------------------------------------------------

def on_input_device(original):
    """``original(self, x, ...)`` run with ``x``'s device as torch's default device."""
    import torch

    def forward(self, x, *args, **kwargs):
        if x.device.type == "cpu":  # already the default device: skip the mode's per-op overhead
            return original(self, x, *args, **kwargs)
        # Factory calls inside (noise, the flows' zero log-determinants) default to x's device.
        with torch.device(x.device):
            return original(self, x, *args, **kwargs)

    return forward


def _patch_duration_predictor() -> None:
    models = _module("models")
    original = models.StochasticDurationPredictor.forward
    _expect(original, "torch.randn(w.size(0), 2, w.size(2)).type_as(x)")
    models.StochasticDurationPredictor.forward = _mark(on_input_device(original), original)


# -- Lightning's logging --------------------------------------------------------------------------

def convert_tensors_to_scalars(data):
    """Lightning's ``convert_tensors_to_scalars`` (one-element tensors -> Python numbers, same
    types as ``.item()``) with one host read per device and dtype instead of one per metric."""
    import torch
    from lightning.fabric.utilities.apply_func import apply_to_collection

    found: list = []

    def collect(value):
        if value.numel() != 1:
            raise ValueError(f"The metric `{value}` does not contain a single element, thus it cannot be "
                             "converted to a scalar.")
        found.append(value)
        return value

    apply_to_collection(data, torch.Tensor, collect)
    groups: dict = {}
    for i, value in enumerate(found):
        groups.setdefault((value.device, value.dtype), []).append(i)
    numbers: list = [None] * len(found)
    for indices in groups.values():
        for i, number in zip(indices, torch.stack([found[i].reshape(()) for i in indices]).tolist(), strict=True):
            numbers[i] = number
    order = iter(numbers)
    return apply_to_collection(data, torch.Tensor, lambda _: next(order))


def _patch_lightning_logging() -> None:
    try:
        connector = importlib.import_module(LOGGER_CONNECTOR)
    except ImportError as exc:
        raise _fail(f"cannot import Lightning's logger connector ({exc})") from exc
    original = getattr(connector, "convert_tensors_to_scalars", None)
    if original is None or "convert_tensors_to_scalars(metrics)" not in inspect.getsource(connector):
        raise _fail("Lightning's logger connector no longer calls convert_tensors_to_scalars(metrics)")
    connector.convert_tensors_to_scalars = _mark(convert_tensors_to_scalars, original)


# -- entry points -------------------------------------------------------------------------------

def install_step_patches() -> list[str]:
    """Apply every step patch (idempotent); returns one line per patch."""
    patchers = {"slice-segments-gather": _patch_slices, "mas-on-device": _patch_mas,
                "losses-on-device": _patch_losses, "mel-without-range-print": _patch_mel,
                "fused-adamw": _patch_optimizers, "lightning-log-one-read": _patch_lightning_logging,
                "duration-noise-on-device": _patch_duration_predictor,
                "discriminator-once-per-batch": _patch_discriminators, "gradients-freed-after-step": _patch_optimizers}
    for name, live in active_step_patches().items():
        if not live:  # each patch once: a second wrapper around a wrapper would do the work twice
            patchers[name]()
    return [f"{name}: {WHAT_EACH_SAVES[name]}" for name in STEP_PATCHES]


def active_step_patches() -> dict[str, bool]:
    """Which step patches are live in this process, read from piper's modules themselves."""
    import sys

    def live(module: str, *names: str) -> bool:
        mod = sys.modules.get(f"{VITS}.{module}")
        return mod is not None and all(getattr(_attr(mod, n), "__coaxial__", False) for n in names)

    return {
        "slice-segments-gather": live("commons", "slice_segments", "rand_slice_segments")
        and live("lightning", "slice_segments"),
        "mas-on-device": live("monotonic_align", "maximum_path"),
        "losses-on-device": live("losses", "discriminator_loss") and live("lightning", "discriminator_loss"),
        "mel-without-range-print": live("lightning", "mel_spectrogram_torch"),
        "fused-adamw": live("lightning", "VitsModel.configure_optimizers"),
        "duration-noise-on-device": live("models", "StochasticDurationPredictor.forward"),
        "discriminator-once-per-batch": live("models", "MultiPeriodDiscriminator.forward"),
        "gradients-freed-after-step": live("lightning", "VitsModel.configure_optimizers"),
        "lightning-log-one-read": getattr(getattr(sys.modules.get(LOGGER_CONNECTOR), "convert_tensors_to_scalars",
                                                  None), "__coaxial__", False),
    }


def _attr(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj
