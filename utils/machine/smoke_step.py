"""One real optimisation step of a tiny piper VITS, to prove a device+precision actually trains.

The model is piper's own ``VitsModel`` (generator, discriminator, losses, two optimisers) with
small hidden sizes; the batch is synthetic but real audio (a sine sweep) with piper's own
spectrogram function. Lightning runs it, on the chosen accelerator and precision, exactly as a
real run would (manual optimisation: one batch = a generator and a discriminator step).
"""

from __future__ import annotations

import math
import time

# Small enough for a few seconds on a 2-core CPU; the hop (product of upsample rates) stays 256.
TINY_MODEL = dict(
    num_symbols=40, hidden_channels=16, inter_channels=16, filter_channels=32, n_heads=2, n_layers=1,
    n_layers_q=1, upsample_initial_channel=32, resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 2),),
    upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8), segment_size=1024, mos_metric="none",
)


def _batch(batch_size: int, seconds: float, sample_rate: int, filter_length: int, hop: int, seed: int):
    import torch
    from piper.train.vits.dataset import Batch
    from piper.train.vits.mel_processing import spectrogram_torch

    g = torch.Generator().manual_seed(seed)
    n_max = int(seconds * sample_rate) // hop * hop
    audios, specs, a_lens, s_lens, p_lens = [], [], [], [], []
    for i in range(batch_size):
        # Unequal lengths so the masks (and the alignment search's per-item bounds) are exercised.
        n = n_max - i * 8 * hop
        t = torch.arange(n) / sample_rate
        f0 = 110.0 * (1 + i)
        sweep = 0.4 * torch.sin(2 * math.pi * (f0 * t + 40.0 * t * t)) + 0.01 * torch.randn(n, generator=g)
        padded = torch.nn.functional.pad(sweep[None, None], ((filter_length - hop) // 2,) * 2, mode="reflect")
        spec = spectrogram_torch(padded[0], filter_length, sample_rate, hop, filter_length)[0]
        # One hop beyond the longest clip: a segment may start at the spectrogram's last frame.
        audios.append(torch.nn.functional.pad(sweep, (0, n_max + hop - n)))
        specs.append(spec)
        a_lens.append(n)
        s_lens.append(spec.shape[-1])
        p_lens.append(12 - 2 * i)
    frames = max(s_lens)
    spectrograms = torch.stack([torch.nn.functional.pad(s, (0, frames - s.shape[-1])) for s in specs])
    phoneme_ids = torch.randint(1, TINY_MODEL["num_symbols"], (batch_size, max(p_lens)), generator=g)
    for i, length in enumerate(p_lens):
        phoneme_ids[i, length:] = 0
    return Batch(
        phoneme_ids=phoneme_ids,
        phoneme_lengths=torch.tensor(p_lens, dtype=torch.long),
        spectrograms=spectrograms,
        spectrogram_lengths=torch.tensor(s_lens, dtype=torch.long),
        audios=torch.stack(audios)[:, None, :],
        audio_lengths=torch.tensor(a_lens, dtype=torch.long),
    )


def train_steps(accelerator: str, precision: str, steps: int = 1, batch_size: int = 2, seed: int = 0,
                model_overrides: dict | None = None, seconds: float = 0.6, warmup: int = 0,
                base_model: dict | None = None) -> dict:
    """Train ``warmup + steps`` batches; times the last ``steps`` (device-synchronised).

    ``base_model`` replaces ``TINY_MODEL`` (piper's defaults fill what it leaves out)."""
    import lightning as L
    import torch
    from piper.train.vits.lightning import VitsModel

    from utils.machine import piper_compat

    piper_compat.install_mas_kernel()
    torch.manual_seed(seed)
    config = dict(TINY_MODEL if base_model is None else base_model, **(model_overrides or {}))
    model = VitsModel(batch_size=batch_size, **config)
    hp = model.hparams
    batch = _batch(batch_size, seconds, hp.sample_rate, hp.filter_length, hp.hop_length, seed)
    before = [p.detach().clone() for p in model.model_g.parameters()]
    losses: dict = {}
    times: list[float] = []

    def sync():
        if accelerator == "cuda":
            torch.cuda.synchronize()

    class _Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, b, batch_idx):
            sync()
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, b, batch_idx):
            sync()
            if batch_idx >= warmup:
                times.append(time.perf_counter() - self.t0)
            for key in ("loss_g", "loss_d"):
                if key in trainer.callback_metrics:
                    losses[key] = float(trainer.callback_metrics[key])

    total = warmup + steps
    loader = torch.utils.data.DataLoader([batch] * total, batch_size=None)
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_steps=2 * total, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[_Record()],
    )
    start = time.perf_counter()
    trainer.fit(model, train_dataloaders=loader)
    wall = time.perf_counter() - start
    after = list(model.model_g.parameters())
    moved = any(not torch.equal(a.detach().cpu(), b.cpu()) for a, b in zip(after, before, strict=True))
    finite = bool(losses) and all(math.isfinite(v) for v in losses.values())
    return {"accelerator": accelerator, "precision": precision, "losses": losses, "weights_changed": moved,
            "finite": finite, "wall_s": round(wall, 3), "global_step": trainer.global_step,
            "step_times_s": [round(t, 4) for t in times]}
