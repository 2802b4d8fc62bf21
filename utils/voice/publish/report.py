"""What a finished run leaves for people: loss-curve PNG, spectrogram PNG, summary text and JSON."""

from __future__ import annotations

from pathlib import Path

from utils.files import atomic_path

# Loss keys piper logs per batch, in the order worth reading; labels say what each measures.
CURVES = (
    ("loss_g", "generator total"),
    ("loss_d", "discriminator"),
    ("train_mel", "mel L1 (reconstruction)"),
    ("train_kl", "KL"),
    ("train_dur", "duration"),
)


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def plot_losses(history: list[dict], path: Path, title: str) -> Path | None:
    """One panel per loss (their scales differ by 100x), x = batches trained."""
    present = [(key, label) for key, label in CURVES if any(key in row for row in history)]
    if not present:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(len(present), 1, figsize=(7, 1.8 * len(present) + 0.6), sharex=True,
                             squeeze=False)
    for ax, (key, label) in zip(axes[:, 0], present, strict=True):
        points = [(row["step"], row[key]) for row in history if key in row]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 50 else None,
                linewidth=1)
        ax.set_ylabel(key, fontsize=8)
        ax.set_title(label, fontsize=8, loc="left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("batch (one generator + one discriminator update)")
    fig.suptitle(title, fontsize=10)
    _save_figure(fig, path)
    plt.close(fig)
    return path


def plot_spectrogram(wav_path: Path, path: Path, title: str) -> Path:
    """Log-magnitude spectrogram of the spoken sample: silence, noise and speech look different."""
    import wave

    import numpy as np

    with wave.open(str(wav_path), "rb") as wav_file:
        rate = wav_file.getframerate()
        audio = np.frombuffer(wav_file.readframes(wav_file.getnframes()), dtype=np.int16) / 32768.0
    n_fft, hop = 1024, 256
    if audio.size < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.size))
    frames = 1 + (audio.size - n_fft) // hop
    window = np.hanning(n_fft)
    stft = np.stack([np.fft.rfft(window * audio[i * hop:i * hop + n_fft]) for i in range(frames)], axis=1)
    db = 20 * np.log10(np.abs(stft) + 1e-6)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                      extent=(0, audio.size / rate, 0, rate / 2000))
    ax.set_xlabel("seconds")
    ax.set_ylabel("kHz")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="dB")
    _save_figure(fig, path)
    plt.close(fig)
    return path


def summary_text(summary: dict) -> str:
    """The lines printed at the end of a run."""
    s = summary
    voice, data, dev = s["voice"], s["dataset"], s["device"]
    last = s.get("final_losses") or {}
    losses = ", ".join(f"{k} {v:.3g}" for k, v in last.items()) or "none logged"
    # The first line says what happened: a stopped run is not a trained voice.
    headline = (f"STOPPED by {s['interrupted']} after {s['steps']} batches: training of Piper voice"
                if s.get("interrupted") else "Trained Piper voice")
    lines = [
        f"{headline} '{voice['voice_name']}' (quality {voice['quality']}, "
        f"{voice['sample_rate']} Hz, espeak-ng voice {voice['espeak_voice']})",
        f"  data:      {data['clips']} clips, {data['seconds']:.1f} s, {data['layout']} at {data['path']}"
        + (" (bundled sample, demo schedule)" if data["demo"] else ""),
        f"  device:    {dev['accelerator']} x{dev['devices']}"
        + (f" x{dev['num_nodes']} nodes" if dev.get("num_nodes", 1) > 1 else "")
        + f", precision {dev['precision']}" + (f" — {dev['reason']}" if dev.get("reason") else ""),
        f"  steps:     {s['steps']} batches ({s['steps_this_run']} this run, {2 * s['steps']} optimizer "
        f"steps), in epoch {s['epochs'] + 1}",
        f"  losses:    {losses}",
        "  time:      " + ", ".join(f"{k} {v:.1f} s" for k, v in s["seconds"].items()),
    ]
    if s.get("finetune"):
        ft = s["finetune"]
        lines.append(f"  finetuned: from {ft['source']} ({ft['copied']} tensors copied, "
                     f"{ft['skipped']} skipped)")
        if ft.get("base_onnx"):
            lines.append(f"  warm-up:   {ft.get('warmup_batches', 0)} batches with the voice's restored parts held "
                         f"still (restored {ft['base_onnx']['restored']} tensors from {ft['base_onnx']['file']}), "
                         f"then the generator at {ft.get('finetune_lr_scale', 1.0):g} x its learning rate")
    if s.get("interrupted"):
        lines.append(f"  STOPPED by {s['interrupted']}: checkpoint saved; continue with --resume")
    lines.extend(_watch_lines(s))
    files = s.get("files", {})
    lines.append(f"  output:    {s['output']}")
    for label, rel in files.items():
        lines.append(f"    {label:<12} {rel}")
    if s.get("sample"):
        smp = s["sample"]
        lines.append(f"  sample:    {smp['seconds']:.2f} s at {smp['sample_rate']} Hz, rms {smp['rms']:.3f}: "
                     f"\"{smp['text']}\"")
    if files.get("voice"):
        onnx = Path(s["output"]) / files["voice"]
        lines.append(f"  speak:     python -m piper -m {onnx} -f hello.wav \"Hello there.\"")
    return "\n".join(lines)


def _watch_lines(s: dict) -> list[str]:
    """Best step, early stop, left-out clips and where the voice came from (utils.voice.run.results.outcome)."""
    lines = []
    if s.get("best"):
        best = s["best"]
        by = best.get("by", "val_mel")
        label = "validation mel loss" if by == "val_mel" else by
        lines.append(f"  best:      batch {best['step']}, {label} {best[by]:.4f} "
                     f"({Path(best['checkpoint']).name})")
    if s.get("stopped_stalled_at") is not None:
        lines.append(f"  stopped:   at batch {s['stopped_stalled_at']}: validation mel loss stopped improving")
    if s.get("left_out"):
        lines.append(f"  left out:  {len(s['left_out'])} clip(s) over --max-phoneme-ids")
    if s.get("exported_from"):
        source = s["exported_from"]
        lines.append(f"  exported:  from the {source['from']} checkpoint (batch {source['step']})")
    return lines
