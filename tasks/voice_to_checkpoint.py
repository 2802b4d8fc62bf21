"""Turn a published Piper voice (``.onnx`` + ``.onnx.json``) into a checkpoint to fine-tune from.

    pixi run voice-to-checkpoint VOICE.onnx OUT.ckpt
    python -m tasks.voice_to_checkpoint en_US-joe-medium.onnx bases/joe.ckpt
    python -m tasks.train --dataset DIR --finetune bases/joe.ckpt     # or --finetune VOICE.onnx directly

Every weight the voice's graph holds is restored (text encoder, duration predictor, flow, decoder,
speaker table); what only training uses (posterior encoder, the duration predictor's posterior
flows, both discriminators) starts fresh and is listed. The checkpoint records the voice's file
name, sha256 and .onnx.json; ``tasks.export`` of it speaks as the voice does. Written atomically.

Exit codes: 0 written; 1 writing failed (disk full, ...); 2 bad input (a damaged or truncated
.onnx, no .onnx.json beside it, a config that does not fit the graph, an ONNX model that is no Piper
voice, an inference weight that cannot be placed): one line naming the file and the fix, nothing
written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.voice_to_checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("voice", metavar="VOICE.onnx", help="a Piper voice; its .onnx.json must lie beside it")
    parser.add_argument("output", metavar="OUT.ckpt", help="checkpoint to write (refused if it exists, "
                                                          "unless --force)")
    parser.add_argument("--force", action="store_true", help="replace OUT.ckpt if it exists")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the fresh parts (default 1234)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    from utils.errors import UserError
    from utils.voice.base.onnx_voice import convert_voice

    output = Path(args.output)
    if output.exists() and not args.force:
        print(f"error: {output} exists — choose another OUT.ckpt or add --force", file=sys.stderr)
        return 2
    if output.suffix != ".ckpt":
        print(f"error: {output}: name the checkpoint *.ckpt (tasks.train --finetune and tasks.export read it)",
              file=sys.stderr)
        return 2
    try:
        voice = convert_voice(Path(args.voice), output, seed=args.seed,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: writing {output} failed: {exc}", file=sys.stderr)
        return 1
    print(f"{output}: {voice.describe()}")
    print(f"  restored: {len(voice.restored)} tensors, {voice.restored_numbers / 1e6:.2f} M numbers "
          "(text encoder, duration predictor, flow, decoder" + (", speakers" if voice.num_speakers > 1 else "") + ")")
    print("  fresh:    " + "; ".join(f"{label} {count / 1e6:.2f} M" for label, count in voice.fresh.items())
          + "; both discriminators")
    print(f"  source:   {voice.path.name} sha256 {voice.sha256}")
    print(f"  next:     python -m tasks.train --dataset DIR --finetune {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
