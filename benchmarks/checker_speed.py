"""How fast scripts/check_async_sqlalchemy.py reads code: lines of Python per second.

    python -m benchmarks.checker_speed            # this repository's Python code, 5 runs
    python -m benchmarks.checker_speed --quick    # one run (proves the benchmark still works)
    python -m benchmarks.checker_speed PATH...    # any files or folders instead

Separate from the database benchmarks of ``python -m benchmarks`` (their registry runs each
benchmark per database lane; the checker needs none). Each run checks every file (parse and
every rule) as one project, the way the command line does; the result is the best run and
the median, as lines per second and as the time for 10,000 lines. Timing, not asserting: the
tests only check that it runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.harness import ROOT, machine

# The checker is a standalone script shipped with the skill, not a package: import it from there.
sys.path.insert(0, str(ROOT / "scripts"))
import check_async_sqlalchemy as checker

DEFAULT_PATHS = ["examples", "tests", "tools", "benchmarks", "scripts"]


def read_sources(paths: list[str]) -> dict[str, str]:
    files, missing = checker.python_files(paths)
    if missing:
        raise SystemExit(f"no such file or directory: {', '.join(missing)}")
    return {str(path): path.read_text(encoding="utf-8") for path in files}


def measure(sources: dict[str, str], runs: int) -> list[float]:
    """Seconds per run of the whole checker over ``sources``."""
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        findings, errors = checker.check_sources(sources)
        times.append(time.perf_counter() - start)
        del findings, errors
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.checker_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", help=f"default: {' '.join(DEFAULT_PATHS)}")
    parser.add_argument("--quick", action="store_true", help="one run instead of five")
    args = parser.parse_args(argv)
    paths = args.paths or [str(ROOT / p) for p in DEFAULT_PATHS]
    sources = read_sources(paths)
    lines = sum(len(text.splitlines()) for text in sources.values())
    times = measure(sources, 1 if args.quick else 5)
    best, median = min(times), statistics.median(times)
    runs = len(times)
    print(f"checker speed: {len(sources)} files, {lines:,} lines, {runs} run(s) on {machine()}")
    print("| run | seconds | lines/second | seconds per 10,000 lines |")
    print("| --- | --: | --: | --: |")
    for label, value in (("best", best), ("median", median)):
        print(f"| {label} | {value:.2f} | {lines / value:,.0f} | {10_000 * value / lines:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
