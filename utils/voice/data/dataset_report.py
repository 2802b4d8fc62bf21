"""The dataset report model: layout names, thresholds, and what ``validate_dataset`` returns.

``Problem`` is one thing wrong (or worth a look), ``Clip`` one usable utterance, and
``DatasetReport`` everything learnt about a folder, with ``format_report`` for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PIPER_CSV = "piper-csv"
RECORDER_PROFILE = "recorder-profile"

CSV_NAME = "metadata.csv"
JSONL_NAME = "metadata.jsonl"
RECORDER_KEYS = ("filename", "sentence", "prompt_list", "prompt_index", "timestamp")
RECORDER_REQUIRED_KEYS = ("filename", "sentence")

SHORT_CLIP_S = 0.5  # below this VITS sees too few frames to learn an alignment
LONG_CLIP_S = 15.0  # above this a clip dominates batch memory; Piper's own datasets stay under it
FEW_CLIPS = 10  # piper holds out 10% + up to 5 test clips; fewer leaves almost nothing to train on
LOW_SAMPLE_RATE = 16000  # upsampling from below this cannot add the missing high frequencies

# Content checks (utils.voice.data.content_checks): warnings that never stop a run, in report order.
CONTENT_KINDS = ("clipped", "silence", "noise", "mismatch", "duplicate", "bandwidth", "level")

# Per-kind cap on listed problems so a file with a wrong delimiter on 13,000 lines stays readable.
MAX_LISTED_PER_KIND = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) in a dataset, with where it is and what to do."""

    file: Path
    line: int | None
    message: str
    fix: str
    kind: str = "other"
    clip: str | None = None  # the clip's id, for warnings about one clip

    def to_json(self) -> dict:
        return {"file": str(self.file), "line": self.line, "clip": self.clip, "kind": self.kind,
                "message": self.message, "fix": self.fix}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        return f"{where}: {self.message} — {self.fix}"


@dataclass(frozen=True)
class Clip:
    """One usable utterance: its text and the source audio (never modified)."""

    id: str
    text: str
    speaker: str | None
    audio_path: Path
    duration_s: float
    sample_rate: int
    channels: int
    line: int | None = None


@dataclass
class DatasetReport:
    """Everything ``validate_dataset`` learnt about a folder. ``ok`` means trainable."""

    path: Path
    layout: str | None = None
    metadata_path: Path | None = None
    clips: list[Clip] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Lower-cased file names the metadata mentions, usable or not: a file a line refers to (even
    # wrongly) is not also "not listed in the metadata".
    mentioned: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.clips)

    @property
    def total_seconds(self) -> float:
        return float(sum(c.duration_s for c in self.clips))

    @property
    def speakers(self) -> list[str]:
        """Speaker names in order of first appearance (piper numbers them the same way)."""
        seen: dict[str, None] = {}
        for clip in self.clips:
            if clip.speaker is not None:
                seen.setdefault(clip.speaker, None)
        return list(seen)

    @property
    def num_speakers(self) -> int:
        return max(1, len(self.speakers))

    def format_report(self) -> str:
        lines = [f"Dataset: {self.path}"]
        lines.append(f"  layout:   {self.layout or 'unknown'}")
        if self.metadata_path is not None:
            lines.append(f"  metadata: {self.metadata_path}")
        lines.append(f"  clips:    {len(self.clips)}")
        lines.append(f"  duration: {_format_duration(self.total_seconds)}")
        if self.speakers:
            lines.append(f"  speakers: {len(self.speakers)} ({', '.join(self.speakers[:8])}"
                         f"{', ...' if len(self.speakers) > 8 else ''})")
        if self.clips:
            rates = sorted({c.sample_rate for c in self.clips})
            chans = sorted({c.channels for c in self.clips})
            lines.append(f"  audio:    {', '.join(f'{r} Hz' for r in rates)}; "
                         f"{', '.join(f'{c} ch' for c in chans)} "
                         "(converted to the voice's rate (16 kHz or 22050 Hz), mono 16-bit)")
        content = [w for w in self.warnings if w.kind in CONTENT_KINDS]
        other = [w for w in self.warnings if w.kind not in CONTENT_KINDS]
        for title, items in (("Problems", self.problems), ("Warnings", other)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {p}" for p in _capped(items))
        lines.extend(_content_lines(content, self.metadata_path))
        if self.ok:
            lines.append("OK: dataset is ready to train.")
        else:
            count = len(self.problems) or 1
            lines.append(f"NOT OK: {count} problem(s); fix them and run again.")
        return "\n".join(lines)


def _content_lines(content: list[Problem], metadata: Path | None) -> list[str]:
    """Content warnings grouped by kind, every flagged file named (they are what to listen to)."""
    if not content:
        return []
    clips = len({w.clip or w.file for w in content})
    lines = [f"Content warnings ({len(content)} in {clips} clip(s); training still runs, "
             "--exclude KIND leaves them out):"]
    name = metadata.name if metadata is not None else "metadata"
    for kind in CONTENT_KINDS:
        items = [w for w in content if w.kind == kind]
        if items:
            lines.append(f"  {kind} ({len(items)}):")
            lines.extend(f"    {w.file} ({name} line {w.line}): {w.message} — {w.fix}" for w in items)
    return lines


def _capped(items: list[Problem]) -> list[str]:
    out: list[str] = []
    per_kind: dict[str, int] = {}
    for item in items:
        per_kind[item.kind] = per_kind.get(item.kind, 0) + 1
        if per_kind[item.kind] <= MAX_LISTED_PER_KIND:
            out.append(str(item))
    for kind, count in per_kind.items():
        if count > MAX_LISTED_PER_KIND:
            out.append(f"... and {count - MAX_LISTED_PER_KIND} more like '{kind}'")
    return out


def _format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"
