"""examples/in_memory_sqlite.py, on SQLAlchemy 2.0 and 2.1 (SQLite lane): which pool an
in-memory URL gets, what shares one database and what does not, and what concurrent sessions do
to each other on a single-connection engine."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from examples import in_memory_sqlite
from examples.in_memory_sqlite import make_memory_engine, make_shared_memory_engine
from examples.models import Base, User
from examples.testing_recipe import make_test_engine, rollback_session
from tests.conftest import Lane

pytestmark = pytest.mark.lanes("sqlite")


async def dbapi_connection_id(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return id((await conn.get_raw_connection()).dbapi_connection)


async def user_count(engine: AsyncEngine) -> int | None:
    async with AsyncSession(engine) as session:
        count: int | None = await session.scalar(select(func.count()).select_from(User))
        return count


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
async def test_a_memory_url_gets_one_shared_connection_by_default(lane: Lane, url: str) -> None:
    """On 2.0 and 2.1 alike: StaticPool, so every checkout sees the tables create_all made."""
    engine = create_engine(url)
    try:
        assert isinstance(engine.pool, StaticPool)
        assert await dbapi_connection_id(engine) == await dbapi_connection_id(engine)
        await create_tables(engine)
        assert await user_count(engine) == 0
    finally:
        await engine.dispose()


async def test_a_memory_url_with_a_queue_pool_gives_each_new_connection_a_new_database(
    lane: Lane,
) -> None:
    """Pool arguments or a QueuePool on sqlite+aiosqlite://: the tables are on one connection
    only; a second connection opens its own, empty database."""
    engine = create_engine("sqlite+aiosqlite://", poolclass=AsyncAdaptedQueuePool)
    try:
        async with engine.connect() as first:
            await first.run_sync(Base.metadata.create_all)
            await first.commit()
            async with engine.connect() as second:
                with pytest.raises(OperationalError, match=re.escape("no such table: users")):
                    await second.execute(select(func.count()).select_from(User))
        # Both go back to the pool and come out in turn (FIFO): the next checkout gets the
        # second connection, whose database has no tables.
        with pytest.raises(OperationalError, match=re.escape("no such table: users")):
            await user_count(engine)
    finally:
        await engine.dispose()


async def test_dispose_discards_a_memory_database(lane: Lane) -> None:
    engine = make_memory_engine()
    try:
        await create_tables(engine)
        assert await user_count(engine) == 0
        await engine.dispose()  # closes the one connection; the next checkout opens a new one
        with pytest.raises(OperationalError, match=re.escape("no such table: users")):
            await user_count(engine)
    finally:
        await engine.dispose()


async def test_the_memory_engine_serves_many_tasks_without_check_same_thread(
    lane: Lane,
) -> None:
    """aiosqlite runs each connection on a thread of its own: StaticPool needs no
    connect_args={"check_same_thread": False} (the sync pysqlite recipe's)."""
    engine = make_memory_engine()
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        await create_tables(engine)

        async def add(n: int) -> None:
            async with Session() as session, session.begin():
                session.add(User(email=f"u{n}@example.com", name=f"U{n}"))

        for n in range(3):
            await asyncio.create_task(add(n))  # one after the other, each in its own task
        assert await user_count(engine) == 3
    finally:
        await engine.dispose()


async def write_and_read_at_once(engine: AsyncEngine) -> list[object]:
    """Two tasks, a session each: a writer flushes a row and waits; a reader counts the rows
    meanwhile, then lets the writer commit. Returns [writer's result, reader's count]."""
    Session = async_sessionmaker(engine, expire_on_commit=False)
    await create_tables(engine)
    flushed, read = asyncio.Event(), asyncio.Event()

    async def writer() -> str:
        async with Session() as session, session.begin():
            session.add(User(email="ada@example.com", name="Ada"))
            await session.flush()
            flushed.set()
            await read.wait()
        return "committed"  # no error anywhere

    async def reader() -> int | None:
        await flushed.wait()
        try:
            async with Session() as session:
                count: int | None = await session.scalar(select(func.count()).select_from(User))
                return count
        finally:
            read.set()

    return list(await asyncio.gather(writer(), reader()))


async def test_concurrent_sessions_on_one_connection_lose_a_commit(lane: Lane) -> None:
    """One StaticPool connection: the reader sees the writer's uncommitted row, and when the
    reader's session closes, the pool's rollback on the shared connection discards the
    writer's work. The writer's commit then succeeds with nothing to commit."""
    engine = make_memory_engine()
    try:
        assert await write_and_read_at_once(engine) == ["committed", 1]  # a dirty read
        assert await user_count(engine) == 0  # the committed row is gone
    finally:
        await engine.dispose()


async def test_concurrent_sessions_on_a_file_database_keep_their_work(
    lane: Lane, tmp_path: Path
) -> None:
    """The same two tasks on a SQLite file: the reader sees the committed state (no row yet),
    and the commit stays."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db")
    try:
        assert await write_and_read_at_once(engine) == ["committed", 0]
        assert await user_count(engine) == 1
    finally:
        await engine.dispose()


async def test_shared_cache_gives_each_checkout_its_own_connection_to_one_database(
    lane: Lane,
) -> None:
    engine = make_shared_memory_engine("test_shared_one")
    other_name = make_shared_memory_engine("test_shared_two")
    try:
        async with engine.connect() as keepalive:
            await create_tables(engine)
            async with engine.begin() as conn:
                await conn.execute(insert(User), [{"email": "ada@example.com", "name": "Ada"}])
                writer_id = id((await conn.get_raw_connection()).dbapi_connection)
            keepalive_id = id((await keepalive.get_raw_connection()).dbapi_connection)
            assert writer_id != keepalive_id  # two DBAPI connections ...
            assert await keepalive.scalar(select(func.count()).select_from(User)) == 1  # one db
            await keepalive.rollback()
            with pytest.raises(OperationalError, match="no such table: users"):
                await user_count(other_name)  # another name: another database
    finally:
        await engine.dispose()
        await other_name.dispose()


async def test_a_shared_cache_database_lives_while_a_connection_is_open(lane: Lane) -> None:
    engine = make_shared_memory_engine("test_shared_life")
    try:
        await create_tables(engine)  # its connection stays open in the pool ...
        assert await user_count(engine) == 0
        await engine.dispose()  # ... until dispose() closes it: the database is discarded
        with pytest.raises(OperationalError, match="no such table: users"):
            await user_count(engine)
        async with engine.connect() as keepalive:
            await create_tables(engine)
            await engine.dispose()  # closes the pooled connections; keepalive is checked out
            assert await user_count(engine) == 0  # the database survived
            # keepalive now belongs to the pool dispose() replaced, which would only close it
            # when garbage-collected: close it now.
            await keepalive.invalidate()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "db?mode=rw", "../etc"])
def test_shared_memory_engine_rejects_bad_names(lane: Lane, name: str) -> None:
    with pytest.raises(ValueError, match="1-64 letters, digits or underscores"):
        make_shared_memory_engine(name)


async def test_the_testing_recipe_works_on_a_memory_engine(lane: Lane) -> None:
    """references/testing.md's rollback_session on sqlite+aiosqlite://: a commit inside the
    test is undone at the end, on the one connection."""
    engine = make_test_engine("sqlite+aiosqlite://")
    try:
        await create_tables(engine)
        async with rollback_session(engine) as session:
            session.add(User(email="ada@example.com", name="Ada"))
            await session.commit()
            assert await session.scalar(select(func.count()).select_from(User)) == 1
        assert await user_count(engine) == 0
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_main_runs(lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await in_memory_sqlite.main("unused")
    out = capsys.readouterr().out
    assert "memory engine: 1\n" in out
    assert "shared cache, read on the other connection: 1\n" in out
