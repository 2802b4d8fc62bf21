"""The guards around one training run, in the order the train task needs them.

``check_command_line``  before anything is written: every option a user typed (exit 2 on a bad one).
``OwnedOutput``     the first write: take the output folder's run lock (a live owner: exit 2),
                    then remove what a killed run left there, reporting the space reclaimed.
``report_failure``  turns what ended a run into one line and an exit code; tracebacks only with
                    ``--debug`` or for genuine internal errors.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from utils.errors import UserError
from utils.voice.options import DeviceRequest, ScheduleRequest, VoiceRequest
from utils.voice.run import run_checks
from utils.voice.run.crash_debris import Debris, remove_crash_debris
from utils.voice.run.disk_space import disk_full_without_context, is_disk_full
from utils.voice.run.run_lock import RunLock


def check_command_line(voice: VoiceRequest, schedule: ScheduleRequest, device: DeviceRequest,
                       output: str | None, cache_dir: str | None) -> None:
    """Everything about the options that needs no dataset, checkpoint or training (BadInput)."""
    run_checks.check_numbers(schedule, device)
    run_checks.check_voice_name(voice.voice_name)
    run_checks.check_sample_text(voice.sample_text)
    run_checks.check_folder(output, "--output")
    run_checks.check_folder(cache_dir, "--cache-dir")
    run_checks.check_espeak_voice(voice.espeak_voice)


class OwnedOutput:
    """``with OwnedOutput(output, argv, say) as owned:`` — the output folder is this run's alone.

    ``owned.debris`` says what a killed run left and this start removed (for the summary)."""

    def __init__(self, output: str | os.PathLike, command: list[str] | None = None, say=None):
        self.output = Path(output)
        self.lock = RunLock(self.output, command=["python -m tasks.train", *(command or [])])
        self.say = say or (lambda message: print(message, file=sys.stderr, flush=True))
        self.debris = Debris()

    def __enter__(self) -> OwnedOutput:
        self.lock.acquire()
        try:
            if self.lock.taken_over is not None:
                self.say(f"note: {self.output} was locked by a run that is no longer running "
                         f"({self.lock.taken_over.describe()}); taking it over")
            self.debris = remove_crash_debris(self.output)
            if self.debris.removed:
                self.say(f"note: {self.debris.describe()} in {self.output}")
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        self.lock.release()
        return False


def report_failure(exc: BaseException, debug: bool = False) -> int:
    """Print why the run ended and return its exit code (2 bad input, 1 anything else)."""
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 1
    if not isinstance(exc, UserError) and is_disk_full(exc):
        exc = disk_full_without_context(exc)
    if not isinstance(exc, UserError):  # a bug or something unforeseen: the traceback is what a report needs
        traceback.print_exception(exc)
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if debug:
        traceback.print_exception(exc)
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code
