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
    throughput: dict[tuple[str, int], float] = {}
    query_time: dict[tuple[str, int], float] = {}
    headline = {}
    for workload in workloads:
        queries = tasks * workload.queries_per_task
        for size in sizes:
            got = samples[(workload.name, size)]
            throughput[(workload.name, size)] = queries / median(got.walls)
            query_time[(workload.name, size)] = percentile(got.per_query, 0.5)
        best_size = max(sizes, key=lambda s: throughput[(workload.name, s)])
        best = throughput[(workload.name, best_size)]
        for size in sizes:
            got = samples[(workload.name, size)]
            rows.append(
                [
                    workload.name if size == sizes[0] else "",
                    f"`pool_size={size}`",
                    count(throughput[(workload.name, size)]),
                    f"{throughput[(workload.name, size)] / best:.2f}",
                    f"{median(got.busy):.0%}",
                    seconds(percentile(got.waits, 0.5)),
                    seconds(query_time[(workload.name, size)]),
                ]
            )
        small, large = sizes[0], sizes[-1]
        notes.append(
            f"{workload.name}: {workload.description} per task; one query alone takes "
            f"{seconds(solo[workload.name])}. Most queries/s at pool_size={best_size}; "
            f"pool_size={large} serves {throughput[(workload.name, large)] / best:.2f}x that, "
            f"pool_size={small} {throughput[(workload.name, small)] / best:.2f}x."
        )
        headline[f"{workload.name}: most queries/s at pool_size"] = str(best_size)

    def gain(workload: str, large: int, small: int) -> float:
        return throughput[(workload, large)] / throughput[(workload, small)]

    lookups = [throughput[("lookups", size)] for size in sizes]
    cpu_per_lookup = (
        median(samples[("lookups", 10 if 10 in sizes else sizes[-1])].busy)
        / (throughput[("lookups", 10 if 10 in sizes else sizes[-1])])
    )
    notes.append(
        f"lookups: the Python process spent {seconds(cpu_per_lookup)} of CPU per lookup "
        "(pool_size=10): SQLAlchemy and the driver in one process set the pace; the fastest "
        f"and slowest pool sizes differ by {max(lookups) / min(lookups):.2f}x."
    )
    checks = []
    if not ctx.quick:
        slower = query_time[("server CPU", 40)] / query_time[("server CPU", 10)]
        above_10 = max(throughput[("server CPU", s)] for s in sizes if s > 10)
        checks = [
            Check(
                "server wait: pool_size=40 serves at least 3x the queries/s of pool_size=2 "
                f"(measured {ratio(gain('server wait', 40, 2))})",
                gain("server wait", 40, 2) >= 3,
            ),
            Check(
                "server CPU: each query takes at least 2x as long at pool_size=40 as at 10 "
                f"(measured {ratio(slower)})",
                slower >= 2,
            ),
            Check(
                "lookups: no pool size from 2 to 40 serves 2x the queries/s of another "
                f"(measured {max(lookups) / min(lookups):.2f}x)",
                max(lookups) / min(lookups) < 2,
            ),
            Check(
                "server CPU: no pool larger than 10 serves more than 1.2x the queries/s of "
                f"pool_size=10 (measured {above_10 / throughput[('server CPU', 10)]:.2f}x)",
                above_10 < 1.2 * throughput[("server CPU", 10)],
            ),
        ]
        headline["server wait: 40 vs 2"] = ratio(gain("server wait", 40, 2))
        headline["server CPU: 40 vs 10"] = f"{gain('server CPU', 40, 10):.2f}x"
        headline["lookups: fastest vs slowest size"] = f"{max(lookups) / min(lookups):.2f}x"
    notes.insert(
        0,
        f"{tasks} tasks started at once, each with its own session; `max_overflow=0`; median "
        f"throughput of {reps} interleaved rounds, wait and query-time medians over all tasks "
        "of all rounds. Query time is per statement, waiting for the driver included; Python "
        "process CPU is this process's CPU time over the round's wall time.",
    )
    return LaneResult(
        headers=[
            "workload",
            "pool",
            "queries/s",
            "vs best",
            "Python process CPU (of one core)",
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
