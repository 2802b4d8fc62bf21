"""After an install: check the alignment kernel, probe the hardware, time the precisions, record a profile.

    pixi run postinstall                 # cached by pixi; other tasks depend on it
    python -m tasks.postinstall [--output PATH] [--remeasure | --no-measure]

Where the device may train well in more than one precision (a CPU with AVX512-BF16/AMX: 32-true
and bf16-mixed; a CUDA 7.x card: 32-true and 16-mixed), a few real training steps in each
(under 30 s) pick the fastest whose losses match 32-true's; training then uses that choice and
says why. The measurement is kept while the device and torch stay the same (--remeasure takes a
new one; --no-measure leaves the choice to the CPU flags, e.g. in an image built on another machine).
Safe with no GPU, safe to run twice or concurrently (the profile changes only when its content
does, by atomic replace). The profile goes to .pixi/coaxial-profile-<env>.json under pixi, else
to the user cache dir.
Exit codes: 0 ok, 1 the kernel or piper compatibility check failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.postinstall", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=None, help="profile path (default: see above)")
    measuring = parser.add_mutually_exclusive_group()
    measuring.add_argument("--remeasure", action="store_true",
                           help="time the precisions again even if this device and torch were measured")
    measuring.add_argument("--no-measure", action="store_true",
                           help="do not time the precisions (the CPU flags and the GPU generation decide)")
    args = parser.parse_args(argv)
    if args.output is not None and args.output.is_dir():
        print(f"error: --output {args.output} is a directory; give a file path", file=sys.stderr)
        return 2

    from utils.machine import machine_profile
    from utils.machine.piper_compat import PiperCompatError

    path = args.output or machine_profile.default_profile_path()
    print("postinstall: probing hardware and warming the alignment kernel ...", file=sys.stderr, flush=True)
    def progress(step: str) -> None:
        print(f"postinstall: timing precisions, {step} ...", file=sys.stderr, flush=True)

    try:
        profile = machine_profile.build_profile(machine_profile.read_profile(path), measure=not args.no_measure,
                                                remeasure=args.remeasure, progress=progress)
    except PiperCompatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        written = machine_profile.write_if_changed(path, profile)
    except OSError as exc:
        print(f"error: cannot write {path}: {exc}; pass --output PATH", file=sys.stderr)
        return 1
    print(machine_profile.format_summary(profile, path, written))
    if not profile["kernel"]["ok"]:
        print("error: the alignment kernel returned a wrong path; "
              "report a bug against utils/machine/monotonic_align.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
