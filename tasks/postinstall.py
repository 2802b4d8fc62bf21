"""After installing an environment: check the alignment kernel, probe the hardware, record a profile.

    pixi run postinstall                 # cached by pixi; other tasks depend on it
    python -m tasks.postinstall [--output PATH]

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
    args = parser.parse_args(argv)
    if args.output is not None and args.output.is_dir():
        print(f"error: --output {args.output} is a directory; give a file path", file=sys.stderr)
        return 2

    from utils.machine import machine_profile
    from utils.machine.piper_compat import PiperCompatError

    path = args.output or machine_profile.default_profile_path()
    print("postinstall: probing hardware and warming the alignment kernel ...", file=sys.stderr, flush=True)
    try:
        profile = machine_profile.build_profile()
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
