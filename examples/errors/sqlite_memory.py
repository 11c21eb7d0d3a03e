"""Errors from in-memory SQLite (``sqlite+aiosqlite://``) in tests and demos.

A ``:memory:`` database lives inside one DBAPI connection. SQLAlchemy gives this URL a
``StaticPool`` (one connection) by default, so the failures come from what adds a connection:
another pool class, a second engine, ``dispose()``; from pool arguments a ``StaticPool`` does
not take; and, with SQLite's shared cache, from a read of a table another connection is writing.

These patterns need no server: ``main`` ignores its URL.

Run: python -m examples.errors.sqlite_memory
"""

# Each region carries its own imports so that it can be copied alone.

import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from examples.errors import capture, capture_call, pair, report
from examples.models import Base, User


async def _create_tables_then_count(
    fixture_engine: AsyncEngine, app_engine: AsyncEngine | None = None
) -> int | None:
    """What a test does: create_all through the fixture's engine, then a query in a session of
    the code under test (on the same engine unless ``app_engine`` is given)."""
    engines = [fixture_engine] if app_engine is None else [fixture_engine, app_engine]
    try:
        async with fixture_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with AsyncSession(engines[-1]) as session:
            count: int | None = await session.scalar(select(func.count()).select_from(User))
            return count
    finally:
        for engine in engines:
            await engine.dispose()


async def wrong_memory_database_with_nullpool() -> int | None:
    # NullPool (often chosen to dodge event-loop errors in tests): each checkout is a new
    # connection, so each one opens a new, empty in-memory database.
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=NullPool)
    return await _create_tables_then_count(engine)


async def wrong_memory_database_two_engines() -> int | None:
    # The test fixture's engine made the tables; the application's own engine queries.
    return await _create_tables_then_count(
        create_async_engine("sqlite+aiosqlite://"), create_async_engine("sqlite+aiosqlite://")
    )


# region: fix-memory-database
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def fixed_memory_engine() -> AsyncEngine:
    # One engine for the whole test run, used by the fixtures and by the code under test:
    # StaticPool hands every checkout the same connection, hence the same database.
    # Do not dispose() it between tests: that closes the connection, and the database with it.
    return create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)


# endregion: fix-memory-database


async def fixed_memory_database() -> int | None:
    return await _create_tables_then_count(fixed_memory_engine())


def wrong_pool_size_on_memory_database() -> AsyncEngine:
    return create_async_engine("sqlite+aiosqlite://", pool_size=5, max_overflow=10)


# region: fix-pool-args
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def fixed_pool_args_for_server_databases(url: str) -> AsyncEngine:
    if make_url(url).database in (None, "", ":memory:"):
        # In-memory SQLite: one connection (StaticPool), nothing to size.
        return create_async_engine(url, poolclass=StaticPool)
    return create_async_engine(url, pool_size=5, max_overflow=10)


# endregion: fix-pool-args


SHARED_MEMORY_URL = "sqlite+aiosqlite:///file:errors_shared?mode=memory&cache=shared&uri=true"


async def _write_then_read(engine: AsyncEngine) -> int | None:
    """One session has flushed a row and not committed; another session reads the table."""
    async with engine.connect() as keepalive:  # holds a shared-cache database open
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        try:
            async with AsyncSession(engine) as writer, AsyncSession(engine) as reader:
                writer.add(User(email="ada@example.com", name="Ada"))
                await writer.flush()  # the writer's transaction now holds the table
                count: int | None = await reader.scalar(select(func.count()).select_from(User))
                return count
        finally:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
            await keepalive.rollback()


async def wrong_read_while_writing_shared_cache() -> int | None:
    engine = create_async_engine(SHARED_MEMORY_URL, poolclass=AsyncAdaptedQueuePool)
    try:
        return await _write_then_read(engine)
    finally:
        await engine.dispose()


# region: fix-concurrent-sessions
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_file_engine(directory: Path) -> AsyncEngine:
    # Sessions that overlap need a database file (in a temp dir for tests): each connection
    # has its own transaction, and a reader sees the last committed rows instead of failing.
    return create_async_engine(f"sqlite+aiosqlite:///{directory / 'test.db'}")


# endregion: fix-concurrent-sessions


async def fixed_read_while_writing_file() -> int | None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_file_engine(Path(tmp))
        try:
            return await _write_then_read(engine)
        finally:
            await engine.dispose()


def wrong_named_memory_database_default_pool() -> AsyncEngine:
    # mode=memory makes SQLAlchemy pick StaticPool: every session shares one connection.
    return create_async_engine(
        "sqlite+aiosqlite:///file:errors_named?mode=memory&cache=shared&uri=true"
    )


# region: fix-named-memory-database
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def fixed_named_memory_database() -> AsyncEngine:
    # Say which pool: a shared-cache database takes several connections, one per session.
    return create_async_engine(
        "sqlite+aiosqlite:///file:errors_named?mode=memory&cache=shared&uri=true",
        poolclass=AsyncAdaptedQueuePool,
    )


# endregion: fix-named-memory-database


async def main(url: str) -> None:
    """``url`` is ignored: every pattern here is about in-memory SQLite."""
    outcome = await capture(wrong_memory_database_with_nullpool())
    report("wrong_memory_database_with_nullpool", outcome)
    report("fixed_memory_database", await capture(fixed_memory_database()))
    report("wrong_memory_database_two_engines", await capture(wrong_memory_database_two_engines()))
    report("wrong_pool_size_on_memory_database", capture_call(wrong_pool_size_on_memory_database))
    for memory_url in ("sqlite+aiosqlite://", "postgresql+asyncpg://app@db.example/app"):
        engine = fixed_pool_args_for_server_databases(memory_url)
        print(f"fixed_pool_args_for_server_databases: {type(engine.pool).__name__}")
        await engine.dispose()
    await pair(
        "read_while_writing_shared_cache",
        wrong_read_while_writing_shared_cache(),
        fixed_read_while_writing_file(),
    )
    outcome = capture_call(wrong_named_memory_database_default_pool)
    print(f"wrong_named_memory_database_default_pool: {type(outcome.value.pool).__name__}, "
          f"warnings {list(outcome.warnings)}")
    await outcome.value.dispose()
    engine = fixed_named_memory_database()
    print(f"fixed_named_memory_database: {type(engine.pool).__name__}")
    await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
