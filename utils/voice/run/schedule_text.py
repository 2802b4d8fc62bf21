"""What Lightning will actually do with the pass-through options that change the schedule.

``--trainer.check_val_every_n_epoch=25`` works, so the printed schedule and ``report.html`` must
not say "validation after every epoch". ``trainer`` below is ``RunSettings.trainer``: the Lightning
``Trainer`` arguments, pass-through options included. Lightning's meaning of each, as of 2.6:

- ``check_val_every_n_epoch`` N: validate at the end of every N-th epoch; ``None`` with an integer
  ``val_check_interval``: every that many batches, counted across epochs.
- ``val_check_interval``: a fraction of an epoch (0.25: four times per epoch) or a number of
  batches (one batch here = one Lightning training batch = two optimizer steps).
- ``limit_train_batches`` / ``limit_val_batches``: a number of batches per epoch / per validation,
  or a fraction of them; ``limit_val_batches=0`` turns validation off.
- ``limit_test_batches`` / ``limit_predict_batches``: no effect, training runs no test or predict.
- ``max_time``: training stops after that long ("DD:HH:MM:SS", or days/hours/minutes/seconds),
  whichever of it and the batch/epoch limit comes first; ``last.ckpt`` is saved as at any end.
"""

from __future__ import annotations

from typing import Any

_TIME_UNITS = ("days", "hours", "minutes", "seconds")


def _flag(name: str, value: Any) -> str:
    return f"--trainer.{name}={value}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fraction(value: Any) -> bool:
    return isinstance(value, float) and not isinstance(value, bool)


def validation_text(trainer: dict[str, Any], validation: bool) -> str:
    """When validation runs, in words."""
    if not validation:
        return "no validation (too few clips, or the demo schedule)"
    limit = trainer.get("limit_val_batches")
    if limit == 0:
        return f"no validation ({_flag('limit_val_batches', 0)})"
    every_epochs = trainer.get("check_val_every_n_epoch", 1)
    interval = trainer.get("val_check_interval")
    flags = [_flag(name, trainer[name]) for name in ("check_val_every_n_epoch", "val_check_interval")
             if name in trainer]
    if interval is not None and not _fraction(interval) and isinstance(interval, int):
        scope = "counted across epochs" if every_epochs is None else \
            ("within each epoch" if every_epochs == 1 else f"within every {_ordinal(every_epochs)} epoch")
        when = f"validation every {interval} batches ({scope})"
    elif interval is not None and _fraction(interval) and interval < 1.0:
        when = f"validation every {interval:g} of an epoch ({1 / interval:g} times per epoch)"
        if every_epochs not in (None, 1):
            when += f", in every {_ordinal(every_epochs)} epoch"
    elif interval is not None and not isinstance(interval, (int, float)):
        when = f"validation every {interval} of training time"
    elif every_epochs in (None, 1):
        when = "validation after every epoch"
    else:
        when = f"validation after every {_ordinal(every_epochs)} epoch"
    text = f"{when} (held-out clips, mel loss)"
    return f"{text} [{', '.join(flags)}]" if flags else text


def _limit_text(name: str, value: Any, what: str) -> str:
    if _fraction(value):
        return f"{what}: only {value:.0%} of the batches ({_flag(name, value)})"
    return f"{what}: only {value} batch(es) ({_flag(name, value)})"


def describe_max_time(value: Any) -> str:
    """``max_time`` as Lightning reads it ("DD:HH:MM:SS", a dict of units, or a timedelta), in words."""
    seconds = max_time_seconds(value)
    if seconds is None:
        return str(value)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"


def max_time_seconds(value: Any) -> float | None:
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if isinstance(value, dict):
        return sum(float(value.get(unit, 0)) * factor
                   for unit, factor in zip(_TIME_UNITS, (86400, 3600, 60, 1), strict=True))
    if isinstance(value, str) and value.count(":") == 3:
        try:
            days, hours, minutes, secs = (int(part) for part in value.split(":"))
        except ValueError:
            return None
        return days * 86400 + hours * 3600 + minutes * 60 + secs
    return None


def passthrough_lines(trainer: dict[str, Any], validation: bool) -> list[str]:
    """One line per pass-through option that changes the schedule (other than the validation
    timing, which ``validation_text`` states), as Lightning will apply it."""
    lines = []
    limit = trainer.get("limit_train_batches")
    if limit is not None and limit != 1.0:
        lines.append(_limit_text("limit_train_batches", limit, "each epoch trains"))
    limit = trainer.get("limit_val_batches")
    if validation and limit not in (None, 0, 1.0):
        lines.append(_limit_text("limit_val_batches", limit, "each validation uses"))
    if not validation and any(name in trainer for name in ("check_val_every_n_epoch", "val_check_interval")):
        lines.append("validation options have no effect: this run has no validation")
    for name in ("limit_test_batches", "limit_predict_batches"):
        if name in trainer:
            lines.append(f"{_flag(name, trainer[name])}: no effect (training runs no test or prediction)")
    if trainer.get("max_time") is not None:
        lines.append(f"time limit: training stops after {describe_max_time(trainer['max_time'])} "
                     f"({_flag('max_time', trainer['max_time'])}), whichever limit comes first; "
                     "last.ckpt is saved as at any end")
    return lines


def schedule_facts(trainer: dict[str, Any], validation: bool) -> dict[str, str]:
    """The report page's lines for the same: "validation", and "Lightning options" when any act."""
    facts = {"validation": validation_text(trainer, validation)}
    lines = passthrough_lines(trainer, validation)
    if lines:
        facts["Lightning options"] = "; ".join(lines)
    return facts


def train_batches(batches: int, trainer: dict[str, Any]) -> int:
    """Training batches per epoch once ``limit_train_batches`` has acted (Lightning rounds a
    fraction down)."""
    limit = trainer.get("limit_train_batches")
    if limit is None or limit == 1.0:
        return batches
    if _fraction(limit):
        return max(1, int(batches * limit)) if limit > 0 else 0
    return min(batches, int(limit))
