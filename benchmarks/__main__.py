"""Run the benchmarks: ``python -m benchmarks [NAME ...] [--quick] [--lanes ...] [--write]``.

Databases come from tools/databases.py, as for the tests: the URL in SQLA_TEST_POSTGRESQL_URL /
SQLA_TEST_MYSQL_URL when set, otherwise embedded PostgreSQL / a throwaway MariaDB. Every
benchmark works in a database of its own, dropped afterwards.

Tables go to stdout as markdown, progress to stderr. ``--write`` puts the tables into
references/performance.md (full size only). ``--quick`` runs everything at small sizes, in
seconds, to prove the benchmarks still work (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shlex
import sys
import time

from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks import registry
from benchmarks.harness import Context, LaneResult, lane_label, machine, server_version
from benchmarks.report import missing_blocks, render_block, write_blocks
from tools.databases import BACKENDS, LaneUnavailable, Server, server_for


def _parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the performance claims of the skill.",
        epilog=f"benchmarks: {', '.join(names)}",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, seconds each: proves they still work"
    )
    parser.add_argument(
        "--lanes",
        default="postgresql",
        help=f"comma-separated lanes among {','.join(BACKENDS)} (default: postgresql); a "
        "benchmark runs on the lanes where its comparison means something",
    )
    parser.add_argument(
        "--write", action="store_true", help="write the tables into references/performance.md"
    )
    return parser


async def _label(server: Server) -> str:
    engine = create_async_engine(server.admin_url)
    try:
        return lane_label(server.backend, await server_version(engine))
    finally:
        await engine.dispose()


async def run(
    names: list[str], lanes: list[str], quick: bool, command: str, write: bool = False
) -> dict[str, str]:
    """Run the benchmarks; returns the markdown block of each. Raises on a failed check.

    With ``write``, each block goes into performance.md as soon as its benchmark finishes, so a
    long run that fails late keeps what it measured."""
    benchmarks = registry()
    servers: dict[str, Server] = {}
    labels: dict[str, str] = {}
    blocks: dict[str, str] = {}
    failed: list[str] = []
    summary: list[str] = []
    date = datetime.date.today().isoformat()
    where = machine()
    print(f"# `{command}`\n\n{date}, {where}\n", flush=True)
    try:
        for name in names:
            benchmark = benchmarks[name]
            here = [lane for lane in lanes if lane in benchmark.lanes]
            if not here:
                print(
                    f"[{name}] skipped: it runs on {', '.join(benchmark.lanes)} only",
                    file=sys.stderr,
                )
                continue
            results: list[tuple[str, LaneResult]] = []
            for lane in here:
                if lane not in servers:
                    servers[lane] = server_for(lane)
                    labels[lane] = await _label(servers[lane])
                ctx = Context(name, lane, servers[lane], quick)
                ctx.progress(f"start ({'quick' if quick else 'full size'}) on {labels[lane]}")
                start = time.perf_counter()
                result = await benchmark.run(ctx)
                ctx.progress(f"done in {time.perf_counter() - start:.0f}s")
                results.append((labels[lane], result))
                summary += [f"{name} {lane}: {k}: {v}" for k, v in result.headline.items()]
                failed += [f"{name} {lane}: {c.claim}" for c in result.checks if not c.ok]
            block = render_block(command, date, where, results, benchmark.note)
            print(f"## {benchmark.title}\n\n{block}\n", flush=True)
            blocks[name] = block
            if write:
                write_blocks({name: block})
                print(f"[{name}] written into references/performance.md", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    for line in summary:
        print(f"headline: {line}", file=sys.stderr)
    for line in failed:
        print(f"CHECK FAILED: {line}", file=sys.stderr)
    if failed and not quick:
        raise ChecksFailed("some claims did not hold in this run")
    return blocks


class ChecksFailed(Exception):
    """Some claim of the skill did not hold at full size (the tables say which)."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    available = list(registry())
    parser = _parser(available)
    args = parser.parse_args(argv)
    names = args.names or available
    unknown = [name for name in names if name not in available]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(available)}"
        )
    lanes = [lane.strip() for lane in args.lanes.split(",") if lane.strip()]
    bad_lanes = [lane for lane in lanes if lane not in BACKENDS]
    if bad_lanes or not lanes:
        parser.error(f"--lanes: choose from {','.join(BACKENDS)}, got {args.lanes!r}")
    if args.quick and args.write:
        parser.error("--quick never writes references/performance.md: drop --quick or --write")
    if args.write and (missing := missing_blocks(names)):
        parser.error(f"references/performance.md has no markers for {', '.join(missing)}")
    command = shlex.join(["python", "-m", "benchmarks", *argv])
    started = time.perf_counter()
    status = 0
    try:
        asyncio.run(run(names, lanes, args.quick, command, write=args.write))
    except LaneUnavailable as exc:
        print(f"a database lane is unavailable: {exc}", file=sys.stderr)
        return 2
    except ChecksFailed:
        status = 1
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
