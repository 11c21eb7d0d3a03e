"""Errors from using the sync API on async objects: a missing ``await``, ``session.query``,
``metadata.create_all(async_engine)``, ``inspect(async_engine)``, plain SQL strings, a sync pool.

The async classes wrap sync ones; what only exists on the sync side is reached through
``run_sync`` (which runs a sync function where its IO can be awaited), and everything that does
IO on the async side is a coroutine that must be awaited.

Run: python -m examples.errors.async_api
"""

# Each region carries its own imports so that it can be copied alone.

from typing import Any

from sqlalchemy import String, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import QueuePool

from examples.errors import capture, capture_call, open_database, pair, report
from examples.models import Base as ProjectBase
from examples.models import User

# isort: split
# region: models
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class NotesBase(DeclarativeBase):
    pass


class Note(NotesBase):
    __tablename__ = "err_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(200))


# endregion: models


async def wrong_missing_await(session: AsyncSession) -> list[User]:
    result = session.execute(select(User))  # no await: a coroutine object, nothing ran
    return list(result.scalars())  # type: ignore[attr-defined]  # mypy sees it too


# region: fix-missing-await
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_missing_await(session: AsyncSession) -> list[User]:
    result = await session.execute(select(User))  # every call that does IO is awaited
    return list(result.scalars())


# endregion: fix-missing-await


async def wrong_session_query(session: AsyncSession) -> list[User]:
    return session.query(User).all()  # type: ignore[attr-defined, no-any-return]


# region: fix-session-query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_session_query(session: AsyncSession) -> list[User]:
    # 2.0 style: build a select(), execute it with await.
    return list(await session.scalars(select(User).order_by(User.id)))


# endregion: fix-session-query


async def wrong_create_all_on_async_engine(engine: AsyncEngine) -> None:
    NotesBase.metadata.create_all(engine)  # type: ignore[arg-type]  # wants a sync Engine


# region: fix-create-all
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine


async def fixed_create_all(engine: AsyncEngine, metadata: MetaData) -> None:
    # create_all is sync code: run_sync hands it a sync Connection whose IO is awaited.
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


# endregion: fix-create-all


async def wrong_inspect_async_engine(engine: AsyncEngine) -> list[str]:
    inspector: Any = inspect(engine)  # an AsyncEngine cannot be inspected
    return list(inspector.get_table_names())


# region: fix-inspect
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine


async def fixed_inspect(engine: AsyncEngine) -> list[str]:
    def table_names(sync_conn: Connection) -> list[str]:
        return inspect(sync_conn).get_table_names()

    async with engine.connect() as conn:
        return await conn.run_sync(table_names)


# endregion: fix-inspect


async def wrong_plain_sql_string(session: AsyncSession) -> int | None:
    result = await session.execute("SELECT 1")  # type: ignore[call-overload]
    value: int | None = result.scalar()
    return value


async def wrong_plain_sql_string_on_connection(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        result = await conn.execute("SELECT 1")  # type: ignore[call-overload]
        value: int | None = result.scalar()
        return value


# region: fix-plain-sql-string
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_plain_sql_string(session: AsyncSession) -> int | None:
    # text() marks the string as SQL on purpose; values go in as bound parameters.
    result = await session.execute(
        text("SELECT count(*) FROM users WHERE name = :name"), {"name": "Ada"}
    )
    value: int | None = result.scalar()
    return value


# endregion: fix-plain-sql-string


def wrong_sync_pool_class(url: str) -> AsyncEngine:
    return create_async_engine(url, poolclass=QueuePool)


# region: fix-sync-pool-class
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def fixed_sync_pool_class(url: str) -> AsyncEngine:
    # The asyncio version of QueuePool (also the default): size it with pool_size/max_overflow.
    return create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=5)


# endregion: fix-sync-pool-class


async def main(url: str) -> None:
    db = await open_database(url, ProjectBase.metadata)
    try:
        async with db.Session() as session:
            session.add(User(email="ada@example.com", name="Ada"))
            await session.commit()
        async with db.Session() as one, db.Session() as two:
            await pair("missing_await", wrong_missing_await(one), fixed_missing_await(two))
        async with db.Session() as one, db.Session() as two:
            await pair("session_query", wrong_session_query(one), fixed_session_query(two))
        await pair(
            "create_all_on_async_engine",
            wrong_create_all_on_async_engine(db.engine),
            fixed_create_all(db.engine, NotesBase.metadata),
        )
        await pair(
            "inspect_async_engine", wrong_inspect_async_engine(db.engine), fixed_inspect(db.engine)
        )
        async with db.Session() as one, db.Session() as two:
            await pair("plain_sql_string", wrong_plain_sql_string(one), fixed_plain_sql_string(two))
        outcome = await capture(wrong_plain_sql_string_on_connection(db.engine))
        report("wrong_plain_sql_string_on_connection", outcome)
        report("wrong_sync_pool_class", capture_call(wrong_sync_pool_class, url))
        engine = fixed_sync_pool_class(url)
        async with engine.connect() as conn:
            print("fixed_sync_pool_class:", (await conn.execute(text("SELECT 1"))).scalar())
        await engine.dispose()
    finally:
        async with db.engine.begin() as conn:  # made by fixed_create_all
            await conn.run_sync(NotesBase.metadata.drop_all)
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
