"""The options that watch a run (samples, best checkpoints and what ranks them, the stall stop, what to
export), their command-line flags and their checked values.

``add_arguments`` adds the flags to ``tasks.train``'s parser; ``resolve_watch`` gives their
checked values, saved in ``train_config.json`` under "watch" (``fit/watchers.py`` turns them into
callbacks).
"""

from __future__ import annotations

from utils.voice.data.phoneme_filter import check_limit
from utils.voice.options import WatchRequest
from utils.voice.publish import samples
from utils.voice.run_config import WatchSettings

EXPORT_CHOICES = ("best", "last")


def add_arguments(parser) -> None:
    """The flags of this module, as their own argparse group (``--sample-text`` stays with voice)."""
    group = parser.add_argument_group("watching and keeping")
    group.add_argument("--sample-every", type=int, metavar="N",
                       help=f"also speak the sample text every N batches (default {samples.DEFAULT_SAMPLE_EVERY}; "
                            "always at each validation) into samples/step-N.wav; 0 = at validations only")
    group.add_argument("--keep-best", type=int, metavar="K",
                       help=f"keep last.ckpt plus the K best checkpoints by validation mel loss (or --best-by) "
                            f"(default {DEFAULT_KEEP_BEST})")
    group.add_argument("--best-by", metavar="MEASURE",
                       help="rank the kept checkpoints by this validation measure, lowest best: "
                            + ", ".join(m.removeprefix("val_") for m in BEST_BY)
                            + " (default mel: piper's validation mel loss; the others are the voice "
                              "measures on held-out clips, docs/measures-and-benchmarks.md)")
    group.add_argument("--export-from", choices=EXPORT_CHOICES,
                       help="export the best checkpoint or the last state (default: best when validation ran)")
    group.add_argument("--stop-when-stalled", type=int, metavar="N",
                       help="stop when validation mel loss has not improved for N validations (default: off)")
    group.add_argument("--max-phoneme-ids", type=int, metavar="N",
                       help="leave out clips longer than N phoneme ids (against GPU out-of-memory; "
                            "typical 200-400; default: keep all)")


def resolve_watch(asked: WatchRequest, sample_text, validation: bool, default_text: str,
            before: WatchSettings | None = None) -> WatchSettings:
    """Checked watch settings; ValueError names the flag and the fix. A resumed run keeps its
    values (``before``) unless a flag is given again; ``sample_text`` is --sample-text as given."""

    def pick(key, fallback):
        value = getattr(asked, key)
        if value is not None:
            return value
        return getattr(before, key) if before is not None else fallback

    every = pick("sample_every", samples.DEFAULT_SAMPLE_EVERY)
    if before is not None and asked.sample_every is None and every is None:
        every = 0  # the resumed run sampled at validations only
    if not isinstance(every, int) or every < 0:
        raise ValueError(f"--sample-every {every}: give a number of batches (0: samples at validations only)")
    texts = samples.load_sample_texts(sample_text, default_text) if sample_text \
        else (before.sample_texts if before is not None and before.sample_texts else [default_text])
    stall = check_stall_patience(pick("stop_when_stalled", None))
    export_from = pick("export_from", None) or ("best" if validation else "last")
    if not validation and (stall or export_from == "best"):
        flag = "--stop-when-stalled" if stall else "--export-from best"
        raise ValueError(f"{flag} needs validation, which this run does not have (it needs at least 20 clips "
                         "and no demo schedule) — drop the option or train on a larger dataset")
    best_by = check_best_by(pick("best_by", None))
    if best_by != MONITOR and not validation:
        raise ValueError(f"--best-by {best_by.removeprefix('val_')} needs validation, which this run does not have "
                         "(it needs at least 20 clips and no demo schedule) — drop the option")
    return WatchSettings(
        best_by=best_by,
        sample_every=every or None,
        sample_texts=texts,
        keep_best=check_keep_best(pick("keep_best", None)),
        stop_when_stalled=stall,
        max_phoneme_ids=check_limit(pick("max_phoneme_ids", None)),
        export_from=export_from,
    )


MONITOR = "val_mel"


DEFAULT_KEEP_BEST = 1


BEST_PREFIX = "best"


# --best-by: the metrics a run can rank checkpoints by, lowest best, each with its words for the log.
# All but val_mel come from utils.voice.evaluate.during_training (medians over held-out clips).
BEST_BY = {"val_mel": "validation mel loss", "val_mcd": "MCD-DTW (dB)", "val_f0_rmse": "F0 RMSE (cents)",
           "val_voicing_error": "voicing error", "val_duration_error": "duration error |1 - ratio|",
           "val_wer": "word error rate"}


def check_best_by(value: str | None) -> str:
    """``--best-by`` as given (with or without ``val_``), or val_mel; ValueError naming the choices."""
    if value is None:
        return MONITOR
    metric = value if value.startswith("val_") else f"val_{value}"
    if metric not in BEST_BY:
        raise ValueError(f"--best-by {value}: choose one of {', '.join(m.removeprefix('val_') for m in BEST_BY)}")
    return metric


def check_keep_best(value: int | None) -> int:
    """``--keep-best`` as given, or the default; ValueError with the fix for anything below 1."""
    if value is None:
        return DEFAULT_KEEP_BEST
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"--keep-best {value}: keep at least 1 best checkpoint (last.ckpt is kept anyway)")
    return value


def check_stall_patience(value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"--stop-when-stalled {value}: give the number of validations without improvement "
                         "(1 or more)")
    return value
