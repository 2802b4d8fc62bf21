"""Re-solve pixi.lock from pixi.toml, then regenerate the exports in environments/.

    pixi run lock                  # pixi's own solver where conda-forge is reachable
    python -m tasks.lock --offline ../shared/offline-lock/lock   # our machines: no conda channels

Exit codes: 0 ok, 1 the solver or the export failed, 2 no solver found.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_TOOL = REPO_ROOT.parent / "shared" / "offline-lock" / "lock"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.lock", description=__doc__.split("\n")[0])
    parser.add_argument("--offline", metavar="TOOL", nargs="?", const=str(OFFLINE_TOOL),
                        help="solve with the offline locker instead of pixi (default path: %(const)s)")
    args = parser.parse_args(argv)

    if args.offline:
        solver = [args.offline, "--manifest", "pixi.toml", "--output", "pixi.lock"]
        if not Path(args.offline).exists():
            print(f"error: offline locker {args.offline} not found", file=sys.stderr)
            return 2
    elif shutil.which("pixi"):
        solver = ["pixi", "lock"]
    else:
        print("error: pixi is not on PATH; install pixi (https://pixi.sh) or pass --offline TOOL", file=sys.stderr)
        return 2
    print("$ " + " ".join(solver), flush=True)
    if subprocess.run(solver, cwd=REPO_ROOT).returncode != 0:
        print("error: the solver failed; pixi.lock is unchanged unless it said otherwise", file=sys.stderr)
        return 1
    export = [sys.executable, "-m", "tasks.export_envs"]
    print("$ " + " ".join(export[1:]), flush=True)
    return 0 if subprocess.run(export, cwd=REPO_ROOT).returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
