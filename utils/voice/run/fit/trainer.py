"""The Lightning run itself: piper's data module and model, the trainer, the callbacks in the order
they must run, and what the fit leaves behind (``RunResult``).

``run_training`` builds piper's ``VitsModel`` + ``VitsDataModule`` and a Lightning ``Trainer`` from
``RunSettings`` the way piper's own CLI would, minus what breaks offline (the val_mos checkpoint)
and plus what a user needs: atomic checkpoints, a clean stop on SIGINT/SIGTERM/SIGHUP (and Slurm's
requeue signal: ``utils.voice.run.fit.signals``), ``--resume`` and ``--finetune``.

The classes here (and ``fit/signals.py``'s) are defined inside the functions that use them: both
modules are imported when ``tasks.train`` starts, and their base classes are Lightning's or
piper's, imported only once a run trains, so planning, refusals and ``--help`` never pay for
importing Lightning. Modules imported only by a training run (``hold_restored``, ``memory_guard``,
``output/checkpoint_files``) define theirs at module level.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from utils.errors import TrainingFailed
from utils.voice.console import is_worker_process
from utils.voice.run.fit.result import RunResult
from utils.voice.run.fit.signals import StopRequest, make_stop_callback, slurm_environment, stop_run, worker_init
from utils.voice.run_config import CHECKPOINT_NAME, LINKED, RunSettings, batches_done

CHECKPOINT_INTERVAL_S = 600      # write last.ckpt at least this often during long runs


def piper_cache_dir(cache_root: Path, dataset_key: str, settings: RunSettings) -> Path:
    """piper keys its phoneme/spectrogram cache by row number and text only: give each prepared
    dataset and feature setting its own folder so edited audio never meets stale tensors."""
    model, data = settings.model.kwargs(), settings.data.kwargs()
    parts = [dataset_key, settings.voice.sample_rate, data["espeak_voice"],
             model.get("filter_length", 1024), model.get("hop_length", 256), model.get("win_length", 1024),
             data.get("trim_silence", True), data.get("phoneme_type")]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
    return cache_root / "piper" / digest


def _make_callbacks(settings: RunSettings, ckpt_dir: Path, stop: StopRequest, result: RunResult, prepared=None):
    from utils.voice.run.fit.watchers import make_watchers

    last_path = ckpt_dir / CHECKPOINT_NAME
    control = _run_control(settings.checkpoint_every, last_path, stop, result)
    # Samples, report page, best-by-val_mel checkpoints (last.ckpt stays RunControl's), stops.
    result.watchers = make_watchers(settings, ckpt_dir.parent, last_path,
                                    final_sample=lambda: result.interrupted is None)
    # The measures first: the report page and checkpoint ranking see this validation's measures.
    # Then the page notes each batch before RunControl may save (and stop) after it: the page's
    # state goes into that checkpoint, so a resumed run's page shows the batch too.
    measures = _voice_measures(settings, ckpt_dir, control, result, prepared)
    page = result.watchers.page
    others = [callback for callback in result.watchers.callbacks if callback is not page]
    first = [page] if page is not None else []
    return [*measures, *first, control, make_stop_callback(stop, control.save, result), *others]


def _voice_measures(settings: RunSettings, ckpt_dir: Path, control, result: RunResult, prepared) -> list:
    """The voice measures on held-out clips at each validation (none without validation)."""
    if not settings.schedule.validation or prepared is None:
        return []
    from utils.voice.evaluate.during_training import make_callback

    def record(measured) -> None:
        # Into the history row of the batch that was validated (metrics.csv) and onto the page.
        control.pending.flush()
        row = next((row for row in reversed(result.history) if row["step"] == measured.step), None)
        if row is not None:
            row.update({name: value for name, value in measured.values.items() if value is not None})
        if result.watchers.page is not None:
            result.watchers.page.state.measures.append((measured.step, dict(measured.values)))
            result.watchers.page.state.recordings_wer = measured.recordings_wer
            result.watchers.page.state.recordings_listener = measured.recordings_listener

    result.measures = make_callback(ckpt_dir.parent, ckpt_dir / "voice_config.json", list(prepared.sources),
                                    list(prepared.source_rates), on_scores=record)
    return [result.measures]


def _run_control(every: int | None, last_path: Path, stop: StopRequest, result: RunResult):
    import lightning.pytorch as pl

    from utils.voice.run.fit.history import PendingHistory
    from utils.voice.run.fit.keep_best import describe_checkpoint

    # Defined when called: Lightning is imported only once a run trains (module docstring).
    class RunControl(pl.Callback):
        """Saves last.ckpt (every N batches, every 10 min, at the end, on a signal) and records losses."""

        def __init__(self):
            self._last_save = self._started = time.monotonic()
            self.pending = PendingHistory(result.history)  # losses stay on the device until read

        def save(self, trainer):
            self.pending.flush()
            trainer.save_checkpoint(last_path, weights_only=False)
            self._last_save = time.monotonic()
            result.checkpoint = last_path
            if trainer.is_global_zero:
                print(describe_checkpoint(last_path, f"latest state, batch {batches_done(trainer)}"),
                      file=sys.stderr, flush=True)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = batches_done(trainer)
            metrics = {k: v for k, v in trainer.callback_metrics.items()
                       if k.startswith(("loss_", "train_")) and getattr(v, "numel", lambda: 1)() == 1}
            if trainer.is_global_zero:
                # wall seconds since this process started training: throughput without a profiler
                seconds = round(time.monotonic() - self._started, 3)
                self.pending.add({"step": step, "epoch": trainer.current_epoch, "seconds": seconds}, metrics)
            if stop.agreed(trainer):  # also acted on after a validation: signals.make_stop_callback
                stop_run(trainer, stop, self.save, result)
            elif (every and step % every == 0) or time.monotonic() - self._last_save > CHECKPOINT_INTERVAL_S:
                self.save(trainer)

        def on_train_epoch_end(self, trainer, pl_module):
            self.pending.flush()

        def on_train_end(self, trainer, pl_module):
            if result.interrupted is None:
                self.save(trainer)
                # a signal during the final save: saved, but stopped before the export
                result.interrupted = stop.signal_name
            self.pending.flush()

        def on_exception(self, trainer, pl_module, exception):
            try:
                self.pending.flush()
            except Exception:  # a broken device must not hide the error that ended training
                pass

        # The per-batch history is saved inside every checkpoint, so a resume after any crash
        # (kill -9 included, when metrics.csv was never written) keeps every row before it.
        def state_dict(self):
            self.pending.flush()
            return {"history": list(result.history)}

        def load_state_dict(self, state_dict):
            result.history[:0] = list(state_dict.get("history") or [])
            result.history_restored = "history" in state_dict

    return RunControl()


def _datamodule_class():
    from piper.config import PiperConfig
    from piper.train.vits.dataset import VitsDataModule

    # Defined when called: Lightning is imported only once a run trains (module docstring).
    class CoaxialDataModule(VitsDataModule):
        """piper's data module, with a progress bar for its preparation and DDP-safe setup.

        piper fills ``piper_config`` in ``prepare_data``, which Lightning runs on one process
        per node only; the other ranks read the config file that process wrote.
        """

        _prepared = False

        def prepare_data(self):
            if self._prepared:
                return
            from utils.voice.data.feature_cache import prepare_features

            prepare_features(self, progress=not is_worker_process())  # all cores; piper then finds it done
            with _CacheProgress(self.cache_dir, self._expected_rows(), "phonemes + spectrograms"):
                super().prepare_data()
            self._prepared = True

        def _expected_rows(self) -> int:
            with open(self.csv_path, encoding="utf-8") as handle:
                return sum(1 for line in handle if line.strip())

        max_phoneme_ids: int | None = None
        left_out: list = []

        def _make_dataloader(self, dataset, shuffle: bool = False, drop_last: bool = False):
            return _leave_signals_to_main(super()._make_dataloader(dataset, shuffle=shuffle, drop_last=drop_last))

        def setup(self, stage):
            if self.piper_config is None:
                with open(self.config_path, encoding="utf-8") as handle:
                    self.piper_config = PiperConfig.from_dict(json.load(handle))
            super().setup(stage)
            if self.max_phoneme_ids:
                from utils.voice.data.phoneme_filter import drop_long_utterances

                self.left_out = drop_long_utterances(self, self.max_phoneme_ids)

        seed: int = 0

        def train_dataloader(self):
            from utils.voice.data.length_batches import bucketed_train_loader

            trainer = self.trainer
            return _leave_signals_to_main(bucketed_train_loader(self, self.seed, trainer.global_rank if trainer else 0,
                                                                trainer.world_size if trainer else 1)[0])

    return CoaxialDataModule


def _leave_signals_to_main(loader):
    """Data-loader workers ignore SIGTERM/SIGINT/SIGHUP: the main process saves, then ends them."""
    if loader.num_workers > 0:
        loader.worker_init_fn = worker_init
    return loader


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
        from utils.voice.console import progress_bar

        def watch():
            with progress_bar(total=self.total, desc=self.desc, unit="clip") as bar:
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


def _build_datamodule(settings: RunSettings, prepared, ckpt_dir: Path, cache_root: Path):
    data_kwargs, model_kwargs = settings.data.kwargs(), settings.model.kwargs()
    data_kwargs.update({key: model_kwargs[key] for key in LINKED if key in model_kwargs})
    datamodule = _datamodule_class()(
        csv_path=prepared.csv_path, audio_dir=prepared.audio_dir,
        cache_dir=piper_cache_dir(cache_root, prepared.dataset_key, settings),
        config_path=ckpt_dir / "voice_config.json", voice_name=settings.voice.voice_name, **data_kwargs,
    )
    datamodule.max_phoneme_ids = settings.watch.max_phoneme_ids
    datamodule.seed = settings.seed  # the batch plan of every epoch follows from it, on every rank
    return datamodule


def _build_trainer(settings: RunSettings, output: Path, callbacks: list, progress: bool, cluster=None):
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger

    from utils.voice.run.output.checkpoint_files import make_checkpoint_io

    trainer_kwargs = settings.trainer.kwargs()
    devices, nodes = trainer_kwargs.get("devices", 1), trainer_kwargs.get("num_nodes", 1)
    if (isinstance(devices, int) and devices > 1) or nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        # The discriminator step leaves generator parameters without gradients: DDP must allow it.
        trainer_kwargs["strategy"] = DDPStrategy(find_unused_parameters=True)
    # The length-batch sampler gives each rank its share itself (Lightning's DistributedSampler
    # cannot wrap a batch sampler); under DDP validation then runs in full on every rank.
    trainer_kwargs["use_distributed_sampler"] = False
    progress = progress and not is_worker_process()
    bar = progress and sys.stderr.isatty()  # a file or a Slurm log gets plain lines instead
    return pl.Trainer(
        default_root_dir=output,
        callbacks=[*callbacks, *([_plain_training_progress()] if progress and not bar else [])],
        plugins=[make_checkpoint_io(), *([cluster] if cluster is not None else [])],
        logger=TensorBoardLogger(save_dir=output, name="logs", version="", default_hp_metric=False),
        enable_checkpointing=settings.schedule.validation,
        enable_progress_bar=bar,
        enable_model_summary=False,
        log_every_n_steps=_log_every(settings),
        **trainer_kwargs,
    )


def _plain_training_progress():
    """Lightning's bar for output that is not a terminal: a plain line every 30 s."""
    import lightning.pytorch as pl

    from utils.voice.console import PLAIN_PROGRESS_EVERY_S

    # Defined when called: Lightning is imported only once a run trains (module docstring).
    class PlainTrainingProgress(pl.Callback):
        _last = time.monotonic()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if time.monotonic() - self._last < PLAIN_PROGRESS_EVERY_S:
                return
            self._last = time.monotonic()
            loss = trainer.callback_metrics.get("train_mel")
            mel = f", train mel L1 {float(loss):.3f}" if loss is not None else ""
            print(f"Epoch {trainer.current_epoch}: batch {batch_idx + 1}/{trainer.num_training_batches} of the "
                  f"epoch, {batches_done(trainer)} batches in all{mel}", file=sys.stderr, flush=True)

    return PlainTrainingProgress()


def run_training(settings: RunSettings, prepared, output: Path, cache_root: Path, resume: bool = False,
                 finetune: dict | None = None, progress: bool = True) -> RunResult:
    """Train (or continue) the voice described by ``settings`` on the prepared dataset."""
    import lightning.pytorch as pl
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    from piper.train.vits.lightning import VitsModel

    from utils.voice.base.checkpoints import load_checkpoint_safely, transfer_weights

    result = RunResult()
    ckpt_dir = output / "checkpoints"
    datamodule = _build_datamodule(settings, prepared, ckpt_dir, cache_root)
    t0 = time.perf_counter()
    if not is_worker_process():
        datamodule.prepare_data()
    result.seconds["phonemize"] = time.perf_counter() - t0

    pl.seed_everything(settings.seed, workers=True, verbose=False)
    model = VitsModel(**settings.model.kwargs())
    if finetune is not None:
        copied, skipped = transfer_weights(model, finetune, settings.finetune)
        result.finetune = {"source": settings.finetune, "copied": copied, "skipped": skipped}
    slurm = slurm_environment()
    stop = StopRequest(requeue_signal=slurm.requeue_signal if slurm is not None else None)
    callbacks = _make_callbacks(settings, ckpt_dir, stop, result, prepared)
    if settings.warmup_batches or settings.finetune_lr_scale != 1.0:
        from utils.voice.run.fit.hold_restored import make_warmup_callback

        callbacks.insert(0, make_warmup_callback(model, settings.warmup_batches, settings.finetune_lr_scale,
                                                 announce=not is_worker_process()))
    trainer = _build_trainer(settings, output, callbacks, progress, cluster=slurm)
    last = ckpt_dir / CHECKPOINT_NAME
    start_step = int(load_checkpoint_safely(last).get("global_step", 0)) // 2 if resume else 0
    t1 = time.perf_counter()
    try:
        with stop:
            trainer.fit(model, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    except SIGTERMException:
        # Lightning's own SIGTERM handler ends fit with this SystemExit once the epoch loop
        # notices; RunControl has saved the checkpoint by then, so it is a clean stop.
        if result.checkpoint is None:
            raise TrainingFailed("stopped by SIGTERM before the first checkpoint was saved; nothing to "
                                 "continue from — start the run again") from None
        result.interrupted = result.interrupted or "SIGTERM"
    except Exception as exc:
        _raise_if_out_of_memory(exc, settings, result, output)
        raise
    result.left_out = datamodule.left_out
    result.seconds["train"] = time.perf_counter() - t1
    result.steps = batches_done(trainer)
    result.steps_this_run = result.steps - start_step
    # The epoch of the last batch, numbered as in metrics.csv (Lightning's current_epoch is one
    # more once fit has ended at an epoch boundary or at max_steps).
    result.epochs = result.history[-1]["epoch"] if result.history else trainer.current_epoch
    if trainer.is_global_zero:
        result.model = model
    return result


def _raise_if_out_of_memory(exc: Exception, settings: RunSettings, result: RunResult, output: Path) -> None:
    """Out of GPU memory: the guard has saved a checkpoint; exit 1 naming the settings to try."""
    from utils.voice.run.fit.memory_guard import is_out_of_memory, oom_advice

    if not is_out_of_memory(exc):
        return
    guard = result.watchers.oom if result.watchers is not None else None
    raise TrainingFailed(oom_advice(settings.schedule.batch_size, settings.watch.max_phoneme_ids,
                                    guard.step if guard else None, guard.saved if guard else None,
                                    output)) from exc


def _log_every(settings: RunSettings) -> int:
    steps = settings.schedule.max_steps
    return max(1, min(50, steps // 20)) if steps else 50
