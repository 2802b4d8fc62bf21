"""The one base class for errors whose message is the whole story for a user.

A ``UserError`` carries its exit code (``exit_code``): the task that catches it prints one line
(``error: <message>``) and exits with that code, with no traceback unless ``--debug`` asks for one.
Anything else that ends a run is a bug or something unforeseen and keeps its traceback.
Exit codes (``tasks/train.py`` and the README): 1 the run started but could not finish,
2 bad input or a folder in use (nothing was written).

Import rule: the standard library only (``utils.lock``, ``utils.machine`` and ``utils.voice`` all
build on it).
"""

from __future__ import annotations


class UserError(Exception):
    """A failure explained by its message; ``exit_code`` says how the task ends."""

    exit_code = 1


class BadInput(UserError, ValueError):
    """A user error found before anything was written (exit code 2)."""

    exit_code = 2


class TrainingFailed(UserError, RuntimeError):
    """The run started but could not finish (exit code 1)."""

    exit_code = 1
