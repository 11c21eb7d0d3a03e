"""200 concurrent tasks, each with its own session, through pools of 2 to 40 connections
(``max_overflow=0``), for three kinds of query: throughput and time spent waiting for a
connection.

The kinds differ in where a query spends its time, which decides how many connections help:

* ``lookups``: 5 primary-key ``session.get()`` per task. Almost no server time: the one Python
  process (SQLAlchemy, the driver's protocol code) is the bottleneck.
* ``server wait``: 2 statements per task that each wait 5 ms on the server without using its
  CPU (``pg_sleep`` / ``SLEEP``), as queries that wait for disk or locks do.
* ``server CPU``: 1 statement per task that keeps a server core busy for about 5 ms
  (``generate_series`` / ``BENCHMARK``), as a heavy aggregate does.

The wait is how long ``await session.connection()`` takes: that call checks a connection out of
the pool, and waits while every connection is busy. Rounds are interleaved (every pool size
once, then again) so a busy minute on the shared machine hurts every size alike; each pool
opens all its connections before it is measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import URL, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.harness import (
    Benchmark,
    Check,
    Context,
    LaneResult,
    count,
    median,
    percentile,
    ratio,
    seconds,
)
from examples.models import Base, User

POOL_SIZES = (2, 5, 10, 20, 40)
TASKS = 200
USERS = 1_000

# Statements that spend about 5 ms on the server: waiting, or computing on one core.
SERVER_WAIT = {"postgresql": "SELECT pg_sleep(0.005)", "mysql": "SELECT SLEEP(0.005)"}
SERVER_CPU = {
    "postgresql": "SELECT sum(i) FROM generate_series(1, 60000) AS i",
    "mysql": "SELECT BENCHMARK(10000, MD5('abc'))",
}

Query = Callable[[AsyncSession, int], Awaitable[object]]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    queries_per_task: int
    query: Query


def _workloads(backend: str) -> list[Workload]:
    async def lookup(session: AsyncSession, n: int) -> object:
        user = await session.get(User, n % USERS + 1)
        assert user is not None
        return user

    async def server_wait(session: AsyncSession, n: int) -> object:
        return await session.execute(text(SERVER_WAIT[backend]))

    async def server_cpu(session: AsyncSession, n: int) -> object:
        return await session.execute(text(SERVER_CPU[backend]))

    return [
        Workload("lookups", "5 `session.get()` by primary key", 5, lookup),
        Workload("server wait", f"2 x `{SERVER_WAIT[backend]}`", 2, server_wait),
        Workload("server CPU", f"1 x `{SERVER_CPU[backend]}`", 1, server_cpu),
    ]


@dataclass
class Samples:
    """One (workload, pool size): every round's wall time, every task's wait and query times."""

    walls: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)  # this process's CPU time / wall time
    waits: list[float] = field(default_factory=list)
    per_query: list[float] = field(default_factory=list)


async def _task(
    Session: async_sessionmaker[AsyncSession], workload: Workload, first: int, samples: Samples
) -> None:
    async with Session() as session:
        start = time.perf_counter()
        await session.connection()  # checkout: waits here while the pool is exhausted
        checked_out = time.perf_counter()
        for offset in range(workload.queries_per_task):
            await workload.query(session, first + offset)
        done = time.perf_counter()
    samples.waits.append(checked_out - start)
    samples.per_query.append((done - checked_out) / workload.queries_per_task)


async def _round(
    Session: async_sessionmaker[AsyncSession], workload: Workload, tasks: int, samples: Samples
) -> float:
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(tasks):
            group.create_task(_task(Session, workload, number * 5, samples))
    return time.perf_counter() - start


async def _open_every_connection(engine: AsyncEngine, size: int) -> None:
    """Check out ``size`` connections at once, so the measured round opens none."""
    async with asyncio.TaskGroup() as group:
        for _ in range(size):
            group.create_task(_hold_briefly(engine))


async def _hold_briefly(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await asyncio.sleep(0.05)


async def _solo_query_time(url: URL, ctx: Context, workload: Workload) -> float:
    """Median time of one query with nothing else running: the workload's own latency."""
    async with ctx.engine(url, pool_size=1, max_overflow=0) as engine:
        Session = async_sessionmaker(engine)
        times = []
        async with Session() as session:
            await session.connection()
            for n in range(21):
                start = time.perf_counter()
                await workload.query(session, n)
                times.append(time.perf_counter() - start)
        return median(times[1:])


async def run(ctx: Context) -> LaneResult:
    tasks = ctx.size(TASKS, 40)
    reps = ctx.size(5, 1)
    sizes = POOL_SIZES if not ctx.quick else (2, 10)
    workloads = _workloads(ctx.lane)
    samples = {(w.name, size): Samples() for w in workloads for size in sizes}
    solo: dict[str, float] = {}
    async with ctx.database() as url:
        async with ctx.engine(url) as engine, engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                insert(User),
                [{"email": f"u{i}@example.com", "name": f"User {i}"} for i in range(USERS)],
            )
        for workload in workloads:
            solo[workload.name] = await _solo_query_time(url, ctx, workload)
        for rep in range(1, reps + 1):
            for workload in workloads:
                for size in sizes:
                    async with ctx.engine(url, pool_size=size, max_overflow=0) as engine:
                        await _open_every_connection(engine, size)
                        got = samples[(workload.name, size)]
                        cpu = time.process_time()
                        wall = await _round(async_sessionmaker(engine), workload, tasks, got)
                        got.walls.append(wall)
                        got.busy.append((time.process_time() - cpu) / wall)
                ctx.progress(f"rep {rep}/{reps}: {workload.name} done for every pool size")

    rows = []
    notes = []
    checks = []
    headline = {}
    best_sizes = {}
    for workload in workloads:
        queries = tasks * workload.queries_per_task
        throughput = {s: queries / median(samples[(workload.name, s)].walls) for s in sizes}
        best = max(throughput.values())
        best_size = max(throughput, key=lambda s: throughput[s])
        best_sizes[workload.name] = best_size
        for size in sizes:
            got = samples[(workload.name, size)]
            rows.append(
                [
                    workload.name if size == sizes[0] else "",
                    f"`pool_size={size}`",
                    count(throughput[size]),
                    f"{throughput[size] / best:.2f}",
                    f"{median(got.busy):.0%}",
                    seconds(percentile(got.waits, 0.5)),
                    seconds(percentile(got.per_query, 0.5)),
                ]
            )
        small, large = sizes[0], sizes[-1]
        notes.append(
            f"{workload.name}: {workload.description} per task; one query alone takes "
            f"{seconds(solo[workload.name])}. Best: pool_size={best_size}; "
            f"pool_size={large} gives {throughput[large] / best:.2f}x the best, "
            f"pool_size={small} {throughput[small] / best:.2f}x."
        )
        headline[f"{workload.name}: best pool size"] = str(best_size)
        headline[f"{workload.name}: throughput {large} vs {small}"] = ratio(
            throughput[large] / throughput[small]
        )
        if workload.name == "lookups" and not ctx.quick:
            checks.append(
                Check(
                    "lookups: pool_size=40 serves fewer queries per second than the best smaller "
                    "pool (more connections than the client can keep busy only add waiting)",
                    throughput[40] < best or best_size != 40,
                )
            )
    notes.insert(
        0,
        f"{tasks} tasks started at once, each with its own session; `max_overflow=0`; median "
        f"throughput of {reps} interleaved rounds, wait and query-time medians over all tasks "
        "of all rounds. Query time is per statement, waiting for the driver included.",
    )
    return LaneResult(
        headers=[
            "workload",
            "pool",
            "queries/s",
            "vs best",
            "Python process CPU",
            "checkout wait p50",
            "query time p50",
        ],
        rows=rows,
        notes=notes,
        checks=checks,
        headline=headline,
    )


BENCHMARK = Benchmark(
    name="pools",
    title="Connection pool size",
    lanes=("postgresql", "mysql"),
    run=run,
    note="PostgreSQL and MariaDB (SQLite has no server to share).",
)
