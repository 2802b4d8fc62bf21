"""Where the content checks meet the command line: ``--validate-only [--json]``, the check before
every training run, ``--exclude`` and ``--trim-silence`` (kept in ``train_config.json`` so a
``--resume`` trains on the same clips).

The checks are warnings: they never make ``--validate-only`` exit 2 and never refuse a run. The
one refusal here is ``--exclude`` leaving no clip at all (exit 2, nothing written).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from utils.errors import BadInput
from utils.voice.console import is_worker_process, say
from utils.voice.data.content_checks import ContentResult, check_content, leave_out
from utils.voice.data.dataset_report import CONTENT_KINDS, DatasetReport
from utils.voice.run_config import RunSettings

DATASET_CHECK_NAME = "dataset_check.json"  # beside a run's outputs; the report page reads it


def report_json(report: DatasetReport, result: ContentResult | None = None) -> dict[str, Any]:
    """The machine-readable report: clips, seconds, problems, warnings (file, line, clip, kind,
    message, fix each); with a content result, the limits it used and what was left out."""
    data: dict[str, Any] = {
        "clips": len(report.clips), "seconds": round(report.total_seconds, 3),
        "problems": [p.to_json() for p in report.problems],
        "warnings": [w.to_json() for w in report.warnings],
    }
    if result is not None:
        data["limits"] = {k: round(v, 3) for k, v in result.limits.items()}
        data["excluded"] = {"kinds": result.excluded_kinds, "clips": result.excluded}
    return data


def validation_output(report: DatasetReport, as_json: bool, exclude: list[str] | None, cache_root: Path,
                      sample_rate: int, espeak_voice: str) -> str:
    """``--validate-only``: run the content checks on a trainable dataset; the text or JSON to print."""
    result = None
    if report.ok:
        result = check_content(report, sample_rate, cache_root, espeak_voice,
                               progress=not as_json or sys.stderr.isatty())
        if exclude:
            result.excluded_kinds = list(exclude)
            result.excluded = result.clips_of(exclude)
    if as_json:
        return json.dumps(report_json(report, result), ensure_ascii=False)
    text = report.format_report()
    if result is not None and exclude:
        text += (f"\nWith --exclude {','.join(exclude)}: {len(result.excluded)} of {len(report.clips)} "
                 "clip(s) would be left out of training.")
    return text


def check_before_training(report: DatasetReport, settings: RunSettings, exclude: list[str] | None,
                          trim_silence: bool | None, previous: RunSettings | None,
                          cache_root: Path) -> ContentResult:
    """The content checks of a training run: warn, leave out ``--exclude``'s kinds, settle
    ``--exclude``/``--trim-silence`` (a resumed run keeps its own). Writes nothing."""
    settings.exclude = list(exclude if exclude is not None
                            else previous.exclude if previous is not None else [])
    settings.trim_silence = bool(trim_silence if trim_silence is not None
                                 else previous.trim_silence if previous is not None else False)
    # save=False: planning writes nothing; write_dataset_check stores the measures with the run's first files.
    result = check_content(report, settings.voice.sample_rate, cache_root, settings.voice.espeak_voice,
                           progress=not is_worker_process(), save=False)
    _say_warnings(report)
    if settings.exclude:
        total = len(report.clips)
        removed = leave_out(report, result, settings.exclude)
        result.excluded_kinds, result.excluded = list(settings.exclude), [c.id for c in removed]
        if not report.clips:
            raise BadInput(f"dataset {report.path}: --exclude {','.join(settings.exclude)} leaves no clip to "
                           "train on; exclude fewer kinds or fix the clips; nothing was written")
        say(f"--exclude {','.join(settings.exclude)}: leaving out {len(removed)} of {total} clips"
            + (f" ({', '.join(c.id for c in removed[:10])}{', ...' if len(removed) > 10 else ''})" if removed
               else ""))
        settings.dataset.clips = len(report.clips)
        settings.dataset.seconds = round(report.total_seconds, 2)
    return result


def _say_warnings(report: DatasetReport, per_kind: int = 10) -> None:
    """The content warnings, grouped by kind, before training starts."""
    content = [w for w in report.warnings if w.kind in CONTENT_KINDS]
    if not content:
        return
    lines = [f"content checks: {len(content)} warning(s) in {len({w.clip for w in content})} clip(s) "
             "(training goes on; --exclude KIND leaves them out, --validate-only lists them all):"]
    for kind in CONTENT_KINDS:
        items = [w for w in content if w.kind == kind]
        if items:
            names = ", ".join(w.file.name for w in items[:per_kind])
            more = f" and {len(items) - per_kind} more" if len(items) > per_kind else ""
            lines.append(f"  {kind} ({len(items)}): {names}{more} — e.g. {items[0].message}")
    say("\n".join(lines))
