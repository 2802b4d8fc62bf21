"""Turn a checkpoint into a Piper voice without training: ``<name>.onnx`` + ``.onnx.json`` + a sample.

    pixi run export CKPT [--output DIR] [--voice-name NAME]
    python -m tasks.export outputs/demo/checkpoints/last.ckpt --output /tmp/demo-voice

CKPT is any checkpoint coaxial-train wrote (``checkpoints/last.ckpt`` or a ``best-...ckpt``):
its run folder supplies the voice name, quality, phoneme map and sample sentence. A checkpoint
outside a run folder (piper.train's, or a published Piper checkpoint read by
utils.voice.base.published_checkpoint) gets piper's default phoneme map and ``--espeak-voice``
(default en-us). Files are named as ``pixi run train`` names them (e.g. ``en_US-me-medium``).
Default output: ``outputs/<voice-name>-<checkpoint name>/``.

Exit codes: 0 voice written; 1 export or synthesis failed; 2 bad input (unreadable or non-Piper
checkpoint, bad name; nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", metavar="CKPT", help="a .ckpt file written by coaxial-train")
    parser.add_argument("--output", help="folder for the voice (default: outputs/<voice-name>-<checkpoint name>)")
    parser.add_argument("--voice-name", help="names the files (default: the run's voice name, else 'voice')")
    parser.add_argument("--espeak-voice", help="espeak-ng voice when the checkpoint has no run folder "
                                               "(default: en-us)")
    parser.add_argument("--sample-text", help="sentence spoken into sample.wav (default: the run's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    from utils.machine.espeak_path import guard_espeak_data_path
    from utils.voice.base.checkpoints import CheckpointError
    from utils.voice.publish.checkpoint_export import export_checkpoint, run_settings, safe_stem
    from utils.voice.publish.voice_naming import NamingError

    name = args.voice_name
    if name is not None and (not name or any(ch in name for ch in '/\\:*?"<>|') or name.startswith(".")):
        print(f"error: --voice-name {name!r}: use letters, digits, '-' or '_' (it names files)", file=sys.stderr)
        return 2
    source = Path(args.checkpoint)
    voice_name = name or run_settings(source).get("voice", {}).get("voice_name") or "voice"
    output = Path(args.output) if args.output else Path("outputs") / f"{voice_name}-{safe_stem(source)}"
    print(f"exporting {source} into {output}", file=sys.stderr, flush=True)
    guard_espeak_data_path()  # the sample is spoken through espeak-ng, and macOS's cuts data paths at 159 bytes
    try:
        voice = export_checkpoint(source, output, voice_name=voice_name, espeak_voice=args.espeak_voice,
                                  sample_text=args.sample_text)
    except (CheckpointError, NamingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into exit 1 with its reason
        import traceback

        traceback.print_exc()
        print(f"error: export failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    at = f" (batch {voice.step})" if voice.step is not None else ""
    print(f"Piper voice '{voice.voice_name}' ({voice.quality}) from {source}{at}\n"
          f"  voice:   {voice.onnx}\n  config:  {voice.config}\n"
          f"  sample:  {voice.sample} ({voice.sample_seconds:.2f} s, rms {voice.sample_rms:.3f})\n"
          f"  speak:   python -m piper -m {voice.onnx} -f hello.wav \"Hello there.\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
