"""Train a Piper (VITS) voice and export it for the piper runtime.

    pixi run train                                  # demo: bundled sample, ~10 batches, outputs/demo/
    pixi run train --dataset DIR --voice-name NAME  # your recordings -> outputs/NAME/
    pixi run train --dataset DIR --voice-name anna --base en_US-lessac-medium --max-epochs 300
                                                    # fine-tune -> outputs/anna/en_US-anna-medium.onnx
    python -m tasks.train --dataset DIR --validate-only

Without --dataset it trains on the bundled sample (data/sample) on a short demo schedule
(quality x_low, 10 batches) and leaves outputs/demo/demo.onnx + demo.onnx.json, sample.wav,
loss_curves.png, sample_spectrogram.png, summary.json, train_config.json, checkpoints/last.ckpt
and TensorBoard logs in logs/. Every run also leaves report.html (a live page: progress, mel
loss, one player per sample) and samples/step-N.wav; a run with validation keeps
checkpoints/best-batch=N-val_mel=X.ckpt (--keep-best K; --best-by mcd|f0_rmse|...|wer ranks by a
voice measure on held-out clips instead, measured at every validation: pixi run evaluate) and
exports from the best one. Lightning
options pass through as --trainer.NAME=VALUE (piper's model/data options as --model.NAME=VALUE /
--data.NAME=VALUE).

Exit codes: 0 voice trained (and exported); 1 runtime failure (a base download failed or did not
match its sha256, included), disk full, or stopped by SIGINT/SIGTERM/SIGHUP (a checkpoint is
saved; continue with --resume; under Slurm SIGUSR1 also requeues the job); 2 bad input or the
output folder in use by another run (nothing written).
Errors are one line; --debug adds the traceback.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from utils.voice.run.configure.resume_mode import RESUME_MODES
    from utils.voice.run.configure.watch_options import add_arguments as add_watch_arguments

    parser = argparse.ArgumentParser(
        prog="python -m tasks.train",
        description="Train a Piper voice (piper.train VITS) and export <name>.onnx + <name>.onnx.json.",
        epilog="A step is one batch (one generator + one discriminator update). Lightning options pass "
               "through as --trainer.NAME=VALUE; piper's as --model.NAME=VALUE and --data.NAME=VALUE.",
    )
    _add_data_and_voice(parser)
    _add_schedule_and_device(parser)
    _add_base(parser)
    run = parser.add_argument_group("run")
    run.add_argument("--resume", nargs="?", const="yes", choices=RESUME_MODES, metavar="auto",
                     help="continue from --output's checkpoints/last.ckpt; --resume auto: continue if it "
                          "exists, start a new run otherwise (for requeued cluster jobs)")
    run.add_argument("--no-export", action="store_true", help="skip ONNX export and the spoken sample")
    run.add_argument("--quiet", action="store_true", help="no training progress bar")
    run.add_argument("--debug", action="store_true", help="print the traceback behind an error message")
    add_watch_arguments(parser)
    return parser


def _add_data_and_voice(parser: argparse.ArgumentParser) -> None:
    from utils.voice.run_config import QUALITIES

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", help="Piper CSV folder or recorder voice profile (default: the bundled "
                                        "sample on a short demo schedule)")
    data.add_argument("--validate-only", action="store_true", help="print the dataset report and exit")
    data.add_argument("--json", action="store_true", help="with --validate-only: the report as one JSON object")
    data.add_argument("--exclude", type=_exclude_kinds, metavar="KIND[,KIND]",
                      help="leave clips the content checks flag out of training: clipped, silence, noise, "
                           "mismatch, duplicate, bandwidth, level, or all")
    data.add_argument("--trim-silence", action="store_true", default=None,
                      help="trim leading and trailing non-speech in the converted copy (your files are not changed)")
    data.add_argument("--cache-dir", help="converted audio and piper features "
                                          "(default: $COAXIAL_CACHE, else the user cache folder / coaxial-train)")
    voice = parser.add_argument_group("voice")
    voice.add_argument("--output", help="output folder (default: outputs/<voice-name>)")
    voice.add_argument("--voice-name", help="names the files (default: demo for the sample, else voice)")
    voice.add_argument("--espeak-voice", help="espeak-ng voice for phonemes (default: en-us)")
    voice.add_argument("--quality", choices=list(QUALITIES),
                       help="Piper's published tiers: x_low and low at 16 kHz, medium and high at 22050 Hz "
                            "(default: medium; demo x_low; a fine-tune keeps its checkpoint's)")
    voice.add_argument("--sample-text", action="append",
                       help="sentence spoken into samples/ while training and into sample.wav; repeat it, "
                            "or give a text file with one sentence per line")
    voice.add_argument("--language", metavar="CODE", help="language code of the voice, e.g. en_US (default: "
                                                          "from --espeak-voice); names the files like "
                                                          "published voices: <CODE>-<voice-name>-<quality>")


def _exclude_kinds(text: str) -> list[str]:
    from utils.voice.data.content_checks import exclude_kinds

    try:
        return exclude_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_schedule_and_device(parser: argparse.ArgumentParser) -> None:
    sched = parser.add_argument_group("schedule")
    sched.add_argument("--max-steps", type=int,
                       help="batches to train in total (demo: 10); a fine-tune counts from zero, on top of its base")
    sched.add_argument("--max-epochs", type=int, help="epochs to train (default 1000 without --max-steps)")
    sched.add_argument("--batch-size", type=int, help="clips per batch (default 16; demo 2)")
    sched.add_argument("--segment-size", type=int, help="audio samples per training slice, multiple of 256 "
                                                        "(default 8192; demo 4096)")
    sched.add_argument("--num-workers", type=int, help="data loader processes (default 2; demo 0)")
    sched.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="also save checkpoints/last.ckpt every N batches (always: at the end, on "
                            "SIGINT/SIGTERM, every 10 minutes)")
    sched.add_argument("--seed", type=int, help="random seed (default 1234)")
    device = parser.add_argument_group("device")
    device.add_argument("--accelerator",
                        help="cpu, cuda, mps or auto (default: auto, from utils.machine.precision_policy)")
    device.add_argument("--precision", help="Lightning precision, e.g. 32-true, bf16-mixed (default: policy)")
    device.add_argument("--devices", type=int, help="devices per node; > 1 trains with DDP")
    device.add_argument("--num-nodes", type=int, help="machines (Lightning DDP; set MASTER_ADDR, NODE_RANK)")


def _add_base(parser: argparse.ArgumentParser) -> None:
    base = parser.add_argument_group("fine-tune from a base (weights only; the base fixes network and sample rate)")
    base.add_argument("--base", metavar="NAME", help="a pinned base from data/base_checkpoints.toml, e.g. "
                                                      "en_US-lessac-medium (downloaded, checked, cached)")
    base.add_argument("--base-url", metavar="URL", help="any base checkpoint over http(s); needs --base-sha256")
    base.add_argument("--base-sha256", metavar="HEX", help="sha256 the --base-url file must have")
    base.add_argument("--base-speaker", type=int, metavar="N",
                      help="for a multi-speaker base: start from speaker N as a single-speaker voice")
    base.add_argument("--finetune", metavar="CKPT|VOICE.onnx",
                      help="a local Piper checkpoint (published piper_train, piper.train or coaxial-train), or "
                           "a published voice's .onnx (its .onnx.json beside it): its weights are restored, "
                           "what only training uses starts fresh")
    base.add_argument("--warmup-batches", type=int, metavar="N",
                      help="fine-tune from a voice's ONNX: train its fresh parts alone for N batches, the "
                           "restored ones held still, then everything (default: measured, see docs/fine-tuning.md)")
    base.add_argument("--finetune-lr-scale", type=float, metavar="F",
                      help="fine-tune from a voice's ONNX: after the warm-up the generator learns at F times "
                           "piper's learning rate (default: measured, see docs/fine-tuning.md)")


def main(argv: list[str] | None = None) -> int:
    from utils.errors import BadInput
    from utils.voice.options import TrainOptions
    from utils.voice.run.configure.passthrough import parse_passthrough

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
        if args.json and not args.validate_only:
            parser.error("--json goes with --validate-only (a training run writes summary.json)")
        options = TrainOptions.from_namespace(args, passthrough=parse_passthrough(rest), argv=argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return int(exc.code or 0)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from utils.machine.espeak_path import guard_espeak_data_path
    from utils.voice import pipeline
    from utils.voice.run.results.outcome import report_failure

    try:
        guard_espeak_data_path()  # before anything starts espeak-ng: macOS's cuts data paths at 159 bytes
        if options.validate_only:
            return pipeline.validate_only(options.dataset, options.watch.max_phoneme_ids, options.voice.espeak_voice,
                                          report_format="json" if options.json else "text", exclude=options.exclude,
                                          quality=options.voice.quality, cache_dir=options.cache_dir)
        return pipeline.train(options)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure becomes a line and a code
        # bad input 2, disk full / stopped / failed 1; a traceback only with --debug or for a bug
        return report_failure(exc, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
