"""Install a trained voice into a wyoming-piper data folder (Home Assistant: /share/piper).

    pixi run install-voice outputs/en_US-anna-medium --to /share/piper
    python -m tasks.install_voice outputs/en_US-anna-medium/en_US-anna-medium.onnx --to ~/piper-data

Copies ``<name>.onnx.json`` and then ``<name>.onnx`` atomically and prints how to make Home
Assistant (or a standalone wyoming-piper) load it. Exit codes: 0 installed; 1 the copy failed;
2 bad input (no voice, or a config wyoming-piper would not list under its name; nothing copied).
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.install_voice",
                                     description="Copy a trained voice into a wyoming-piper data folder.")
    parser.add_argument("voice", metavar="OUTPUT_DIR", help="training output folder, or its <name>.onnx")
    parser.add_argument("--to", required=True, metavar="DIR",
                        help="wyoming-piper --data-dir (Home Assistant's Piper add-on: /share/piper)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from utils.voice.publish.install import InstallError, install_voice, reload_instructions

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return int(exc.code or 0)
    target = Path(args.to).expanduser()
    try:
        installed = install_voice(Path(args.voice), target)
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: copying into {target} failed: {exc}", file=sys.stderr)
        return 1
    print(reload_instructions(installed, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
