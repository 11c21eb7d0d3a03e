"""Bugs with no error message: code that runs and returns the wrong rows.

LIKE patterns built from user input, pages ordered by a column with ties, counts through an
inner join, Python's ``and``/``is`` inside ``where()``, a result read twice, and an ORM
"stream" that loads everything first. (Plus one that does raise, from the same old guide: a
routing session whose ``get_bind`` returns an AsyncEngine.) Each wrong pattern is shown
returning its wrong answer; references/queries.md, loading.md and sessions.md go deeper.

Run: python -m examples.errors.silent_bugs
"""

# Each region carries its own imports so that it can be copied alone.

from typing import Any

from sqlalchemy import String, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from examples.errors import Database, capture, open_database, pair, report
from examples.models import Base, Post, User

USERS = 200


# region: models
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ReadingsBase(DeclarativeBase):
    pass


class Reading(ReadingsBase):
    __tablename__ = "err_readings"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int]
    note: Mapped[str | None] = mapped_column(String(50))


# endregion: models


# How many Reading objects the ORM has built: a "load" event fires once per object.
loaded: list[int] = []


@event.listens_for(Reading, "load")
def _count_load(target: Reading, context: Any) -> None:
    loaded.append(target.id)


async def seed(db: Database) -> None:
    """200 users created in one transaction (so they share created_at), one of them named
    "snake_case"; two posts; 200 readings, every fourth without a note."""
    async with db.Session() as session:
        names = [f"user {i}" for i in range(1, USERS)] + ["snake_case"]
        await session.execute(
            insert(User), [{"email": f"u{i}@example.com", "name": n} for i, n in enumerate(names)]
        )
        await session.execute(
            insert(Post), [{"title": "a", "author_id": 1}, {"title": "b", "author_id": 2}]
        )
        await session.execute(
            insert(Reading),
            [{"value": i % 4, "note": None if i % 4 == 0 else f"n{i}"} for i in range(1, 201)],
        )
        await session.commit()


async def wrong_like_wildcards(session: AsyncSession, q: str) -> list[str]:
    stmt = select(User.name).where(User.name.ilike(f"%{q}%"))  # q="_" matches every name
    return list(await session.scalars(stmt))


# region: fix-like-wildcards
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def search_names(session: AsyncSession, q: str) -> list[str]:
    # autoescape=True escapes % and _ in q: they match themselves, not "anything".
    stmt = select(User.name).where(User.name.icontains(q, autoescape=True)).order_by(User.name)
    return list(await session.scalars(stmt))


# endregion: fix-like-wildcards


async def wrong_unstable_pagination(session: AsyncSession) -> list[int]:
    seen: list[int] = []
    for page in range(USERS // 10):
        # created_at is the same for every row inserted in one transaction: ties everywhere
        stmt = select(User.id).order_by(User.created_at).limit(10).offset(page * 10)
        seen += await session.scalars(stmt)
    return seen


# region: fix-unstable-pagination
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def all_pages(session: AsyncSession, size: int = 10) -> list[int]:
    seen: list[int] = []
    page = 0
    while True:
        # A unique tie-breaker makes the order total: every row lands on exactly one page.
        stmt = select(User.id).order_by(User.created_at, User.id).limit(size).offset(page * size)
        rows = list(await session.scalars(stmt))
        seen += rows
        if len(rows) < size:
            return seen
        page += 1


# endregion: fix-unstable-pagination


async def wrong_inner_join_count(session: AsyncSession) -> dict[str, int]:
    stmt = select(User.name, func.count(Post.id)).join(Post).group_by(User.id, User.name)
    return {name: count for name, count in (await session.execute(stmt)).all()}


# region: fix-inner-join-count
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def post_counts(session: AsyncSession) -> dict[str, int]:
    # outerjoin keeps users without posts; count(Post.id) counts only matched rows: 0 for them.
    stmt = select(User.name, func.count(Post.id)).outerjoin(Post).group_by(User.id, User.name)
    return {name: count for name, count in (await session.execute(stmt)).all()}


# endregion: fix-inner-join-count


async def wrong_python_and(session: AsyncSession) -> int:
    # Python evaluates `a and b` itself: the SQL gets only one of the two conditions.
    stmt = select(func.count()).where(Reading.value == 1 and Reading.note == "nothing")
    return int((await session.execute(stmt)).scalar_one())


async def wrong_is_none(session: AsyncSession) -> int:
    # `Reading.note is None` is plain Python: False, so the query asks WHERE false.
    stmt = select(func.count()).select_from(Reading).where(Reading.note is None)  # type: ignore[arg-type]
    return int((await session.execute(stmt)).scalar_one())


# region: fix-python-operators
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def count_matching(session: AsyncSession) -> int:
    # and_() (or several arguments to where()) builds SQL AND; & works too, with parentheses.
    stmt = select(func.count()).where(and_(Reading.value == 1, Reading.note == "nothing"))
    return int((await session.execute(stmt)).scalar_one())


async def count_without_note(session: AsyncSession) -> int:
    # .is_(None) builds IS NULL (== None does too, but linters "fix" it into `is None`).
    stmt = select(func.count()).select_from(Reading).where(Reading.note.is_(None))
    return int((await session.execute(stmt)).scalar_one())


# endregion: fix-python-operators


async def wrong_result_read_twice(session: AsyncSession) -> tuple[int, int]:
    result = await session.execute(select(Reading).where(Reading.value == 1))
    first = len(result.scalars().all())
    again = len(result.scalars().all())  # a Result is an iterator: already exhausted, []
    return first, again


# region: fix-result-read-twice
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def readings_twice(session: AsyncSession) -> tuple[int, int]:
    readings = (await session.scalars(select(Reading).where(Reading.value == 1))).all()
    return len(readings), len(readings)  # keep the list, not the Result


# endregion: fix-result-read-twice


async def wrong_stream_without_yield_per(session: AsyncSession) -> int:
    loaded.clear()
    result = await session.stream(select(Reading))
    async for _reading in result.scalars():
        break  # the first object...
    await result.close()
    return len(loaded)  # ...arrived after every object had been built


# region: fix-stream-yield-per
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def first_reading(session: AsyncSession) -> Reading | None:
    # yield_per: fetch and build 50 objects at a time (a server-side cursor where supported).
    result = await session.stream_scalars(select(Reading).execution_options(yield_per=50))
    return await result.first()  # first() closes the result: the rest is never fetched


# endregion: fix-stream-yield-per


async def stream_readings(session: AsyncSession) -> int:
    """How many objects were built to hand over the first one (a batch of yield_per)."""
    loaded.clear()
    await first_reading(session)
    return len(loaded)


class WrongRoutingSession(Session):
    def __init__(self, *, engine: AsyncEngine, **kw: Any) -> None:
        super().__init__(**kw)
        self.engine = engine

    def get_bind(self, mapper: Any = None, clause: Any = None, **kw: Any) -> Any:
        return self.engine  # an AsyncEngine, inside the sync Session


# region: fix-routing-get-bind
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session


class ChosenEngineSession(Session):
    # get_bind runs inside the sync Session that AsyncSession drives: return sync engines.
    def __init__(self, *, engine: AsyncEngine, **kw: Any) -> None:
        super().__init__(**kw)
        self.engine = engine

    def get_bind(self, mapper: Any = None, clause: Any = None, **kw: Any) -> Engine:
        return self.engine.sync_engine  # e.g. a replica's or the primary's .sync_engine


# endregion: fix-routing-get-bind


async def wrong_routing_get_bind(engine: AsyncEngine) -> int:
    async with AsyncSession(sync_session_class=WrongRoutingSession, engine=engine) as session:
        return int((await session.execute(select(func.count()).select_from(Reading))).scalar_one())


async def fixed_routing_get_bind(engine: AsyncEngine) -> int:
    async with AsyncSession(sync_session_class=ChosenEngineSession, engine=engine) as session:
        return int((await session.execute(select(func.count()).select_from(Reading))).scalar_one())


async def main(url: str) -> None:
    db = await open_database(url, Base.metadata, ReadingsBase.metadata)
    S: async_sessionmaker[AsyncSession] = db.Session
    try:
        await seed(db)
        async with S() as one, S() as two:
            await pair("like_wildcards", wrong_like_wildcards(one, "_"), search_names(two, "_"))
        async with S() as one, S() as two:
            wrong = await wrong_unstable_pagination(one)
            right = await all_pages(two)
            print(f"wrong_unstable_pagination: {len(set(wrong))} of {USERS} users seen")
            print(f"all_pages: {len(set(right))} of {USERS} users seen")
        async with S() as one, S() as two:
            print("wrong_inner_join_count:", len(await wrong_inner_join_count(one)), "users")
            print("post_counts:", len(await post_counts(two)), "users")
        async with S() as one, S() as two:
            await pair("python_and", wrong_python_and(one), count_matching(two))
            await pair("is_none", wrong_is_none(one), count_without_note(two))
            await pair("result_read_twice", wrong_result_read_twice(one), readings_twice(two))
            await pair(
                "stream_without_yield_per",
                wrong_stream_without_yield_per(one),
                stream_readings(two),
            )
        report("wrong_routing_get_bind", await capture(wrong_routing_get_bind(db.engine)))
        print("fixed_routing_get_bind:", await fixed_routing_get_bind(db.engine))
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
