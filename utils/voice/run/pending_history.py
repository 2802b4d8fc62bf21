"""The per-batch history, with each batch's losses kept on the device until they are read.

Converting a batch's eight losses with ``float()`` as it ends makes the host wait for the device
eight times per batch. Here a batch's losses become one small device tensor (no wait) and the
rows are read back together, in one wait, when anything needs the numbers: at a checkpoint, at
the end of an epoch or of training, on an error, and at least every ``MAX_PENDING`` batches so a
crash loses little. The history list itself only ever holds plain numbers.
"""

from __future__ import annotations

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
