"""Lightning, model and data options passed straight through: ``--trainer.NAME=VALUE``,
``--model.NAME=VALUE``, ``--data.NAME=VALUE``. Misspelled names are refused instead of being
swallowed by ``**kwargs``."""

from __future__ import annotations

import json
from typing import Any

from utils.errors import BadInput


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


