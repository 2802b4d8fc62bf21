"""Download footprint of every locked environment x platform, against the size goals.

    pixi run footprint                  # table + the largest packages; PyPI sizes cached after one fetch
    pixi run footprint --offline        # cached sizes only; totals become lower bounds ("≥")

Same as `python -m benchmarks.bench_footprint [--lock PATH] [--top N] [--offline] [--json]`.
Goals (download size, 1 GB = 10^9 bytes): cpu linux-64 <= 1.0 GB, cuda12 linux-64 <= 4.0 GB.
Prints figures only; exit 0 when measured (goal misses are reported, not fatal), 2 unreadable lock.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from utils.lock.footprint import default_cache_path, measure, resolve_pypi_sizes
from utils.lock.lockfile import DEFAULT_LOCK, LockError, load_lock

GOALS = {("cpu", "linux-64"): 1.0e9, ("cuda12", "linux-64"): 4.0e9}


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="footprint", description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK, help="default: %(default)s")
    parser.add_argument("--top", type=int, default=5, help="largest packages listed per row (default 5)")
    parser.add_argument("--offline", action="store_true", help="do not ask PyPI for wheel sizes")
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"size cache (default {default_cache_path()})"
    )
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    args = parser.parse_args(argv)

    try:
        lock = load_lock(args.lock)
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [(env, plat) for env in lock.environment_names() for plat in lock.platforms(env)]
    pypi = [p for env, plat in rows for p in lock.packages(env, plat) if p.kind == "pypi"]
    print(f"resolving sizes of {len({p.sha256 for p in pypi})} PyPI wheels ...", file=sys.stderr)
    report = resolve_pypi_sizes(pypi, cache_path=args.cache, fetch=not args.offline)
    results = [measure(lock, env, plat, report.sizes, top=args.top) for env, plat in rows]

    if args.json:
        print(json.dumps(_as_json(report, results), indent=2))
    else:
        _print_table(report, results)
    return 0


def _as_json(report, results) -> dict:
    return {
        "pypi_sizes": {"from_cache": report.from_cache, "fetched": report.fetched,
                       "fetched_via_head": report.via_head, "notes": report.notes, "errors": report.errors},
        "rows": [{"env": f.env, "platform": f.platform, "lock_platform": f.lock_platform,
                  "conda_bytes": f.conda_bytes, "pypi_bytes": f.pypi_bytes, "total_bytes": f.total,
                  "lower_bound": bool(f.unknown), "unknown": f.unknown,
                  "goal_bytes": GOALS.get((f.env, f.platform)),
                  "top": [{"package": n, "bytes": b} for n, b in f.top]} for f in results],
    }


def _print_table(report, results) -> None:
    header = ("ENVIRONMENT", "PLATFORM", "CONDA GB", "PYPI GB", "TOTAL GB", "GiB")
    print("{:<11} {:<13} {:>9} {:>8} {:>9} {:>6}  GOAL".format(*header))
    for f in results:
        goal = GOALS.get((f.env, f.platform))
        mark = "≥" if f.unknown else " "
        verdict = "" if goal is None else f"<= {_gb(int(goal))}: {'met' if f.total <= goal else 'MISSED'}"
        print(
            f"{f.env:<11} {f.platform:<13} {_gb(f.conda_bytes):>9} {_gb(f.pypi_bytes):>8} "
            f"{mark}{_gb(f.total):>8} {f.total / 2**30:>6.2f}  {verdict}"
        )
    print()
    for f in results:
        share = ", ".join(f"{n} {b / 1e6:.0f} MB ({100 * b / max(f.total, 1):.0f}%)" for n, b in f.top)
        print(f"{f.env}/{f.platform} largest: {share}")
    unknown = sum(len(f.unknown) for f in results)
    print(
        f"\nPyPI wheel sizes: {report.from_cache} from cache, {report.fetched} fetched "
        f"({report.fetched - report.via_head} via PyPI's JSON API, "
        f"{report.via_head} via HEAD on the wheel URL)"
        + (f"; {unknown} package(s) of unknown size, so totals marked ≥ are lower bounds" if unknown else "")
    )
    for note in report.notes + report.errors[:10]:
        print(f"  fallback: {note}")


if __name__ == "__main__":
    sys.exit(main())
