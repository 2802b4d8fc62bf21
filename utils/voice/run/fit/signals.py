"""Stopped from outside, the run still keeps its work: SIGINT, SIGTERM, SIGHUP and Slurm's warning.

Whoever ends a run usually signals its whole process group: Ctrl+C in a terminal, ``timeout``,
``scancel`` and Slurm preemption, systemd's ``KillMode=control-group``, a container's init. So:

- ``worker_init`` makes the data-loader workers ignore those signals. A worker killed by SIGTERM
  takes the run down with "DataLoader worker ... is killed by signal" before anything is saved;
  a worker that ignores it keeps feeding batches until the main process has saved and shuts the
  workers down itself (they also exit when the main process is gone).
- ``StopRequest`` turns each signal in the main process into "finish this batch (or this
  validation), save ``last.ckpt``, stop". The handler only sets a flag, so a signal that lands in
  the middle of a checkpoint write lets that write finish; the stop save comes after it. In DDP
  the ranks agree on the flag at every batch end (``agreed``), so all stop at the same batch.
- Under Slurm (Lightning's ``SLURMEnvironment`` with auto-requeue), the requeue signal
  (``#SBATCH --signal=SIGUSR1@90``) does the same and then ``requeue_slurm_job`` puts the job back
  in the queue; the requeued job runs the same command, whose ``--resume auto`` continues.
  Lightning's own handler for that signal is not used: it saves ``hpc_ckpt_N.ckpt`` from inside
  the signal handler, mid-batch, which a later start in the same folder would load silently.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from typing import Any

from utils.voice.console import is_worker_process
from utils.voice.run.fit.result import RunResult

# The signals that mean "stop this run" wherever they come from (SIGHUP: the terminal closed, or
# a supervisor's stop). Windows has neither SIGHUP nor process groups: getattr keeps it importable.
STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")
REQUEUE_SIGNAL_NAME = "SIGUSR1"


def _signals(names) -> list[signal.Signals]:
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of the data loaders: leave the stop signals to the main process, then
    seed the worker the way Lightning's ``seed_everything(workers=True)`` would have."""
    for sig in _signals((*STOP_SIGNAL_NAMES, REQUEUE_SIGNAL_NAME)):
        signal.signal(sig, signal.SIG_IGN)
    if int(os.environ.get("PL_SEED_WORKERS", "0") or 0):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)


def slurm_environment():
    """Lightning's ``SLURMEnvironment`` with auto-requeue on SIGUSR1 when this process is a Slurm
    job step (``SLURM_NTASKS`` set, not an interactive ``bash``/``interactive`` job), else None."""
    if not hasattr(signal, REQUEUE_SIGNAL_NAME):
        return None
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect():
        return None
    return SLURMEnvironment(auto_requeue=True, requeue_signal=getattr(signal, REQUEUE_SIGNAL_NAME))


class StopRequest:
    """``with StopRequest(requeue_signal) as stop:`` — the stop signals (and Slurm's requeue signal)
    set ``stop.signal_name`` instead of killing the process; ``stop.requeue`` says Slurm asked."""

    def __init__(self, requeue_signal: signal.Signals | None = None):
        self.signal_name: str | None = None
        self.requeue = False
        self.requeued = False          # the job is back in the queue (requeue_if_asked)
        self.requeue_signal = requeue_signal
        self._signals = _signals(STOP_SIGNAL_NAMES) + ([requeue_signal] if requeue_signal else [])
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """(Re)install the handlers; Lightning installs its own SIGTERM handler when fit starts and
        raises mid-validation with it, so the run calls this again once training starts."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self._signals:
            if sig not in self._previous and signal.getsignal(sig) is signal.SIG_IGN:
                # Ignored before the run began: `nohup` ignores SIGHUP so that a closed terminal
                # does not end the job, a shell's background job ignores SIGINT. Keep that choice.
                continue
            previous = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, previous)

    def __enter__(self) -> StopRequest:
        self.install()
        return self

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl+C: the user really wants out now
            return  # keep the first reason (Slurm sends SIGTERM after a requeue)
        self.signal_name = signal.Signals(signum).name
        self.requeue = signum == self.requeue_signal
        what = "Slurm's time-limit warning: " if self.requeue else ""
        if is_worker_process():  # DDP: every rank gets a group signal; rank 0 speaks
            return
        try:
            print(f"\n{self.signal_name} received ({what}finishing this batch, saving a checkpoint, then stopping; "
                  "Ctrl+C again to abort without saving)", file=sys.stderr, flush=True)
        except OSError:  # SIGHUP: the terminal may be gone; saving matters more than saying so
            pass

    def agreed(self, trainer) -> bool:
        """Whether to stop now; in DDP every rank gets the same answer (any rank signalled), so no
        rank waits in a collective for one that has stopped."""
        wanted = self.signal_name is not None
        if getattr(trainer, "world_size", 1) > 1:
            return bool(trainer.strategy.reduce_boolean_decision(wanted, all=False))
        return wanted

    def requeue_if_asked(self, is_global_zero: bool) -> str | None:
        """After the stop save: Slurm asked, so rank 0 puts the job back in the queue; the note
        for the last line (None when Slurm did not ask)."""
        if not (self.requeue and is_global_zero):
            return None
        self.requeued, note = requeue_slurm_job()
        return note

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._previous.items():
            # After a requeue Slurm ends the job with SIGTERM: keep ignoring it while the summary
            # and report are written, instead of dying half-way through.
            if self.requeued and sig == signal.SIGTERM:
                continue
            signal.signal(sig, handler)
        self._previous = {}
        return False


def slurm_job_id() -> str | None:
    """The job to requeue: an array task as ``<array job>_<task>``, as ``scontrol`` expects."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job is not None and os.environ.get("SLURM_ARRAY_TASK_ID") is not None:
        return f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def requeue_slurm_job() -> tuple[bool, str]:
    """``scontrol requeue <job>``; (done, what to tell the user)."""
    job = slurm_job_id()
    if not job or not re.fullmatch(r"[0-9_]+", job):
        return False, f"no Slurm job id to requeue (SLURM_JOB_ID={job!r})"
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"could not requeue Slurm job {job}: scontrol: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return False, (f"could not requeue Slurm job {job}: scontrol exit {done.returncode}"
                       + (f" ({detail[-1]})" if detail else ""))
    return True, f"Slurm job {job} requeued"


def stopped_message(signal_name: str, steps: int, checkpoint, output, requeue_note: str | None = None) -> str:
    """The one line a stopped run ends with: the signal, the checkpoint, and how to continue."""
    text = f"stopped by {signal_name} after {steps} batches; checkpoint {checkpoint} saved"
    resume = f"python -m tasks.train --output {output} --resume"
    if requeue_note and requeue_note.endswith("requeued"):
        return f"{text}; {requeue_note}: it runs the same command again and continues by itself (--resume auto)"
    if requeue_note:
        text += f"; {requeue_note}"
    return f"{text} — continue with: {resume}"


def stop_run(trainer, stop: StopRequest, save, result: RunResult) -> None:
    """Save (``save(trainer)``), stop, and when Slurm asked, requeue; ``result`` gets the reason and
    the requeue note."""
    result.interrupted = stop.signal_name or "a signal to another rank"
    save(trainer)
    trainer.should_stop = True
    result.requeue_note = stop.requeue_if_asked(trainer.is_global_zero)  # saved first: the job resumes from it


def make_stop_callback(stop: StopRequest, save, result: RunResult):
    """The Lightning callback that keeps ``stop``'s handlers installed for the whole fit and acts
    on a signal that came during validation (or its samples) once that validation is done."""
    import lightning.pytorch as pl

    # Defined when called: its base class comes from Lightning (or piper), imported only once a run
    # trains, so planning, refusals and --help never pay for importing Lightning.
    class StopOnSignal(pl.Callback):
        # Lightning installs its own SIGTERM handler after on_fit_start, which raises in the
        # middle of a validation before anything is saved: ours again (Lightning restores it after).
        def on_sanity_check_start(self, trainer, pl_module):
            stop.install()

        def on_train_start(self, trainer, pl_module):
            stop.install()

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking and result.interrupted is None and stop.agreed(trainer):
                stop_run(trainer, stop, save, result)

    return StopOnSignal()
