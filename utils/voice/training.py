"""One training run around piper.train: settings, launcher, checkpoints, signals, resume, fine-tune.

``resolve_settings`` turns command-line choices into one plain dict (saved as
``train_config.json`` beside the outputs, so a voice explains itself). ``run_training`` builds
piper's ``VitsModel`` + ``VitsDataModule`` and a Lightning ``Trainer`` from it, the way piper's
own CLI would, minus what breaks offline (the val_mos checkpoint) and plus what a user needs:
atomic checkpoints, a clean stop on SIGINT/SIGTERM, ``--resume`` and ``--finetune``.

A "step" in this module is one batch: one generator and one discriminator update. Lightning's
``global_step`` counts optimizer steps, two per batch, so it is twice that number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Piper's quality presets: x_low shrinks the transformer, high widens the HiFi-GAN decoder
# (rhasspy/piper's --quality). Every preset trains at 22050 Hz, the rate the dataset cache holds
# (upstream publishes its x_low and low voices at 16 kHz; a finetune keeps its checkpoint's rate).
QUALITIES: dict[str, dict[str, Any]] = {
    "x_low": {"sample_rate": 22050, "model": {"hidden_channels": 96, "inter_channels": 96,
                                              "filter_channels": 384}},
    "low": {"sample_rate": 22050, "model": {}},
    "medium": {"sample_rate": 22050, "model": {}},
    "high": {"sample_rate": 22050, "model": {
        "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 8, 2, 2], "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 4, 4]}},
}

# Defaults, one place. DEMO applies when no --dataset is given (the bundled sample).
DEMO = {
    "voice_name": "demo",        # output folder and file names
    "quality": "x_low",          # smallest network: the demo must finish in under a minute
    "max_steps": 10,             # batches
    "max_epochs": None,
    "batch_size": 2,
    "segment_size": 4096,        # samples per training slice; multiple of the hop (256)
    "num_workers": 0,            # worker processes cost more than they save on 28 clips
    "validation": False,         # no held-out clips: every clip trains
}
DEFAULTS = {
    "voice_name": "voice",
    "quality": "low",
    "max_steps": None,
    "max_epochs": 1000,          # open-ended in piper; a finite default so a run ends by itself
    "batch_size": 16,
    "segment_size": 8192,        # piper's default
    "num_workers": 2,
    "validation": True,          # piper's 10% validation split + up to 5 test sentences
}
ESPEAK_VOICE = "en-us"
SEED = 1234
SAMPLE_TEXT = "This voice was trained with coaxial train, on a Piper model."
CHECKPOINT_INTERVAL_S = 600      # write last.ckpt at least this often during long runs
MIN_CLIPS_FOR_VALIDATION = 20    # fewer: hold nothing out, a 10% split would be one clip

# piper's LightningCLI links these data and model arguments; without the CLI we set both.
LINKED = ("batch_size", "num_speakers", "sample_rate", "filter_length", "hop_length", "win_length",
          "segment_size")
CHECKPOINT_NAME = "last.ckpt"
CONFIG_NAME = "train_config.json"


class BadInput(ValueError):
    """A user error found before anything was written (exit code 2)."""


class TrainingFailed(RuntimeError):
    """The run started but could not finish (exit code 1)."""


# -- settings ----------------------------------------------------------------------------------

def parse_passthrough(tokens: list[str]) -> dict[str, dict[str, Any]]:
    """``--trainer.X=Y`` / ``--model.X Y`` / ``--data.X=Y`` tokens -> {"trainer": {X: Y}, ...}.

    Values are read as JSON where they parse (numbers, true/false/null, lists), else kept as text.
    """
    out: dict[str, dict[str, Any]] = {"trainer": {}, "model": {}, "data": {}}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        group, _, rest = token.lstrip("-").partition(".")
        if not token.startswith("--") or group not in out or not rest:
            raise BadInput(f"unrecognised argument {token!r} — see --help; Lightning, model and data "
                           "options pass through as --trainer.NAME=VALUE, --model.NAME=VALUE, "
                           "--data.NAME=VALUE")
        name, eq, value = rest.partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise BadInput(f"{token} needs a value, e.g. {token}=VALUE")
            value = tokens[i + 1]
            i += 1
        out[group][name.replace("-", "_")] = _parse_value(value)
        i += 1
    return out


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_passthrough_names(passthrough: dict[str, dict[str, Any]]) -> None:
    """Refuse misspelled pass-through options instead of letting **kwargs swallow them."""
    import inspect

    if not any(passthrough.values()):
        return
    import lightning.pytorch as pl
    from piper.train.vits.dataset import VitsDataModule
    from piper.train.vits.lightning import VitsModel

    owners = {"trainer": pl.Trainer, "model": VitsModel, "data": VitsDataModule}
    managed = {"trainer": {"callbacks", "plugins", "logger", "default_root_dir", "strategy"}}
    for group, values in passthrough.items():
        params = set(inspect.signature(owners[group].__init__).parameters) - {"self", "kwargs"}
        for name in values:
            if name not in params:
                close = sorted(p for p in params if p.startswith(name[:4]))[:5]
                raise BadInput(f"--{group}.{name}: {owners[group].__name__} has no such option"
                               + (f" (similar: {', '.join(close)})" if close else ""))
            if name in managed.get(group, ()):
                raise BadInput(f"--{group}.{name} is set by coaxial-train itself; it cannot be "
                               "passed through")


def resolve_settings(args: dict[str, Any], report, runtime: dict | None = None,
                     previous: dict | None = None, finetune_arch: dict | None = None) -> dict:
    """Merge CLI choices (None = not given), demo/real defaults, a resumed run's settings and the
    architecture of a fine-tune checkpoint into the dict that drives and documents the run."""
    demo = args.get("dataset") is None and not (previous and not previous["dataset"]["demo"])
    base = dict(DEMO if demo else DEFAULTS)

    def pick(key):
        value = args.get(key)
        if value is not None:
            return value
        if previous is not None and key in previous["schedule"]:
            return previous["schedule"][key]
        return base[key]

    if previous is not None:
        # The network and the voice are fixed by the checkpoint being resumed.
        for key in ("quality", "voice_name", "espeak_voice"):
            given, before = args.get(key), previous["voice"][key]
            if given is not None and given != before:
                raise BadInput(f"--{key.replace('_', '-')} {given} differs from the run being resumed "
                               f"({before}); drop the option or train into a new --output folder")
    voice_src = previous["voice"] if previous is not None else {}
    quality = voice_src.get("quality") or args.get("quality") or base["quality"]
    if quality not in QUALITIES:
        raise BadInput(f"--quality {quality}: choose one of {', '.join(QUALITIES)}")
    voice_name = voice_src.get("voice_name") or args.get("voice_name") or base["voice_name"]
    if not voice_name or any(ch in voice_name for ch in '/\\:*?"<>|') or voice_name.startswith("."):
        raise BadInput(f"--voice-name {voice_name!r}: use letters, digits, '-' or '_' (it names files)")
    espeak_voice = voice_src.get("espeak_voice") or args.get("espeak_voice") or ESPEAK_VOICE

    preset = QUALITIES[quality]
    passthrough = args.get("passthrough") or {"trainer": {}, "model": {}, "data": {}}
    model = dict(previous["model"]) if previous is not None else dict(preset["model"])
    sample_rate = model.get("sample_rate", preset["sample_rate"])
    if finetune_arch:
        model.update({k: _jsonable(v) for k, v in finetune_arch.items()})
        sample_rate = finetune_arch.get("sample_rate", sample_rate)
    model["sample_rate"] = sample_rate

    schedule = {key: pick(key) for key in ("max_steps", "max_epochs", "batch_size", "segment_size",
                                           "num_workers")}
    if args.get("max_steps") is not None and args.get("max_epochs") is None:
        schedule["max_epochs"] = None  # an explicit step budget alone decides when to stop
    if args.get("max_epochs") is not None and args.get("max_steps") is None:
        schedule["max_steps"] = None
    for key in ("max_steps", "max_epochs", "batch_size", "num_workers"):
        value = schedule[key]
        if value is not None and (not isinstance(value, int) or value < (0 if key == "num_workers" else 1)):
            raise BadInput(f"--{key.replace('_', '-')} {value}: must be a positive whole number")
    if schedule["segment_size"] % 256:
        raise BadInput(f"--segment-size {schedule['segment_size']}: must be a multiple of the hop length 256")

    n_clips = len(report.clips)
    validation = base["validation"] and n_clips >= MIN_CLIPS_FOR_VALIDATION
    if previous is not None:
        validation = previous["schedule"]["validation"]
    schedule["validation"] = validation
    data = {
        "espeak_voice": espeak_voice,
        "validation_split": 0.1 if validation else 0.0,
        "num_test_examples": min(5, max(1, n_clips // 20)) if validation else 0,
        "num_workers": schedule["num_workers"],
    }
    data.update(passthrough["data"])
    model.update(passthrough["model"])
    for key in LINKED:
        if key in data and key not in passthrough["model"]:
            model[key] = data[key]
    if "batch_size" not in passthrough["model"]:
        model["batch_size"] = schedule["batch_size"]
    if "segment_size" not in passthrough["model"] and "segment_size" not in passthrough["data"]:
        model["segment_size"] = schedule["segment_size"]
    model["num_speakers"] = max(1, report.num_speakers)
    model["mos_metric"] = "none"  # the MOS model is a download; offline it is never logged

    runtime = runtime or {}
    trainer = {
        "accelerator": runtime.get("accelerator", args.get("accelerator") or "auto"),
        "devices": args.get("devices") or runtime.get("devices", 1),
        "num_nodes": args.get("num_nodes") or 1,
        "precision": runtime.get("precision", args.get("precision") or "32-true"),
        # Lightning counts optimizer steps; each batch makes two (generator, discriminator).
        "max_steps": 2 * schedule["max_steps"] if schedule["max_steps"] else -1,
        "max_epochs": schedule["max_epochs"] if schedule["max_epochs"] else -1,
    }
    if not validation:
        trainer |= {"limit_val_batches": 0, "num_sanity_val_steps": 0}
    if demo:
        trainer["num_sanity_val_steps"] = 0
    trainer.update(passthrough["trainer"])

    return {
        "voice": {"voice_name": voice_name, "quality": quality, "espeak_voice": espeak_voice,
                  "sample_rate": sample_rate},
        "dataset": {"path": str(report.path), "demo": demo, "layout": report.layout, "clips": n_clips,
                    "seconds": round(report.total_seconds, 2), "speakers": report.speakers},
        "schedule": schedule,
        "model": model,
        "data": data,
        "trainer": trainer,
        "device_reason": runtime.get("reason"),
        "seed": args.get("seed") if args.get("seed") is not None else SEED,
        "sample_text": args.get("sample_text") or SAMPLE_TEXT,
        "checkpoint_every": args.get("checkpoint_every"),
        "finetune": str(args["finetune"]) if args.get("finetune") else None,
        "export": not args.get("no_export", False),
    }


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def load_previous(output: Path) -> dict:
    """The settings of the run in ``output`` for --resume; BadInput if there is nothing to resume."""
    config, ckpt = output / CONFIG_NAME, output / "checkpoints" / CHECKPOINT_NAME
    if not ckpt.is_file():
        raise BadInput(f"{ckpt}: no checkpoint to resume from — train into {output} first, or drop --resume")
    try:
        return json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{config}: cannot read the settings of the run to resume ({exc})") from exc


def versions() -> dict:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for dist in ("torch", "lightning", "piper-tts", "onnxruntime"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def atomic_write_text(path: Path, text: str) -> None:
    from utils.voice.checkpoints import publish

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def piper_cache_dir(cache_root: Path, dataset_key: str, settings: dict) -> Path:
    """piper keys its phoneme/spectrogram cache by row number and text only: give each prepared
    dataset and feature setting its own folder so edited audio never meets stale tensors."""
    model, data = settings["model"], settings["data"]
    parts = [dataset_key, settings["voice"]["sample_rate"], data["espeak_voice"],
             model.get("filter_length", 1024), model.get("hop_length", 256), model.get("win_length", 1024),
             data.get("trim_silence", True), data.get("phoneme_type")]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
    return cache_root / "piper" / digest


def quiet_known_noise() -> None:
    """Silence messages that say nothing to a user of this tool (the summary says what matters)."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("piper").setLevel(logging.WARNING)
    for message in (r".*weight_norm.* is deprecated", r".*pin_memory.*no accelerator",
                    r".*LeafSpec.*deprecated", r"Constant folding", r".*does not have many workers",
                    r"Converting a tensor to a Python boolean"):
        warnings.filterwarnings("ignore", message=message)


def is_worker_process() -> bool:
    """True in the extra processes Lightning's DDP launcher starts (they re-run this command)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0) > 0


# -- the run -----------------------------------------------------------------------------------

@dataclass
class RunResult:
    steps: int = 0                   # batches trained, in total (resumed runs included)
    steps_this_run: int = 0
    epochs: int = 0
    interrupted: str | None = None   # the signal name when stopped early
    history: list[dict] = field(default_factory=list)
    checkpoint: Path | None = None
    finetune: dict | None = None
    seconds: dict = field(default_factory=dict)
    model: Any = None                # the trained VitsModel, for export (rank 0 only)


class _StopRequest:
    """Turns SIGINT/SIGTERM into "finish this batch, save, stop" instead of dying mid-write."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl+C: the user really wants out now
        self.signal_name = signal.Signals(signum).name
        print(f"\n{self.signal_name} received: finishing this batch, saving a checkpoint, then stopping "
              "(Ctrl+C again to abort without saving)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def _make_callbacks(settings: dict, ckpt_dir: Path, stop: _StopRequest, result: RunResult):
    import lightning.pytorch as pl

    every = settings.get("checkpoint_every")
    last_path = ckpt_dir / CHECKPOINT_NAME

    class RunControl(pl.Callback):
        """Saves last.ckpt (every N batches, every 10 min, at the end, on a signal) and records losses."""

        def __init__(self):
            self._last_save = self._started = time.monotonic()

        def _save(self, trainer):
            trainer.save_checkpoint(last_path, weights_only=False)
            self._last_save = time.monotonic()
            result.checkpoint = last_path

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = trainer.global_step // 2
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                       if k.startswith(("loss_", "train_")) and getattr(v, "numel", lambda: 1)() == 1}
            if trainer.is_global_zero:
                # wall seconds since this process started training: throughput without a profiler
                seconds = round(time.monotonic() - self._started, 3)
                result.history.append({"step": step, "epoch": trainer.current_epoch, "seconds": seconds,
                                       **metrics})
            if stop.signal_name is not None:
                result.interrupted = stop.signal_name
                self._save(trainer)
                trainer.should_stop = True
            elif (every and step % every == 0) or time.monotonic() - self._last_save > CHECKPOINT_INTERVAL_S:
                self._save(trainer)

        def on_train_end(self, trainer, pl_module):
            if result.interrupted is None:
                self._save(trainer)

    callbacks = [RunControl()]
    if settings["schedule"]["validation"]:
        from utils.machine import piper_compat

        for cb in piper_compat.checkpoint_callbacks(ckpt_dir):
            # Best-by-val_mel only: last.ckpt is RunControl's, and each file is ~0.6 GB.
            cb.save_top_k, cb.save_last = 1, False
            callbacks.append(cb)
    return callbacks


def _datamodule_class():
    from piper.config import PiperConfig
    from piper.train.vits.dataset import VitsDataModule

    class CoaxialDataModule(VitsDataModule):
        """piper's data module, with a progress bar for its preparation and DDP-safe setup.

        piper fills ``piper_config`` in ``prepare_data``, which Lightning runs on one process
        per node only; the other ranks read the config file that process wrote.
        """

        _prepared = False

        def prepare_data(self):
            if self._prepared:
                return
            with _CacheProgress(self.cache_dir, self._expected_rows(), "phonemes + spectrograms"):
                super().prepare_data()
            self._prepared = True

        def _expected_rows(self) -> int:
            with open(self.csv_path, encoding="utf-8") as handle:
                return sum(1 for line in handle if line.strip())

        def setup(self, stage):
            if self.piper_config is None:
                with open(self.config_path, encoding="utf-8") as handle:
                    self.piper_config = PiperConfig.from_dict(json.load(handle))
            super().setup(stage)

    return CoaxialDataModule


class _CacheProgress:
    """A tqdm bar fed by counting the spectrogram files piper writes (it has no progress hook)."""

    def __init__(self, cache_dir: Path, total: int, desc: str):
        self.cache_dir, self.total, self.desc = Path(cache_dir), total, desc
        self._done = threading.Event()
        self._thread = None

    def _count(self) -> int:
        try:
            return sum(1 for name in os.listdir(self.cache_dir) if name.endswith(".spec.pt"))
        except OSError:
            return 0

    def __enter__(self):
        if self._count() >= self.total or is_worker_process():
            return self
        from tqdm.auto import tqdm

        def watch():
            with tqdm(total=self.total, desc=self.desc, unit="clip", file=sys.stderr) as bar:
                while not self._done.wait(0.2):
                    bar.update(self._count() - bar.n)
                bar.update(self._count() - bar.n)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        return False


def load_finetune(path: Path) -> dict:
    """Read a fine-tune checkpoint safely and keep only what a warm start needs (not Adam states)."""
    from utils.voice.checkpoints import load_checkpoint_safely

    checkpoint = load_checkpoint_safely(path)
    return {"state_dict": checkpoint["state_dict"],
            "hyper_parameters": checkpoint.get("hyper_parameters") or {},
            "global_step": checkpoint.get("global_step")}


def run_training(settings: dict, prepared, output: Path, cache_root: Path, resume: bool = False,
                 finetune: dict | None = None, progress: bool = True) -> RunResult:
    """Train (or continue) the voice described by ``settings`` on the prepared dataset."""
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    from piper.train.vits.lightning import VitsModel

    from utils.voice.checkpoints import make_checkpoint_io, transfer_weights

    result = RunResult()
    ckpt_dir = output / "checkpoints"
    data_kwargs = dict(settings["data"])
    data_kwargs.update({key: settings["model"][key] for key in LINKED if key in settings["model"]})
    cache_dir = piper_cache_dir(cache_root, prepared.dataset_key, settings)
    datamodule = _datamodule_class()(
        csv_path=prepared.csv_path, audio_dir=prepared.audio_dir, cache_dir=cache_dir,
        config_path=ckpt_dir / "voice_config.json", voice_name=settings["voice"]["voice_name"],
        **data_kwargs,
    )
    t0 = time.perf_counter()
    if not is_worker_process():
        datamodule.prepare_data()
    result.seconds["phonemize"] = time.perf_counter() - t0

    pl.seed_everything(settings["seed"], workers=True, verbose=False)
    model = VitsModel(**settings["model"])
    if finetune is not None:
        copied, skipped = transfer_weights(model, finetune, settings["finetune"])
        result.finetune = {"source": settings["finetune"], "copied": copied, "skipped": skipped}

    trainer_kwargs = dict(settings["trainer"])
    devices, nodes = trainer_kwargs.get("devices", 1), trainer_kwargs.get("num_nodes", 1)
    if (isinstance(devices, int) and devices > 1) or nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        # The discriminator step leaves generator parameters without gradients: DDP must allow it.
        trainer_kwargs["strategy"] = DDPStrategy(find_unused_parameters=True)
    stop = _StopRequest()
    trainer = pl.Trainer(
        default_root_dir=output,
        callbacks=_make_callbacks(settings, ckpt_dir, stop, result),
        plugins=[make_checkpoint_io()],
        logger=TensorBoardLogger(save_dir=output, name="logs", version="", default_hp_metric=False),
        enable_checkpointing=settings["schedule"]["validation"],
        enable_progress_bar=progress and not is_worker_process(),
        enable_model_summary=False,
        log_every_n_steps=_log_every(settings),
        **trainer_kwargs,
    )
    last = ckpt_dir / CHECKPOINT_NAME
    start_step = 0
    if resume:
        from utils.voice.checkpoints import load_checkpoint_safely

        start_step = int(load_checkpoint_safely(last).get("global_step", 0)) // 2
    t1 = time.perf_counter()
    try:
        with stop:
            trainer.fit(model, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    except SIGTERMException:
        # Lightning's own SIGTERM handler ends fit with this SystemExit once the epoch loop
        # notices; RunControl has saved the checkpoint by then, so it is a clean stop.
        if result.checkpoint is None:
            raise
        result.interrupted = result.interrupted or "SIGTERM"
    result.seconds["train"] = time.perf_counter() - t1
    result.steps = trainer.global_step // 2
    result.steps_this_run = result.steps - start_step
    result.epochs = trainer.current_epoch
    if trainer.is_global_zero:
        result.model = model
    return result


def _log_every(settings: dict) -> int:
    steps = settings["schedule"]["max_steps"]
    return max(1, min(50, steps // 20)) if steps else 50


def write_history(history: list[dict], path: Path) -> None:
    """Per-batch losses as CSV (atomic), the source of the loss-curve PNG."""
    if not history:
        return
    first = ["step", "epoch", "seconds"]
    keys = first + sorted({k for row in history for k in row} - set(first))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
                         for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: (int(float(v)) if k in ("step", "epoch") else float(v)) for k, v in row.items()
             if v not in ("", None)} for row in rows]
