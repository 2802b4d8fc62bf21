"""Per-batch losses of a run, kept in ``metrics.csv`` (the source of the loss-curve PNG)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from utils.files import atomic_write_text


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


def merge_resumed(earlier: list[dict], new: list[dict], resumed_from_step: int) -> list[dict]:
    """A resumed run's history: the rows up to the checkpoint it resumed from, then its own.

    Rows after that step were trained by the interrupted run but lost with it (they are not in the
    checkpoint), so the new run trains those steps again and its rows replace them."""
    return [row for row in earlier if row["step"] <= resumed_from_step] + new
