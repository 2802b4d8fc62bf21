"""``outputs/<name>/report.html``: a page to watch (and hear) a run, rewritten at each validation.

What is trained (data, base, device, precision), progress with an estimate of the time left, the
train and validation mel loss against the batch, the spectrogram of the latest sample and one
audio player per saved sample, newest first, so step 2,000 and step 6,000 can be compared by ear.

The page is self-contained: inline CSS, no script, no network, relative links to the wavs and
PNGs beside it, so the folder can be copied or served as is. It reads on a phone (viewport meta,
one fluid column) and, while training runs, reloads itself (meta refresh); the final rewrite at
the end of training drops the refresh. Every file is replaced atomically, so a reload never sees
half a page or half a PNG.
"""

from __future__ import annotations

import html
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from utils.files import atomic_path, atomic_write_text
from utils.voice.publish.samples import SAMPLES_DIR
from utils.voice.run_config import batches_done

REPORT_NAME = "report.html"
LOSS_PNG = "report_mel_loss.png"
SPECTROGRAM_PNG = "report_spectrogram.png"
MEASURES_PNG = "report_voice_measures.png"
# The voice measures at each validation (utils.voice.evaluate.during_training): metric -> panel title.
MEASURE_PANELS = {"val_mcd": "MCD-DTW, dB (lower is better)", "val_f0_rmse": "F0 RMSE, cents (lower is better)",
                  "val_voicing_error": "voicing error (lower is better)",
                  "val_duration_error": "|1 - duration ratio| (lower is better)",
                  "val_wer": "word error rate (lower is better)",
                  "val_listener": "predicted listener score, 1-5 (higher is better)"}
REFRESH_S = 30  # reload interval while training runs; validations are minutes apart on a GPU


@dataclass
class SampleFile:
    step: int
    path: Path
    seconds: float


@dataclass
class PageState:
    """Everything the page shows; ``facts`` are label -> value lines ("data", "device", ...)."""

    title: str
    facts: dict[str, str]
    step: int = 0
    total_steps: int | None = None
    steps_this_run: int = 0
    elapsed_s: float = 0.0               # training wall time of this run so far
    elapsed_before_s: float = 0.0        # of the runs this one resumed (restored from the checkpoint)
    running: bool = True
    status: str = "training"
    train_mel: list[tuple[int, float]] = field(default_factory=list)
    val_mel: list[tuple[int, float]] = field(default_factory=list)
    # (step, {metric: value or None}) per validation: how close the voice is to the held-out recordings
    measures: list[tuple[int, dict]] = field(default_factory=list)
    recordings_wer: float | None = None  # the recogniser's median WER on those recordings (the ceiling)
    recordings_listener: float | None = None  # the median listener score of those recordings (the ceiling)
    updated: str = ""
    # (step, device tensor) per batch, read into train_mel in one go when the page is written:
    # a float() per batch would make the host wait for the GPU every batch.
    pending_train_mel: list = field(default_factory=list, repr=False)

    def settle(self) -> None:
        """Move the pending per-batch mel losses into ``train_mel`` (one host read for all)."""
        if self.pending_train_mel:
            from utils.machine.device_values import host_floats

            steps = [step for step, _ in self.pending_train_mel]
            values = host_floats([value for _, value in self.pending_train_mel])
            self.pending_train_mel = []
            self.train_mel.extend(zip(steps, values, strict=True))

    @property
    def best(self) -> tuple[int, float] | None:
        """(step, val_mel) of the lowest validation mel loss; the earliest on a tie."""
        return min(self.val_mel, key=lambda point: (point[1], point[0])) if self.val_mel else None

    def seconds_left(self) -> float | None:
        if not self.running or not self.total_steps or self.steps_this_run <= 0 or self.elapsed_s <= 0:
            return None
        return max(0, self.total_steps - self.step) * self.elapsed_s / self.steps_this_run


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def find_samples(output: Path) -> list[SampleFile]:
    """Saved samples (``samples/step-N.wav``), newest first."""
    found = []
    for path in (Path(output) / SAMPLES_DIR).glob("step-*.wav"):
        try:
            step = int(path.stem.split("-", 1)[1])
            with wave.open(str(path), "rb") as wav_file:
                seconds = wav_file.getnframes() / wav_file.getframerate()
        except (ValueError, OSError, EOFError, wave.Error):
            continue  # not ours, or being replaced right now
        found.append(SampleFile(step=step, path=path, seconds=seconds))
    return sorted(found, key=lambda s: s.step, reverse=True)


def plot_mel_curves(state: PageState, path: Path) -> Path | None:
    """Train mel L1 per batch (thin line) and validation mel L1 per validation (dots), x = batch."""
    if not state.train_mel and not state.val_mel:
        return None
    from utils.voice.publish.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if state.train_mel:
        ax.plot(*zip(*state.train_mel, strict=True), linewidth=0.8, alpha=0.7, label="train mel L1")
    if state.val_mel:
        ax.plot(*zip(*state.val_mel, strict=True), marker="o", linewidth=1.2, label="validation mel L1")
    if state.best:
        ax.axvline(state.best[0], color="grey", linestyle=":", linewidth=1, label=f"best (batch {state.best[0]})")
    ax.set_xlabel("batch")
    ax.set_ylabel("mel L1")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{state.title}: mel loss", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


@dataclass
class MeasurePanel:
    name: str
    title: str
    points: list[tuple[int, float]]     # (batch, median) of the validations that measured it
    ceiling: float | None = None        # the same measure on the recordings themselves


def measure_panels(state: PageState) -> list[MeasurePanel]:
    """The panels of the measures plot: each measure some validation took, in MEASURE_PANELS order."""
    ceilings = {"val_wer": state.recordings_wer, "val_listener": state.recordings_listener}
    panels = [MeasurePanel(name, title, [(step, values[name]) for step, values in state.measures
                                         if values.get(name) is not None], ceilings.get(name))
              for name, title in MEASURE_PANELS.items()]
    # F0 stays on the page when no frame was voiced in both (a young voice mumbles): say so there.
    return [panel for panel in panels if panel.points or (panel.name == "val_f0_rmse" and state.measures)]


def plot_measures(state: PageState, path: Path) -> Path | None:
    """One small panel per voice measure against the batch (validations that measured it), with the
    recordings' own score as a dashed line where there is one (WER, listener score)."""
    panels = measure_panels(state)
    if not panels:
        return None
    from utils.voice.publish.report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 1.7 * len(panels)), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel.points:
            ax.plot(*zip(*panel.points, strict=True), marker="o", linewidth=1.2)
        else:
            ax.text(0.5, 0.5, "no frame voiced in both yet", ha="center", va="center", transform=ax.transAxes)
        if panel.ceiling is not None:
            ax.axhline(panel.ceiling, color="grey", linestyle="--", linewidth=1, label="recordings (ceiling)")
            ax.legend(fontsize=7)
        ax.set_title(panel.title, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("batch")
    fig.suptitle(f"{state.title}: held-out clips, median per validation", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_latest_spectrogram(samples: list[SampleFile], path: Path, title: str) -> Path | None:
    if not samples:
        return None
    from utils.voice.publish.report import plot_spectrogram

    return plot_spectrogram(samples[0].path, path, f"{title}: sample at batch {samples[0].step}")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;
line-height:1.45;color:#1d1d1f;background:#fafafa}
main{max-width:60rem;margin:0 auto}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;vertical-align:top;
border-bottom:1px solid #e3e3e3;overflow-wrap:anywhere}th{width:8rem;color:#555;font-weight:600}
progress{width:100%;height:1rem}
img{max-width:100%;height:auto;display:block;border:1px solid #e3e3e3;background:#fff}
ol{padding-left:1.2rem}li{margin:.6rem 0}audio{width:100%;margin-top:.2rem}
.muted{color:#666;font-size:.9rem}.status{font-weight:600}
@media (prefers-color-scheme: dark){body{background:#161617;color:#eee}th{color:#aaa}
th,td{border-color:#333}.muted{color:#999}}
"""


def _progress_html(state: PageState) -> str:
    esc = html.escape
    parts = [f'<p class="status">{esc(state.status)}</p>']
    if state.total_steps:
        parts.append(f'<progress max="{state.total_steps}" value="{min(state.step, state.total_steps)}">'
                     f"{state.step} of {state.total_steps}</progress>")
        parts.append(f"<p>batch {state.step} of {state.total_steps}")
    else:
        parts.append(f"<p>batch {state.step}")
    if state.elapsed_before_s > 0:
        parts.append(f", {format_duration(state.elapsed_before_s + state.elapsed_s)} of training "
                     f"({format_duration(state.elapsed_s)} this run)")
    else:
        parts.append(f", {format_duration(state.elapsed_s)} of training this run")
    left = state.seconds_left()
    if left is not None:
        parts.append(f", about {format_duration(left)} left")
    parts.append("</p>")
    best = state.best
    label = "best so far" if state.running else "best"
    parts.append(f"<p>{label}: batch {best[0]}, validation mel L1 {best[1]:.4f}</p>" if best
                 else "<p>no validation yet</p>" if state.running else "<p>no validation in this run</p>")
    return "".join(parts)


def _measures_html(state: PageState, measures_png: str | None, version: str) -> str:
    if not measures_png:
        return "<h2>How close to the speaker</h2><p>no voice measures yet (they come with validation)</p>"
    ceiling = any(panel.ceiling is not None for panel in measure_panels(state))
    return (f'<h2>How close to the speaker</h2><img src="{html.escape(measures_png)}{version}" '
            'alt="voice measures on held-out clips against batch"><p class="muted">medians over the held-out clips'
            + ("; dashed: the recordings themselves (the ceiling)" if ceiling else "")
            + '; docs/measures-and-benchmarks.md says what each number means</p>')


def render(state: PageState, loss_png: str | None, spectrogram_png: str | None,
           samples: list[SampleFile], output: Path, dataset_html: str = "", measures_png: str | None = None) -> str:
    """The page as text; image and audio links are relative to ``output``."""
    esc = html.escape
    version = f"?v={state.step}"  # a new URL per update, so a reload never shows a cached old plot
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if state.running else ""
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in state.facts.items())
    rows = []
    for sample in samples:
        rel = sample.path.relative_to(output).as_posix()
        rows.append(f'<li><div>batch {sample.step} <span class="muted">({sample.seconds:.1f} s)</span></div>'
                    f'<audio controls preload="metadata" src="{esc(rel)}{version}"></audio></li>')
    sections = [
        f"<h1>{esc(state.title)}</h1>",
        f'<p class="muted">updated {esc(state.updated)}'
        + (f"; reloads every {REFRESH_S} s while training runs" if state.running else "") + "</p>",
        f"<h2>What is trained</h2><table>{facts}</table>",
        dataset_html,  # utils.voice.publish.dataset_page: what the content checks flagged
        f"<h2>Progress</h2>{_progress_html(state)}",
        "<h2>Mel loss</h2>" + (f'<img src="{esc(loss_png)}{version}" alt="train and validation mel loss '
                               'against batch">' if loss_png else "<p>no losses logged yet</p>"),
        _measures_html(state, measures_png, version),
        "<h2>Latest sample</h2>" + (f'<img src="{esc(spectrogram_png)}{version}" alt="spectrogram of the latest '
                                    'sample">' if spectrogram_png else "<p>no sample yet</p>"),
        f"<h2>Samples, newest first ({len(samples)})</h2>"
        + (f"<ol>{''.join(rows)}</ol>" if rows else "<p>no sample yet</p>"),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"{refresh}<title>{esc(state.title)} — coaxial-train</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(sections)}</main></body></html>\n")


def write_report(output: Path, state: PageState) -> Path:
    """Rewrite the plots and ``report.html`` in ``output`` (each file atomically)."""
    output = Path(output)
    state.settle()
    state.updated = state.updated or time.strftime("%Y-%m-%d %H:%M:%S")
    samples = find_samples(output)
    loss = plot_mel_curves(state, output / LOSS_PNG)
    spectrogram = plot_latest_spectrogram(samples, output / SPECTROGRAM_PNG, state.title)
    measures = plot_measures(state, output / MEASURES_PNG)
    from utils.voice.publish.dataset_page import section_html

    page = render(state, loss.name if loss else None, spectrogram.name if spectrogram else None, samples, output,
                  section_html(output), measures.name if measures else None)
    atomic_write_text(output / REPORT_NAME, page)
    return output / REPORT_NAME


def planned_batches(max_steps: int | None, max_epochs: int | None, batches_per_epoch: int | float) -> int | None:
    """The batch at which the schedule ends: the sooner of --max-steps and --max-epochs."""
    ends = [max_steps] if max_steps else []
    if max_epochs and batches_per_epoch and batches_per_epoch != float("inf"):
        ends.append(int(max_epochs * batches_per_epoch))
    return min(ends) if ends else None


def make_callback(output: Path, state: PageState, schedule: dict | None = None, say=None):
    """A Lightning callback keeping ``state`` current and rewriting the page at each validation
    and when training ends. ``schedule`` ({"max_steps", "max_epochs"} in batches and epochs)
    gives the progress bar its end."""
    import lightning.pytorch as pl

    class LiveReport(pl.Callback):
        def __init__(self):
            self.state = state
            self._started: float | None = None
            self._first_step: int | None = None

        def on_train_start(self, trainer, pl_module):
            if schedule:
                state.total_steps = planned_batches(schedule.get("max_steps"), schedule.get("max_epochs"),
                                                    trainer.num_training_batches)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = batches_done(trainer)
            if self._started is None:
                self._started, self._first_step = time.monotonic(), step - 1
            value = trainer.callback_metrics.get("train_mel")
            if value is not None and trainer.is_global_zero:
                state.pending_train_mel.append((step, value.detach() if hasattr(value, "detach") else value))
            state.step, state.steps_this_run = step, step - self._first_step
            state.elapsed_s = time.monotonic() - self._started

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            value = trainer.callback_metrics.get("val_mel")
            if value is not None:
                state.val_mel.append((batches_done(trainer), float(value)))
            self.rewrite()

        def on_train_end(self, trainer, pl_module):
            if trainer.is_global_zero:
                state.running, state.status = False, "training finished"
                self.rewrite()

        # The curves and training time of the runs before a resume travel in every checkpoint,
        # so the page of a resumed (or requeued) run still shows the whole run.
        def state_dict(self):
            state.settle()
            return {"train_mel": list(state.train_mel), "val_mel": list(state.val_mel),
                    "elapsed_s": state.elapsed_before_s + state.elapsed_s}

        def load_state_dict(self, state_dict):
            state.train_mel[:0] = [tuple(point) for point in state_dict.get("train_mel", [])]
            state.val_mel[:0] = [tuple(point) for point in state_dict.get("val_mel", [])]
            state.elapsed_before_s = float(state_dict.get("elapsed_s", 0.0))

        def rewrite(self):
            state.updated = ""
            try:
                write_report(output, state)
            except OSError as exc:  # a full disk must not end hours of training over a web page
                if say is not None:
                    say(f"could not update {Path(output) / REPORT_NAME}: {exc}")

    return LiveReport()
