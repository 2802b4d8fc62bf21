"""Score voices against held-out recordings: MCD-DTW, F0 RMSE and voicing error, duration ratio, WER, listener score.

    pixi run evaluate --voice outputs/demo/demo.onnx --dataset data/sample
    python -m tasks.evaluate --voice base/voice.onnx --voice outputs/me/en_US-me-medium.onnx --run outputs/me --json

Each clip's sentence is spoken by each ``--voice`` through the piper runtime (as a user hears it)
and compared with the recording: mel-cepstral distortion after time warping, F0 error in cents
and voicing-decision error, the ratio of speech durations, and (English voices) the word error
rate of the pocketsphinx recogniser next to its error on the recordings themselves (the ceiling).
Each voice, and each recording (the ceiling), also gets a predicted listener score (DNSMOS's
overall score, 1 bad .. 5 excellent, offline), which rates how the speech sounds on its own.
``--run OUTPUT`` uses exactly the clips that run held out for validation (``held_out.json``).

Exit codes: 0 scored; 1 scoring failed; 2 bad input (a voice that cannot be read or cannot match
the recordings' sample rate, speakers or language; a dataset with problems; a run without
held-out clips). Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    from utils.voice.evaluate.held_out import DEFAULT_CLIPS

    parser = argparse.ArgumentParser(prog="python -m tasks.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--voice", action="append", required=True, metavar="VOICE.onnx",
                        help="a voice (its .onnx.json beside it); repeat to compare voices side by side")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="DIR", help="recordings to compare with: any dataset train accepts")
    source.add_argument("--run", metavar="OUTPUT", help="a training output folder: the clips its run held out")
    parser.add_argument("--clips", type=int, default=DEFAULT_CLIPS, metavar="N",
                        help=f"compare on N clips, spread over the recordings (default {DEFAULT_CLIPS})")
    parser.add_argument("--no-wer", action="store_true", help="skip the recogniser (the slowest measure)")
    parser.add_argument("--no-listener", action="store_true",
                        help="skip the predicted listener score (DNSMOS, about half a second per clip)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return int(exc.code or 0)
    if args.clips < 1:
        print(f"error: --clips {args.clips}: give at least 1", file=sys.stderr)
        return 2

    from utils.errors import UserError
    from utils.machine.espeak_path import guard_espeak_data_path
    from utils.voice.evaluate import held_out, scoring
    from utils.voice.evaluate.listener import ListenerScore, listener_missing
    from utils.voice.evaluate.recognizer import Recognizer
    from utils.voice.evaluate.voices import check_match, load_voice

    try:
        guard_espeak_data_path()  # before load_voice starts espeak-ng: macOS's cuts data paths at 159 bytes
        recordings = held_out.from_run(args.run, args.clips) if args.run \
            else held_out.from_dataset(args.dataset, args.clips)
        voices = [load_voice(path) for path in args.voice]
        for voice in voices:
            check_match(voice, recordings.sample_rate, recordings.speakers, recordings.source,
                        recordings.espeak_voice)
        recognizer = None if args.no_wer else Recognizer()
        missing = "not asked for (--no-listener)" if args.no_listener else listener_missing()
        judges = scoring.Judges(recognizer, None if missing else ListenerScore(), listener_note=missing)
        results = [scoring.evaluate_voice(voice, recordings, judges) for voice in voices]
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(scoring.as_json(results, recordings), indent=1, ensure_ascii=False))
    else:
        print(scoring.format_table(results, recordings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
