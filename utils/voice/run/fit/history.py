"""The per-batch history (``metrics.csv``): rows kept in memory until a checkpoint is written, merged
with a resumed run's earlier rows, written atomically.

Per-batch losses of a run, kept in ``metrics.csv`` (the source of the loss-curve PNG).
"""

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


MAX_PENDING = 50


class PendingHistory:
    def __init__(self, history: list[dict]):
        self.history = history
        self._rows: list[tuple[dict, tuple[str, ...], object]] = []

    def add(self, row: dict, metrics: dict) -> None:
        """Queue ``row`` (plain values) plus ``metrics`` (one-element tensors or numbers)."""
        from utils.machine.device_values import stack_scalars

        keys = tuple(metrics)
        values = [self._as_tensor(v) for v in metrics.values()]
        self._rows.append((row, keys, stack_scalars(values) if values else None))
        if len(self._rows) >= MAX_PENDING:
            self.flush()

    @staticmethod
    def _as_tensor(value):
        import torch

        return value if isinstance(value, torch.Tensor) else torch.tensor(float(value))

    def flush(self) -> None:
        """Append every queued row to the history, reading all their losses in one go."""
        if not self._rows:
            return
        import torch

        rows, self._rows = self._rows, []
        stacked = [values for _, _, values in rows if values is not None]
        numbers = iter(torch.cat([v.to(stacked[0].device) for v in stacked]).tolist() if stacked else [])
        for row, keys, values in rows:
            filled = dict(row)
            if values is not None:
                filled.update({key: next(numbers) for key in keys})
            self.history.append(filled)
