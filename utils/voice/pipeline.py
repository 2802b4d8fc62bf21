"""The whole ``tasks.train`` flow: validate -> settings -> prepare -> train -> export -> report.

Order matters for the exit-code contract: everything that can be refused (dataset, options,
device, fine-tune checkpoint) is checked before the output folder is created, so a run that
exits 2 leaves nothing behind.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from utils.voice import training
from utils.voice.training import BadInput, TrainingFailed


def default_output(voice_name: str) -> Path:
    return Path("outputs") / voice_name


def _say(message: str) -> None:
    if not training.is_worker_process():
        print(message, file=sys.stderr, flush=True)


def train(options: dict[str, Any]) -> int:
    """Run ``tasks.train`` with parsed options; returns the exit code (raises BadInput for 2)."""
    from utils.voice.audio_prep import default_cache_dir, prepare_dataset
    from utils.voice.dataset import SAMPLE_DATASET, validate_dataset

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    worker = training.is_worker_process()

    output = Path(options["output"]) if options.get("output") else None
    previous = None
    if options.get("resume"):
        if output is None:
            fallback = training.DEFAULTS if options.get("dataset") else training.DEMO
            output = default_output(options.get("voice_name") or fallback["voice_name"])
        previous = training.load_previous(output)
        if options.get("finetune"):
            raise BadInput("--resume and --finetune exclude each other: --resume continues the run in "
                           "--output, --finetune starts a new one from a checkpoint")

    dataset = options.get("dataset")
    if dataset is None and previous is not None and not previous["dataset"]["demo"]:
        dataset = previous["dataset"]["path"]
    t = time.perf_counter()
    report = validate_dataset(dataset if dataset is not None else SAMPLE_DATASET, progress=not worker)
    seconds["validate"] = time.perf_counter() - t
    if options.get("validate_only"):
        print(report.format_report())
        return 0 if report.ok else 2
    if not report.ok:
        print(report.format_report(), file=sys.stderr)
        raise BadInput(f"dataset {report.path} has {len(report.problems)} problem(s); nothing was written")

    finetune = None
    if options.get("finetune"):
        from utils.voice.checkpoints import CheckpointError, architecture_of

        try:
            finetune = training.load_finetune(Path(options["finetune"]))
        except CheckpointError as exc:
            raise BadInput(str(exc)) from exc
    arch = None
    if finetune is not None:
        from utils.voice.checkpoints import architecture_of

        arch = architecture_of(finetune)
        if options.get("quality") and arch:
            _say(f"note: --finetune fixes the network shape; the checkpoint's architecture wins over "
                 f"--quality {options['quality']}")

    from utils.machine.precision_policy import PolicyError
    from utils.machine.runtime_patches import apply_runtime_patches

    training.quiet_known_noise()
    t = time.perf_counter()
    try:
        runtime = apply_runtime_patches(accelerator=options.get("accelerator"),
                                        precision=options.get("precision"))
    except PolicyError as exc:
        raise BadInput(str(exc)) from exc
    for warning in runtime.get("warnings", []):
        _say(f"warning: {warning}")
    settings = training.resolve_settings(options, report, runtime=runtime, previous=previous,
                                         finetune_arch=arch)
    training.check_passthrough_names(options.get("passthrough") or {})
    seconds["setup"] = time.perf_counter() - t

    voice_name = settings["voice"]["voice_name"]
    output = output or default_output(voice_name)
    output = output.resolve()
    if not options.get("resume") and (output / "checkpoints" / training.CHECKPOINT_NAME).exists():
        raise BadInput(f"{output} already holds a trained run — add --resume to continue it, or choose "
                       "another --output")
    cache_root = Path(options["cache_dir"]) if options.get("cache_dir") else default_cache_dir()

    # Nothing was written until here.
    if not worker:
        output.mkdir(parents=True, exist_ok=True)
        settings["versions"] = training.versions()
        settings["command"] = options.get("argv")
        settings["output"] = str(output)
        training.atomic_write_text(output / training.CONFIG_NAME, json.dumps(settings, indent=2, default=str))
        _say(f"training '{voice_name}' ({settings['voice']['quality']}) into {output}; device "
             f"{settings['trainer']['accelerator']}, precision {settings['trainer']['precision']}")

    t = time.perf_counter()
    prepared = prepare_dataset(report, cache_root, progress=not worker,
                               sample_rate=settings["voice"]["sample_rate"])
    seconds["prepare"] = time.perf_counter() - t

    result = training.run_training(settings, prepared, output, cache_root, resume=bool(previous),
                                   finetune=finetune, progress=not options.get("quiet"))
    del finetune
    seconds.update(result.seconds)
    if worker or result.model is None:
        return 0

    history = result.history
    if previous is not None:
        start = result.steps - result.steps_this_run
        earlier = training.read_history(output / "metrics.csv")
        history = [row for row in earlier if row["step"] <= start] + history
    training.write_history(history, output / "metrics.csv")

    files: dict[str, str] = {"config": training.CONFIG_NAME}
    if result.checkpoint is not None:
        files["checkpoint"] = str(result.checkpoint.relative_to(output))
    files["tensorboard"] = "logs/"
    if history:
        files["metrics"] = "metrics.csv"

    from utils.voice import report as run_report

    plot = run_report.plot_losses(history, output / "loss_curves.png",
                                       f"{voice_name}: losses per batch")
    if plot:
        files["loss curves"] = plot.name

    sample = None
    model = result.model
    result.model = None
    if settings["export"] and result.interrupted is None:
        from utils.voice import export

        gc.collect()  # drop optimizer states and the discriminator before tracing the generator
        t = time.perf_counter()
        onnx_path = export.export_onnx(model, output / f"{voice_name}.onnx")
        del model
        export.write_voice_config(output / "checkpoints" / "voice_config.json",
                                        output / f"{voice_name}.onnx.json", voice_name,
                                        settings["voice"]["quality"])
        seconds["export"] = time.perf_counter() - t
        t = time.perf_counter()
        info = export.speak(onnx_path, settings["sample_text"], output / "sample.wav")
        seconds["speak"] = time.perf_counter() - t
        run_report.plot_spectrogram(info.path, output / "sample_spectrogram.png",
                                         f"{voice_name}: \"{settings['sample_text']}\"")
        files |= {"voice": onnx_path.name, "voice config": f"{onnx_path.name}.json", "sample": "sample.wav",
                  "spectrogram": "sample_spectrogram.png"}
        sample = {"text": settings["sample_text"], "seconds": info.seconds, "sample_rate": info.sample_rate,
                  "rms": info.rms, "peak": info.peak}
    seconds["total"] = time.perf_counter() - started

    final = {k: v for k, v in (history[-1] if history else {}).items()
             if k in ("loss_g", "loss_d", "train_mel")}
    summary = {
        "voice": settings["voice"], "dataset": settings["dataset"],
        "device": {**{k: settings["trainer"].get(k) for k in ("accelerator", "devices", "num_nodes",
                                                              "precision")},
                   "reason": settings.get("device_reason")},
        "steps": result.steps, "steps_this_run": result.steps_this_run, "epochs": result.epochs,
        "final_losses": final, "seconds": seconds, "finetune": result.finetune,
        "interrupted": result.interrupted, "output": str(output), "files": files, "sample": sample,
    }
    files["summary"] = "summary.json"
    run_report.write_summary(summary, output / "summary.json")
    print(run_report.summary_text(summary))
    if result.interrupted:
        saved = output / files.get("checkpoint", "checkpoints/last.ckpt")
        raise TrainingFailed(f"stopped by {result.interrupted} after {result.steps} batches; checkpoint "
                             f"{saved} saved — continue with: python -m tasks.train --output {output} "
                             "--resume")
    return 0
