"""The values of a run's settings that name files or shape every batch, checked wherever they
come from: the command line (``plan/option_checks``, before anything is written) or what
``settings`` resolves (a preset, a previous run's ``train_config.json``). One check, one message.
"""

from __future__ import annotations

import unicodedata

from utils.errors import BadInput
from utils.voice.run_config import HOP_LENGTH

MAX_NAME_LENGTH = 100


def check_segment_size(segment) -> None:
    """The audio slice each batch trains on: a positive multiple of the hop length."""
    if segment is not None and (not isinstance(segment, int) or segment <= 0 or segment % HOP_LENGTH):
        near = max(HOP_LENGTH, round(segment / HOP_LENGTH) * HOP_LENGTH) if isinstance(segment, int) else 8192
        raise BadInput(f"--segment-size {segment}: must be a positive multiple of the hop length {HOP_LENGTH} "
                       f"(e.g. {near}; piper's default is 8192)")


def check_voice_name(name: str | None) -> None:
    """A voice name becomes file and folder names: printable, no separators, not hidden."""
    if name is None:
        return
    problem = None
    if not name.strip():
        problem = "is empty or only spaces"
    elif name != name.strip():
        problem = "starts or ends with a space"
    elif any(unicodedata.category(ch).startswith("C") for ch in name):
        problem = "contains a control character (newline, tab, ...)"
    elif any(ch in name for ch in '/\\:*?"<>|'):
        problem = "contains a path separator or a character Windows forbids in file names"
    elif name.startswith("."):
        problem = "starts with '.' (the files would be hidden)"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is longer than {MAX_NAME_LENGTH} characters"
    if problem:
        raise BadInput(f"--voice-name {name!r} {problem}: it names the output files; use letters, digits, "
                       "'-' or '_' (e.g. en_US-myvoice-medium)")
