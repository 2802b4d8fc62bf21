"""The spine of ``tasks.train``: the command line is read once, here, and the run is the list of
steps it takes: check and plan, own and start the output, prepare, fit, record, export, report.

Order matters for the exit-code contract: ``plan_run`` checks everything that can be refused
before anything is written, so a run that exits 2 leaves nothing behind. Below this module no
function receives the command line (``TrainOptions``): each gets the typed group or the values
it needs, and after planning only the ``RunPlan`` (its ``RunSettings``) travels.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from utils.files import user_cache_root
from utils.voice.base.finetune import announce_base, check_voice_fits_data, choose_base
from utils.voice.console import is_worker_process
from utils.voice.data.content_use import check_before_training, validation_output
from utils.voice.options import TrainOptions
from utils.voice.run.configure.passthrough import check_passthrough_names
from utils.voice.run.configure.resume_mode import settle_resume
from utils.voice.run.configure.settings import Asked, resolve_settings
from utils.voice.run.fit.start import fit, own_output, prepare, start_output
from utils.voice.run.plan import decisions, resume_checks
from utils.voice.run.plan.decisions import RunPlan
from utils.voice.run.plan.option_checks import check_command_line, check_folder
from utils.voice.run.results.outcome import export, finish, record_history, write_report


def train(options: TrainOptions) -> int:
    """Run ``tasks.train``; returns the exit code (raises a UserError for a refused or failed run)."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    plan = plan_run(options, seconds)                  # check and plan: nothing written yet
    with own_output(plan) as owned:
        start_output(plan)
        prepared = prepare(plan, seconds)
        result = fit(plan, prepared, seconds)
        if is_worker_process() or result.model is None:
            return 0
        history = record_history(plan, result)
        exported = export(plan, result, seconds)
        seconds["total"] = time.perf_counter() - started
        summary = write_report(plan, result, history, exported, seconds, crash_debris=owned.debris.as_dict())
    return finish(plan, result, summary, history)


def plan_run(options: TrainOptions, seconds: dict[str, float] | None = None) -> RunPlan:
    """The command line turned into the typed settings, every value checked (BadInput: exit 2):
    options, the dataset, a resumed run, a fine-tune base, the device, the file name, disk space."""
    seconds = {} if seconds is None else seconds
    check_command_line(options.voice, options.schedule, options.device, options.output, options.cache_dir)
    folder = resume_checks.resume_folder(options.output, options.voice.voice_name, demo=options.dataset is None)
    resume, base_request = settle_resume(options.resume, folder, options.base)  # --resume auto: yes or no
    output, previous = resume_checks.resume_source(options.output, resume, base_request.finetune,
                                                  options.voice.voice_name, demo=options.dataset is None)
    dataset = options.dataset
    if dataset is None and previous is not None and not previous.dataset.demo:
        dataset = previous.dataset.path
    t = time.perf_counter()
    report = decisions.check_dataset(dataset)
    seconds["validate"] = time.perf_counter() - t
    cache_root = Path(options.cache_dir) if options.cache_dir else user_cache_root()
    base = choose_base(base_request, cache_root, resume=resume, progress=not is_worker_process())
    if base is not None:
        announce_base(base, options.voice.quality)
        check_voice_fits_data(base, report, options.voice.espeak_voice)
    t = time.perf_counter()
    voice = options.voice
    if base is not None:  # a voice's espeak voice is the language its text encoder learned
        voice = dataclasses.replace(voice, quality=base.quality, espeak_voice=voice.espeak_voice or base.espeak_voice)
    asked = Asked(voice=voice, schedule=options.schedule, device=options.device, watch=options.watch,
                  passthrough=options.passthrough, demo=options.dataset is None, export=not options.no_export,
                  finetune=str(base.path) if base is not None else None,
                  warmup_batches=options.base.warmup_batches, finetune_lr_scale=options.base.finetune_lr_scale,
                  onnx_base=base is not None and base.onnx_source is not None)
    settings = resolve_settings(asked, report, runtime=decisions.device_runtime(options.device),
                                previous=previous, finetune_arch=base.arch if base is not None else None)
    decisions.name_voice(settings, options.voice.language)
    check_passthrough_names(options.passthrough)
    decisions.leave_out_long_clips(report, settings)
    content = check_before_training(report, settings, options.exclude, options.trim_silence, previous, cache_root)
    seconds["setup"] = time.perf_counter() - t
    output = (output or resume_checks.default_output(settings.voice.voice_name)).resolve()
    check_folder(output, "--output")
    resume_checks.refuse_a_finished_run(output, previous)
    plan = RunPlan(report=report, settings=settings, output=output, cache_root=cache_root, previous=previous,
                   finetune=base.finetune if base is not None else None, base=base,
                   command=list(options.argv), progress=not options.quiet, content=content)
    if not is_worker_process():
        decisions.check_disk_space(plan)
    return plan


def validate_only(dataset: str | None, max_phoneme_ids: int | None, espeak_voice: str | None,
                  report_format: str = "text", exclude: list[str] | None = None, quality: str | None = None,
                  cache_dir: str | None = None) -> int:
    """``--validate-only``: the dataset report with the content checks' warnings (and the clips over
    --max-phoneme-ids), as text or one JSON object; exit 0 (warnings included) or 2 (problems)."""
    from utils.voice.data.dataset import SAMPLE_DATASET, validate_dataset
    from utils.voice.run_config import DEFAULTS, DEMO, ESPEAK_VOICE, QUALITIES

    report = validate_dataset(dataset if dataset is not None else SAMPLE_DATASET, progress=True)
    if max_phoneme_ids and report.clips:
        from utils.voice.data.phoneme_filter import add_to_report

        add_to_report(report, max_phoneme_ids, espeak_voice or ESPEAK_VOICE)
    # Judged against the band of the voice --quality would train (a base's rate is known only in a run).
    quality = quality if quality in QUALITIES else (DEFAULTS if dataset else DEMO)["quality"]
    print(validation_output(report, as_json=report_format == "json", exclude=exclude,
                            cache_root=Path(cache_dir).expanduser() if cache_dir else user_cache_root(),
                            sample_rate=QUALITIES[quality]["sample_rate"], espeak_voice=espeak_voice or ESPEAK_VOICE))
    return 0 if report.ok else 2
