"""Bulk insert: per-row add+flush, add_all, ORM bulk INSERT (with and without RETURNING),
Core executemany, and PostgreSQL COPY, on the ``users`` table of examples/models.py.

The ORM bulk and COPY rows run the functions of examples/bulk_load.py, validation included,
so the numbers are those of the code the skill teaches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
from examples.bulk_load import copy_users, insert_users, insert_users_returning
from examples.models import Base, User

Rows = list[dict[str, str]]


def user_dicts(n: int) -> Rows:
    return [{"email": f"user{i}@example.com", "name": f"User {i}"} for i in range(n)]


async def _per_row_flush(session: AsyncSession, rows: Rows) -> None:
    for row in rows:
        session.add(User(**row))
        await session.flush()  # one INSERT round trip per object
    await session.commit()


async def _add_all(session: AsyncSession, rows: Rows) -> None:
    session.add_all([User(**row) for row in rows])
    await session.commit()


async def _orm_bulk(session: AsyncSession, rows: Rows) -> None:
    await insert_users(session, rows)
    await session.commit()


async def _orm_bulk_returning(session: AsyncSession, rows: Rows) -> None:
    users = await insert_users_returning(session, rows)
    assert len(users) == len(rows)
    await session.commit()


async def _core_executemany(session: AsyncSession, rows: Rows) -> None:
    # Core: a Table, a list of dicts, no ORM (the session only lends its connection).
    conn = await session.connection()
    await conn.execute(insert(Base.metadata.tables["users"]), rows)
    await session.commit()


async def _copy(session: AsyncSession, rows: Rows) -> None:
    await copy_users(session, rows)
    await session.commit()


Variant = tuple[str, Callable[[AsyncSession, Rows], Awaitable[None]], bool]

VARIANTS: list[Variant] = [
    # (label, function, uses the smaller per-row size)
    ("`session.add()` + `flush()` per row", _per_row_flush, True),
    ("`session.add_all()` + `commit()`", _add_all, False),
    ("ORM bulk: `session.execute(insert(User), rows)`", _orm_bulk, False),
    ("ORM bulk + `.returning(User)` (objects back)", _orm_bulk_returning, False),
    ("Core: `conn.execute(insert(table), rows)`", _core_executemany, False),
    ("COPY: asyncpg `copy_records_to_table`", _copy, False),
]


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)


async def run(ctx: Context) -> LaneResult:
    rows_n = ctx.size(100_000, 2_000)
    per_row_n = ctx.size(10_000, 200)
    reps = ctx.size(3, 2)
    variants = [v for v in VARIANTS if ctx.lane == "postgresql" or v[1] is not _copy]
    times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    async with ctx.database() as url, ctx.engine(url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)
        for rep in range(1, reps + 1):
            for label, action, small in variants:
                rows = user_dicts(per_row_n if small else rows_n)
                await _reset(engine)
                async with Session() as session:
                    elapsed, _ = await timed(lambda: action(session, rows))  # noqa: B023
                async with Session() as session:
                    stored = await session.scalar(select(func.count()).select_from(User))
                assert stored == len(rows), f"{label}: {stored} rows stored, {len(rows)} given"
                times[label].append(elapsed)
                ctx.progress(f"rep {rep}/{reps} {label}: {len(rows):,} rows in {elapsed:.2f}s")
    per_row_cost = {
        label: median(times[label]) / (per_row_n if small else rows_n)
        for label, _, small in variants
    }
    # PostgreSQL: against COPY, the driver's limit; elsewhere against the fastest path there.
    if ctx.lane == "postgresql":
        reference = per_row_cost[variants[-1][0]]
    else:
        reference = min(per_row_cost.values())
    short = "COPY" if ctx.lane == "postgresql" else "fastest"
    table_rows = []
    for label, _, small in variants:
        n = per_row_n if small else rows_n
        table_rows.append(
            [
                label,
                count(n) + (" (scaled)" if small else ""),
                seconds(median(times[label])),
                count(1 / per_row_cost[label]),
                ratio(per_row_cost[label] / reference),
            ]
        )
    orm_bulk = per_row_cost[VARIANTS[2][0]]
    per_row = per_row_cost[VARIANTS[0][0]]
    add_all = per_row_cost[VARIANTS[1][0]]
    taught = min(orm_bulk, per_row_cost[VARIANTS[4][0]])
    notes = [
        f"Median of {reps} runs, each into an empty `users` table (unique email, indexed name). "
        f"Per-row add+flush runs {count(per_row_n)} rows (it is slow); its rows/s and ratio are "
        "per row, so they compare directly.",
        f"ORM bulk insert is {ratio(per_row / orm_bulk)} faster per row than add+flush per row "
        f"and {ratio(add_all / orm_bulk)} faster than `add_all()`.",
    ]
    headline = {
        "ORM bulk vs per-row add+flush": ratio(per_row / orm_bulk),
        "ORM bulk vs add_all": ratio(add_all / orm_bulk),
    }
    if ctx.lane == "postgresql":
        notes.append(
            f"COPY is {ratio(taught / reference)} faster than the fastest SQLAlchemy path "
            f"(ORM bulk or Core executemany) and {ratio(orm_bulk / reference)} faster than "
            "ORM bulk."
        )
        headline["fastest SQLAlchemy bulk path vs COPY"] = (
            f"COPY {ratio(taught / reference)} faster"
        )
    return LaneResult(
        headers=["path", "rows", "median time", "rows/s", f"time per row vs {short}"],
        rows=table_rows,
        notes=notes,
        checks=[Check("ORM bulk insert beats per-row add+flush", orm_bulk < per_row)],
        headline=headline,
    )


BENCHMARK = Benchmark(
    name="bulk_insert",
    title="Bulk insert",
    lanes=("postgresql", "mysql", "sqlite"),
    run=run,
)
