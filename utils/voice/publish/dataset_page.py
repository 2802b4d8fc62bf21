"""The dataset section of ``report.html``: what the content checks found, to read and to hear.

At the start of a run ``write_dataset_check`` leaves ``dataset_check.json`` in the output folder
(the ``--validate-only --json`` report, plus the limits used and the clips ``--exclude`` left
out) and a 16-bit copy of each flagged clip at the voice's rate in ``dataset/`` (the page must
work when the folder is copied, so it cannot point into the user's dataset). ``section_html``
turns them into the page's section: counts per kind, then each flagged clip with its reasons
and an audio player.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from utils.files import atomic_write_bytes, atomic_write_json
from utils.voice.data.content_use import DATASET_CHECK_NAME, report_json
from utils.voice.data.dataset_report import CONTENT_KINDS

FLAGGED_DIR = "dataset"
MAX_PLAYERS = 50  # copies of flagged clips kept for the page; a badly broken dataset lists the rest


def write_dataset_check(output: Path, report, result, sample_rate: int, cache_root: Path | None = None) -> None:
    """``dataset_check.json`` and the flagged clips' copies in ``output`` (each file atomically);
    the measures the plan took (without writing) go into the cache under ``cache_root``."""
    from utils.voice.data.audio_prep import convert_audio, wav_bytes
    from utils.voice.data.content_measure import save_measures

    save_measures(list(result.measures.values()), cache_root)
    output = Path(output)
    data = report_json(report, result)
    atomic_write_json(output / DATASET_CHECK_NAME, data)
    seen: set[str] = set()
    for warning in data["warnings"]:
        clip = warning["clip"]
        if warning["kind"] not in CONTENT_KINDS or clip is None or clip in seen or len(seen) >= MAX_PLAYERS:
            continue
        seen.add(clip)
        target = output / FLAGGED_DIR / f"{_safe(clip)}.wav"
        try:
            samples = convert_audio(Path(warning["file"]).read_bytes(), sample_rate)
            atomic_write_bytes(target, wav_bytes(samples, sample_rate))
        except (OSError, RuntimeError, ValueError):
            continue  # the page then lists the clip without a player


def _safe(clip: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in clip)


def section_html(output: Path) -> str:
    """The page's dataset section, or "" when the run has no ``dataset_check.json``."""
    try:
        data = json.loads((Path(output) / DATASET_CHECK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    esc = html.escape
    content = [w for w in data.get("warnings", []) if w.get("kind") in CONTENT_KINDS]
    excluded = set(data.get("excluded", {}).get("clips", []))
    head = f"<h2>Dataset: content checks</h2><p>{data.get('clips', 0)} clips trained"
    if excluded:
        head += f"; {len(excluded)} left out by --exclude {esc(','.join(data['excluded']['kinds']))}"
    if not content:
        return head + "; no clip flagged.</p>"
    counts = "".join(f"<tr><th>{esc(kind)}</th><td>{sum(w['kind'] == kind for w in content)}</td></tr>"
                     for kind in CONTENT_KINDS if any(w["kind"] == kind for w in content))
    by_clip: dict[str, list[dict]] = {}
    for warning in content:
        by_clip.setdefault(warning["clip"], []).append(warning)
    items = []
    for clip, found in by_clip.items():
        player = Path(output) / FLAGGED_DIR / f"{_safe(clip)}.wav"
        audio = (f'<audio controls preload="none" src="{FLAGGED_DIR}/{esc(player.name)}"></audio>'
                 if player.is_file() else "")
        reasons = "".join(f"<div><b>{esc(w['kind'])}</b>: {esc(w['message'])}</div>" for w in found)
        left_out = " <span class=\"muted\">(left out of training)</span>" if clip in excluded else ""
        items.append(f"<li><div>{esc(clip)} <span class=\"muted\">{esc(Path(found[0]['file']).name)}, "
                     f"line {found[0]['line']}</span>{left_out}</div>{reasons}{audio}</li>")
    return (head + f"; {len(by_clip)} flagged (warnings: training went on).</p>"
            f"<table>{counts}</table><ol>{''.join(items)}</ol>")
