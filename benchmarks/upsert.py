"""Upsert 10,000 users of which half exist: one statement per row vs one call for all rows.

Both ORM rows call ``examples.bulk_load.upsert_users`` (PostgreSQL/SQLite ON CONFLICT DO
UPDATE, MariaDB ON DUPLICATE KEY UPDATE, ``.returning(User)`` with populate_existing): once per
row in a loop, or once with the whole list. The third row runs the same statement without
RETURNING, to show what getting ORM objects back costs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.bulk_insert import user_dicts
from benchmarks.harness import (
    Benchmark,
    Check,
    Context,
    LaneResult,
    count,
    median,
    ratio,
    seconds,
    timed,
)
from examples.bulk_load import upsert_users, upsert_users_statement
from examples.models import Base, User

Rows = list[dict[str, str]]


async def _loop(session: AsyncSession, rows: Rows) -> None:
    for row in rows:
        await upsert_users(session, [row])  # one statement per row
    await session.commit()


async def _bulk(session: AsyncSession, rows: Rows) -> None:
    users = await upsert_users(session, rows)
    assert len(users) == len(rows)
    await session.commit()


async def _bulk_no_returning(session: AsyncSession, rows: Rows) -> None:
    stmt = upsert_users_statement(session.get_bind().dialect.name)
    await session.execute(stmt, rows)
    await session.commit()


VARIANTS: list[tuple[str, Callable[[AsyncSession, Rows], Awaitable[None]]]] = [
    ("`upsert_users(session, [row])` per row, objects back", _loop),
    ("`upsert_users(session, rows)`: one call, objects back", _bulk),
    ("one call, same statement without RETURNING", _bulk_no_returning),
]


async def _reset(engine: AsyncEngine, existing: Rows) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(insert(User), existing)


async def run(ctx: Context) -> LaneResult:
    n = ctx.size(10_000, 400)
    reps = ctx.size(3, 2)
    # Users 0..n/2-1 exist with their old names; the upsert renames them and adds n/2 more.
    existing = user_dicts(n // 2)
    incoming = [{"email": row["email"], "name": "Renamed"} for row in user_dicts(n)]
    times: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    async with ctx.database() as url, ctx.engine(url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)
        for rep in range(1, reps + 1):
            for label, action in VARIANTS:
                await _reset(engine, existing)
                async with Session() as session:
                    elapsed, _ = await timed(lambda: action(session, incoming))  # noqa: B023
                async with Session() as session:
                    renamed = await session.scalar(
                        select(func.count()).select_from(User).where(User.name == "Renamed")
                    )
                assert renamed == n, f"{label}: {renamed} rows upserted of {n}"
                times[label].append(elapsed)
                ctx.progress(f"rep {rep}/{reps} {label}: {n:,} rows in {elapsed:.2f}s")
    loop, bulk, bare = (median(times[label]) for label, _ in VARIANTS)
    statement = {
        "postgresql": "`INSERT ... ON CONFLICT (email) DO UPDATE`",
        "sqlite": "`INSERT ... ON CONFLICT (email) DO UPDATE`",
        "mysql": "`INSERT ... ON DUPLICATE KEY UPDATE`",
    }[ctx.lane]
    return LaneResult(
        headers=["path", "rows (half exist)", "median time", "rows/s", "time vs one call"],
        rows=[
            [
                label,
                count(n),
                seconds(median(times[label])),
                count(n / median(times[label])),
                ratio(median(times[label]) / bulk),
            ]
            for label, _ in VARIANTS
        ],
        notes=[
            f"Median of {reps} runs. Statement: {statement}.",
            f"One call with every row is {ratio(loop / bulk)} faster than a statement per row; "
            f"RETURNING the ORM objects costs {ratio(bulk / bare)} the time of the bare statement.",
        ],
        checks=[Check("one bulk upsert beats a per-row loop", bulk < loop)],
        headline={"bulk upsert vs per-row loop": ratio(loop / bulk)},
    )


BENCHMARK = Benchmark(
    name="upsert",
    title="Upsert",
    lanes=("postgresql", "mysql", "sqlite"),
    run=run,
)
