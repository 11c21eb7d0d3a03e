"""50 shipments, each needing a 50 ms HTTP call, on a pool of 5 connections (``max_overflow=0``):
how long the batch takes, and how long an unrelated request waits for a connection meanwhile.

Shapes (examples/external_io.py, examples/errors/pool.py):

* ``wrong_refresh_statuses``: a session per shipment, open across that shipment's call;
* ``refresh_statuses``: read and release, calls with no session open (10 at a time), one
  executemany UPDATE in one transaction;
* the same with ``store_statuses_if_unchanged``: one conditional UPDATE per row (version
  check) in the write transaction.

The calls go over real sockets to ``TrackingServer`` on 127.0.0.1, which answers after 50 ms.
While a batch runs, an "unrelated request" checks a connection out, runs ``SELECT 1`` and
returns it, over and over (5 ms apart); its longest wait for a connection is the figure. Pool
events count the batch's checkouts and how long each connection stayed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.harness import Benchmark, Check, Context, LaneResult, median, ratio, seconds
from examples.errors.pool import back_in_transit, fixed_refresh_statuses, wrong_refresh_statuses
from examples.external_io import (
    CarrierClient,
    ShippingBase,
    TrackingServer,
    call_carrier,
    read_tracked,
    seed,
    store_statuses_if_unchanged,
)

ITEMS = 50
CALL_SECONDS = 0.05
POOL_SIZE = 5
CALL_LIMIT = 10  # fixed_refresh_statuses' limit: the carrier's, not the pool's

Shape = Callable[[async_sessionmaker[AsyncSession], CarrierClient, Sequence[int]], Awaitable[None]]


async def checked_refresh(
    Session: async_sessionmaker[AsyncSession], client: CarrierClient, shipment_ids: Sequence[int]
) -> None:
    tracked = await read_tracked(Session, shipment_ids)
    answers = await call_carrier(client.get, tracked, CALL_LIMIT)
    changed = await store_statuses_if_unchanged(Session, tracked, answers)
    assert not changed  # nothing else writes during the benchmark


SHAPES: list[tuple[str, Shape]] = [
    (
        "session per shipment, open across its call (`wrong_refresh_statuses`)",
        wrong_refresh_statuses,
    ),
    (
        f"read, release, call ({CALL_LIMIT} at a time), one bulk UPDATE (`refresh_statuses`)",
        fixed_refresh_statuses,
    ),
    ("same, write only rows unchanged since read (`store_statuses_if_unchanged`)", checked_refresh),
]


@dataclass
class PoolWatch:
    """Pool events: how many checkouts, how many out at once, how long each stayed out."""

    checkouts: int = 0
    out: int = 0
    most_out: int = 0
    held: list[float] = field(default_factory=list)

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "checkout", self._checkout)
        event.listen(engine.sync_engine, "checkin", self._checkin)

    def reset(self) -> None:
        self.checkouts, self.most_out, self.held = 0, self.out, []

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info["checked_out_at"] = time.perf_counter()
        self.checkouts += 1
        self.out += 1
        self.most_out = max(self.most_out, self.out)

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        since = record.info.pop("checked_out_at", None)
        if since is not None:
            self.held.append(time.perf_counter() - since)
            self.out -= 1


async def unrelated_requests(
    Session: async_sessionmaker[AsyncSession], done: asyncio.Event, waits: list[float]
) -> None:
    """Another endpoint of the same service: a short query every 5 ms until ``done``."""
    while not done.is_set():
        start = time.perf_counter()
        async with Session() as session:
            await session.connection()  # checkout: waits here while the pool is exhausted
            waits.append(time.perf_counter() - start)
            await session.execute(text("SELECT 1"))
        await asyncio.sleep(0.005)


@dataclass
class Runs:
    walls: list[float] = field(default_factory=list)
    longest_waits: list[float] = field(default_factory=list)
    checkouts: list[int] = field(default_factory=list)
    most_out: list[int] = field(default_factory=list)
    longest_holds: list[float] = field(default_factory=list)
    calls_at_once: list[int] = field(default_factory=list)


async def _one_run(
    Session: async_sessionmaker[AsyncSession],
    watch: PoolWatch,
    shape: Shape,
    carrier: TrackingServer,
    ids: list[int],
    runs: Runs,
) -> None:
    await back_in_transit(Session, ids)
    watch.reset()
    carrier.max_in_flight = 0
    done = asyncio.Event()
    waits: list[float] = []
    probe = asyncio.create_task(unrelated_requests(Session, done, waits))
    await asyncio.sleep(0.02)  # the unrelated requests are running before the batch starts
    start = time.perf_counter()
    await shape(Session, CarrierClient(carrier.port), ids)
    runs.walls.append(time.perf_counter() - start)
    done.set()
    await probe
    runs.longest_waits.append(max(waits))
    runs.checkouts.append(watch.checkouts - len(waits))  # the unrelated requests' are not
    runs.most_out.append(watch.most_out)
    runs.longest_holds.append(max(watch.held))
    runs.calls_at_once.append(carrier.max_in_flight)


async def run(ctx: Context) -> LaneResult:
    items = ctx.size(ITEMS, 10)
    reps = ctx.size(5, 1)
    results = {name: Runs() for name, _ in SHAPES}
    async with ctx.database() as url:
        async with ctx.engine(url) as engine, engine.begin() as conn:
            await conn.run_sync(ShippingBase.metadata.create_all)
        async with (
            ctx.engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=60) as engine,
            TrackingServer(delay=CALL_SECONDS) as carrier,
        ):
            watch = PoolWatch()
            watch.attach(engine)
            Session = async_sessionmaker(engine, expire_on_commit=False)
            ids = await seed(Session, items)
            await fixed_refresh_statuses(Session, CarrierClient(carrier.port), ids)  # warm-up
            for rep in range(1, reps + 1):
                for name, shape in SHAPES:  # interleaved: a noisy moment hurts every shape
                    await _one_run(Session, watch, shape, carrier, ids, results[name])
                ctx.progress(f"rep {rep}/{reps} done")

    wrong, right, checked = (results[name] for name, _ in SHAPES)
    fastest = min(median(r.walls) for r in results.values())
    rows = [
        [
            name,
            seconds(median(r.walls)),
            ratio(median(r.walls) / fastest),
            f"{max(r.calls_at_once)}",
            seconds(median(r.longest_waits)),
            f"{median(r.checkouts):.0f}",
            f"{median(r.most_out):.0f}",
            seconds(median(r.longest_holds)),
        ]
        for name, r in results.items()
    ]
    wait_ratio = median(wrong.longest_waits) / median(right.longest_waits)
    wall_ratio = median(wrong.walls) / median(right.walls)
    return LaneResult(
        headers=[
            "shape",
            "wall time",
            "vs fastest",
            "calls at once",
            "unrelated request: longest wait",
            "checkouts",
            "most out at once",
            "longest checkout",
        ],
        rows=rows,
        notes=[
            f"{items} shipments, one {CALL_SECONDS * 1000:.0f} ms HTTP call each (a local server, "
            f"real sockets), `pool_size={POOL_SIZE}, max_overflow=0`; medians of {reps} "
            "interleaved runs. Longest wait: the longest any unrelated request (a checkout every "
            "5 ms during the batch) waited for a connection. Checkouts: the batch's own; most "
            "out at once and longest checkout count the unrelated requests' too.",
            f"With a session held across each call, an unrelated request waited up to "
            f"{seconds(median(wrong.longest_waits))} for a connection; with read-release-call-"
            f"write, {seconds(median(right.longest_waits))}. The batch took {ratio(wall_ratio)} "
            f"as long: its calls ran {max(wrong.calls_at_once)} at a time, one per connection, "
            f"against {max(right.calls_at_once)}.",
            f"Locking the rows and writing only unchanged ones (2 statements) takes "
            f"{median(checked.walls) / median(right.walls):.2f}x the time of the bulk UPDATE; "
            f"its longest checkout is {seconds(median(checked.longest_holds))}.",
        ],
        checks=[
            Check(
                "an unrelated request waits at least 10x less for a connection with "
                "read-release-call-write than with a session held across each call",
                median(right.longest_waits) * 10 <= median(wrong.longest_waits),
            ),
            Check(
                "read-release-call-write finishes the batch sooner",
                median(right.walls) < median(wrong.walls),
            ),
            Check(
                f"read-release-call-write never holds a connection as long as one call "
                f"({CALL_SECONDS * 1000:.0f} ms)",
                median(right.longest_holds) < CALL_SECONDS,
            ),
        ],
        headline={
            "longest wait, session held vs released": ratio(wait_ratio),
            "wall time, session held vs released": ratio(wall_ratio),
        },
    )


BENCHMARK = Benchmark(
    name="external_io",
    title="Slow calls between the read and the write",
    lanes=("postgresql", "mysql", "sqlite"),
    run=run,
    note="PostgreSQL, MariaDB and SQLite (a file: its pool holds 5 connections like the others).",
)
