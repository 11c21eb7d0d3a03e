"""Load 1,000 users with their 10 posts each: lazy loading vs selectinload vs joinedload vs a join.

Uses the models of examples/models.py. ``User.posts`` is ``lazy="raise"`` there, so the lazy
row opts back in with ``lazyload(User.posts)`` and awaits ``user.awaitable_attrs.posts`` for
each user: the N+1 pattern, made explicit. Statement counts come from
tools.statements.count_statements, as in the tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload, lazyload, selectinload

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
from examples.models import Base, Post, User
from tools.statements import count_statements


async def _lazy(session: AsyncSession) -> int:
    users = (await session.scalars(select(User).options(lazyload(User.posts)))).all()
    # One SELECT per user: the N+1 pattern.
    return sum([len(await user.awaitable_attrs.posts) for user in users])


async def _selectin(session: AsyncSession) -> int:
    users = (await session.scalars(select(User).options(selectinload(User.posts)))).all()
    return sum(len(user.posts) for user in users)


async def _joined(session: AsyncSession) -> int:
    result = await session.scalars(select(User).options(joinedload(User.posts)))
    return sum(len(user.posts) for user in result.unique().all())


async def _join(session: AsyncSession) -> int:
    # (user, post) pairs: users repeat on every row; grouping them is the caller's job.
    rows = (await session.execute(select(User, Post).join(User.posts))).all()
    return len(rows)


VARIANTS: list[tuple[str, Callable[[AsyncSession], Awaitable[int]]]] = [
    ("lazy: `await user.awaitable_attrs.posts` per user", _lazy),
    ("`selectinload(User.posts)`", _selectin),
    ("`joinedload(User.posts)` + `.unique()`", _joined),
    ("explicit join: `select(User, Post).join(User.posts)`", _join),
]


async def run(ctx: Context) -> LaneResult:
    parents = ctx.size(1_000, 100)
    children = 10
    reps = ctx.size(5, 2)
    times: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    statements: dict[str, int] = {}
    async with ctx.database() as url, ctx.engine(url) as engine:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(
                insert(User),
                [{"email": f"u{i}@example.com", "name": f"User {i}"} for i in range(parents)],
            )
            await conn.execute(
                insert(Post),
                [
                    {"author_id": user_id, "title": f"Post {k}", "body": "text " * 20}
                    for user_id in range(1, parents + 1)
                    for k in range(children)
                ],
            )
        Session = async_sessionmaker(engine, expire_on_commit=False)
        for rep in range(1, reps + 1):
            for label, action in VARIANTS:
                async with Session() as session:  # a fresh identity map every time
                    with count_statements(engine) as log:
                        elapsed, loaded = await timed(lambda: action(session))  # noqa: B023
                assert loaded == parents * children, f"{label}: {loaded} posts"
                statements[label] = log.count
                times[label].append(elapsed)
                ctx.progress(
                    f"rep {rep}/{reps} {label}: {log.count} statements, {elapsed * 1000:.0f} ms"
                )
    fastest = min(median(t) for t in times.values())
    lazy, selectin, joined, _ = (median(times[label]) for label, _ in VARIANTS)
    lazy_n, selectin_n = statements[VARIANTS[0][0]], statements[VARIANTS[1][0]]
    return LaneResult(
        headers=["strategy", "statements", "median time", "time vs fastest"],
        rows=[
            [
                label,
                count(statements[label]),
                seconds(median(times[label])),
                ratio(median(times[label]) / fastest),
            ]
            for label, _ in VARIANTS
        ],
        notes=[
            f"{parents:,} users x {children} posts, median of {reps} runs, fresh session each.",
            f"`selectinload` sends {lazy_n:,} -> {selectin_n} statements "
            f"({ratio(lazy_n / selectin_n)} fewer) and is {ratio(lazy / selectin)} faster than "
            f"lazy loading; `joinedload` takes {ratio(joined / selectin)} the time of "
            "`selectinload`.",
        ],
        checks=[
            Check(
                f"selectinload loads {parents:,} users' posts in {selectin_n} statements "
                f"(1 + one per 500 users)",
                selectin_n == 1 + -(-parents // 500),
            ),
            Check("selectinload beats lazy loading", selectin < lazy),
        ],
        headline={
            "statements lazy vs selectinload": f"{lazy_n} vs {selectin_n}",
            "time lazy vs selectinload": ratio(lazy / selectin),
        },
    )


BENCHMARK = Benchmark(
    name="loading",
    title="Loading relationships",
    lanes=("postgresql", "mysql", "sqlite"),
    run=run,
)
