"""Count the calls that make the host wait for the device, in this process, by call site.

On CUDA, ``Tensor.item``, ``bool(t)``, ``tolist``, ``cpu``, ``numpy``, ``float(t)`` and ``int(t)``
each drain the device queue. On CPU they do not stall, but they are the same calls, made from
the same lines, so counting them in a CPU run shows what a GPU run would wait on. torch.optim's
own calls are left out: its step counters live on the CPU on purpose and never wait.

    python -m utils.machine.host_syncs COUNTS.json -m tasks.train --output DIR ...

runs the module after ``-m`` in this process with the counter installed and writes
``{"total": N, "sites": {"file:line name": n, ...}, "exit": code}``.
"""

from __future__ import annotations

import collections
import json
import runpy
import sys
import threading

WATCHED = ("item", "__bool__", "tolist", "cpu", "numpy", "__float__", "__int__")
_EXEMPT = ("/torch/optim/",)


class SyncCounter:
    """Wraps the watched ``torch.Tensor`` methods while active; ``sites`` maps call site -> count."""

    def __init__(self):
        self.sites: collections.Counter = collections.Counter()
        self._originals: dict = {}
        self._local = threading.local()

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def _record(self, name: str) -> None:
        if getattr(self._local, "busy", False):
            return  # a watched call made while recording one (or inside another) counts once
        frame = sys._getframe(2)
        caller = frame
        for _ in range(12):
            if frame is None:
                break
            if any(part in frame.f_code.co_filename for part in _EXEMPT):
                return
            frame = frame.f_back
        self.sites[f"{caller.f_code.co_filename}:{caller.f_lineno} {name}"] += 1

    def _wrap(self, name: str, original):
        counter = self

        def wrapper(tensor, *args, **kwargs):
            if getattr(counter._local, "busy", False):
                return original(tensor, *args, **kwargs)
            counter._record(name)
            counter._local.busy = True
            try:
                return original(tensor, *args, **kwargs)
            finally:
                counter._local.busy = False

        wrapper.__name__ = name
        return wrapper

    def __enter__(self):
        import torch

        for name in WATCHED:
            original = getattr(torch.Tensor, name)
            self._originals[name] = original
            setattr(torch.Tensor, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc):
        import torch

        for name, original in self._originals.items():
            setattr(torch.Tensor, name, original)
        self._originals.clear()
        return False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "-m":
        print("usage: python -m utils.machine.host_syncs COUNTS.json -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    out, module, rest = argv[0], argv[2], argv[3:]
    sys.argv = [module, *rest]
    code = 0
    with SyncCounter() as counter:
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"total": counter.total, "sites": dict(counter.sites.most_common()), "exit": code}, handle,
                  indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
