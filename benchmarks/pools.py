"""200 concurrent tasks, each with its own session doing 5 primary-key lookups, through pools of
5, 10 and 20 connections (``max_overflow=0``): throughput and time spent waiting for a connection.

The wait is how long ``await session.connection()`` takes: that call checks a connection out of
the pool, and waits while every connection is busy. Each pool is warmed up (every connection
opened) before it is measured.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.harness import (
    Benchmark,
    Check,
    Context,
    LaneResult,
    count,
    median,
    percentile,
    seconds,
)
from examples.models import Base, User

POOL_SIZES = (5, 10, 20)
QUERIES_PER_TASK = 5
USERS = 1_000


async def _task(
    Session: async_sessionmaker[AsyncSession],
    first_id: int,
    waits: list[float],
    per_query: list[float],
) -> None:
    async with Session() as session:
        start = time.perf_counter()
        await session.connection()  # checkout: waits here while the pool is exhausted
        checked_out = time.perf_counter()
        for offset in range(QUERIES_PER_TASK):
            user = await session.get(User, (first_id + offset) % USERS + 1)
            assert user is not None
        done = time.perf_counter()
    waits.append(checked_out - start)
    per_query.append((done - checked_out) / QUERIES_PER_TASK)


async def _round(
    Session: async_sessionmaker[AsyncSession],
    tasks: int,
    waits: list[float],
    per_query: list[float],
) -> float:
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(tasks):
            group.create_task(_task(Session, number * QUERIES_PER_TASK, waits, per_query))
    return time.perf_counter() - start


async def run(ctx: Context) -> LaneResult:
    tasks = ctx.size(200, 40)
    reps = ctx.size(5, 1)
    results = []
    async with ctx.database() as url:
        async with ctx.engine(url) as engine, engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                insert(User),
                [{"email": f"u{i}@example.com", "name": f"User {i}"} for i in range(USERS)],
            )
        for size in POOL_SIZES:
            async with ctx.engine(url, pool_size=size, max_overflow=0) as engine:
                Session = async_sessionmaker(engine)
                await _round(Session, tasks, [], [])  # warm-up: opens every connection
                walls: list[float] = []
                waits: list[float] = []
                per_query: list[float] = []
                for rep in range(1, reps + 1):
                    wall = await _round(Session, tasks, waits, per_query)
                    walls.append(wall)
                    ctx.progress(
                        f"pool_size={size} rep {rep}/{reps}: {tasks} tasks in {wall * 1000:.0f} ms"
                    )
            results.append((size, median(walls), waits, per_query))
    queries = tasks * QUERIES_PER_TASK
    best = max(queries / wall for _, wall, _, _ in results)
    rows = [
        [
            f"`pool_size={size}, max_overflow=0`",
            count(queries / wall),
            f"{queries / wall / best:.2f}",
            seconds(percentile(waits, 0.5)),
            seconds(percentile(waits, 0.95)),
            seconds(percentile(per_query, 0.5)),
        ]
        for size, wall, waits, per_query in results
    ]
    throughput = {size: queries / wall for size, wall, _, _ in results}
    wait_p50 = {size: percentile(waits, 0.5) for size, _, waits, _ in results}
    query_p50 = {size: percentile(per_query, 0.5) for size, _, _, per_query in results}
    small, large = POOL_SIZES[0], POOL_SIZES[-1]
    return LaneResult(
        headers=[
            "pool",
            "queries/s",
            "vs best",
            "checkout wait p50",
            "checkout wait p95",
            "query time p50",
        ],
        rows=rows,
        notes=[
            f"{tasks} tasks x {QUERIES_PER_TASK} `session.get()` each, all started at once; "
            f"median throughput of {reps} rounds, wait and query percentiles over all rounds.",
            f"pool_size={large} vs {small}: "
            f"throughput {throughput[large] / throughput[small]:.2f}x, "
            f"checkout wait p50 {wait_p50[large] / max(wait_p50[small], 1e-6):.2f}x, "
            f"query time p50 {query_p50[large] / query_p50[small]:.2f}x.",
        ],
        checks=[
            Check(
                f"pool_size={large} gains less than 2x the throughput of pool_size={small}",
                throughput[large] < 2 * throughput[small],
            )
        ],
        headline={
            f"throughput pool {large} vs {small}": f"{throughput[large] / throughput[small]:.2f}x"
        },
    )


BENCHMARK = Benchmark(
    name="pools",
    title="Connection pool size",
    lanes=("postgresql", "mysql"),
    run=run,
    note="PostgreSQL and MariaDB (SQLite has no server to share).",
)
