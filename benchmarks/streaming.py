"""Read 100,000 and 1,000,000 ``Post`` objects: ``.scalars().all()`` vs ``stream_scalars()``
without and with ``execution_options(yield_per=1000)``: time and peak memory.

Each measurement runs in a fresh Python process (``python -m benchmarks.streaming --child``), so
one variant's memory cannot hide another's. Memory is the process's peak resident set size: it
counts everything the process holds, driver buffers included. On Linux it is read from VmHWM in
/proc/self/status, not from ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries ru_maxrss over
fork and exec, so a child would report the parent's peak. The table also shows how much of the
peak the query itself added, after a 1,000-row warm-up of the same code path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from benchmarks.harness import (
    ROOT,
    Benchmark,
    Check,
    Context,
    LaneResult,
    count,
    median,
    ratio,
    seconds,
)
from benchmarks.seed import seed_posts
from examples.models import Post

VARIANTS = {
    "all": "`(await session.execute(stmt)).scalars().all()`",
    "stream": "`async for` over `await session.stream_scalars(stmt)`",
    "stream_yield_per": "`async for` over `stream_scalars(stmt.execution_options(yield_per=1000))`",
    "partitions": "same, `async for batch in result.partitions()`, `for post in batch`",
}


async def _consume(Session: async_sessionmaker[AsyncSession], variant: str, rows: int) -> int:
    """Read ``rows`` posts the way ``variant`` says; returns how many were seen."""
    stmt = select(Post).where(Post.id <= rows)
    seen = 0
    async with Session() as session:
        if variant == "all":
            posts = (await session.execute(stmt)).scalars().all()
            seen = sum(1 for post in posts if post.title)
        elif variant == "partitions":
            result = await session.stream_scalars(stmt.execution_options(yield_per=1000))
            # One await per batch of 1,000 instead of one per row.
            async for batch in result.partitions():
                seen += sum(1 for post in batch if post.title)
        else:
            if variant == "stream_yield_per":
                stmt = stmt.execution_options(yield_per=1000)
            async for post in await session.stream_scalars(stmt):
                seen += 1 if post.title else 0
    return seen


def _peak_rss_mib() -> float:
    """Peak resident set size of this process since it started."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # "VmHWM:   123456 kB"
                return int(line.split()[1]) / 1024
    # Elsewhere: ru_maxrss (bytes on macOS, KiB on other systems), which may include the peak
    # of the process that started this one.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


async def _child(url: str, variant: str, rows: int) -> dict[str, float]:
    engine = create_async_engine(url)
    try:
        Session = async_sessionmaker(engine)
        await _consume(Session, variant, 1_000)  # warm-up: imports, compiled SQL, a connection
        gc.collect()
        before = _peak_rss_mib()
        start = time.perf_counter()
        seen = await _consume(Session, variant, rows)
        elapsed = time.perf_counter() - start
        peak = _peak_rss_mib()
    finally:
        await engine.dispose()
    return {"rows": seen, "seconds": elapsed, "peak_mib": peak, "growth_mib": peak - before}


def _measure(url: str, variant: str, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.streaming", "--child", variant, str(rows), url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"streaming child {variant} {rows} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rows"] != rows:
        raise RuntimeError(f"streaming child {variant} read {result['rows']} rows of {rows}")
    return result


async def run(ctx: Context) -> LaneResult:
    small, large = ctx.size(100_000, 2_000), ctx.size(1_000_000, 20_000)
    # A full-size read of 1M objects takes tens of seconds: fewer repetitions there.
    reps = {small: ctx.size(3, 1), large: ctx.size(2, 1)}
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    async with ctx.database() as url:
        await seed_posts(url, large, ctx.progress)
        url_text = url.render_as_string(hide_password=False)
        for rep in range(1, max(reps.values()) + 1):
            for rows in (small, large):
                if rep > reps[rows]:
                    continue
                for variant in VARIANTS:
                    # Blocking on purpose: the child is the only thing running.
                    result = await asyncio.to_thread(_measure, url_text, variant, rows)
                    results.setdefault((variant, rows), []).append(result)
                    ctx.progress(
                        f"rep {rep}/{reps[rows]} {variant} {rows:,} rows: "
                        f"{result['seconds']:.2f}s, peak RSS {result['peak_mib']:.0f} MiB"
                    )

    def med(variant: str, rows: int, key: str) -> float:
        return median([r[key] for r in results[(variant, rows)]])

    def memory(variant: str, rows: int) -> str:
        peak, growth = med(variant, rows, "peak_mib"), med(variant, rows, "growth_mib")
        return f"{peak:,.0f} MiB (+{growth:,.0f})"

    table = [
        [
            label,
            seconds(med(variant, small, "seconds")),
            memory(variant, small),
            seconds(med(variant, large, "seconds")),
            memory(variant, large),
            f"{med(variant, large, 'peak_mib') / med(variant, small, 'peak_mib'):.2f}x",
        ]
        for variant, label in VARIANTS.items()
    ]
    flat = med("stream_yield_per", large, "peak_mib") / med("stream_yield_per", small, "peak_mib")
    flat_partitions = med("partitions", large, "peak_mib") / med("partitions", small, "peak_mib")
    all_large = med("all", large, "peak_mib")
    yield_large = med("stream_yield_per", large, "peak_mib")
    per_row = med("stream_yield_per", large, "seconds")
    by_batch = med("partitions", large, "seconds")
    return LaneResult(
        headers=[
            "how",
            f"{count(small)} rows: time",
            "peak RSS (+ query)",
            f"{count(large)} rows: time",
            "peak RSS (+ query)",
            f"peak {count(large)} / {count(small)}",
        ],
        rows=table,
        notes=[
            "Peak RSS of the whole process (VmHWM), in brackets the part the query added; "
            f"each run in its own process; median of {reps[small]} runs at {count(small)} rows, "
            f"{reps[large]} at {count(large)}.",
            f"With `yield_per=1000` the {count(large)}-row read peaks at {flat:.2f}x the "
            f"{count(small)}-row read: flat. `.all()` peaks at {ratio(all_large / yield_large)} "
            f"the memory of `yield_per` at {count(large)} rows.",
            f"Iterating `.partitions()` takes {by_batch / per_row:.2f}x the time of a per-row "
            f"`async for` and {by_batch / med('all', large, 'seconds'):.2f}x the time of "
            "`.all()`: a per-row `async for` pays one await (a greenlet switch) per row.",
        ],
        checks=[
            Check(
                f"yield_per memory stays flat: peak at {count(large)} rows within 1.3x of "
                f"{count(small)} rows",
                flat <= 1.3 and flat_partitions <= 1.3,
            ),
            Check("`.partitions()` is faster than a per-row `async for`", by_batch < per_row),
        ],
        headline={
            f"yield_per peak memory {count(large)} / {count(small)} rows": f"{flat:.2f}x",
            ".all() / yield_per peak memory at large size": ratio(all_large / yield_large),
            "partitions / per-row async for, time": f"{by_batch / per_row:.2f}x",
        },
    )


BENCHMARK = Benchmark(
    name="streaming",
    title="Streaming large results",
    lanes=("postgresql",),
    run=run,
    note="PostgreSQL only: reading 1,000,000 ORM objects takes minutes per variant on the other "
    "lanes; tests/test_streaming.py proves flat memory on every lane by counting objects.",
)


def _main() -> None:
    parser = argparse.ArgumentParser(description="one streaming measurement (internal)")
    parser.add_argument("--child", required=True, choices=sorted(VARIANTS))
    parser.add_argument("rows", type=int)
    parser.add_argument("url")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_child(args.url, args.child, args.rows))))


if __name__ == "__main__":
    _main()
