"""examples/routing.py on every lane, with two real databases: a writer and a reader.

The two databases hold different rows, so every result shows which one answered.
"""

import gc
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import URL, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio.exc import AsyncContextNotStarted
from sqlalchemy.orm import Session

from examples import routing
from examples.models import User
from examples.quickstart import create_tables, make_engine
from tests.conftest import Lane
from tools.statements import count_statements


@dataclass
class Pair:
    writer: AsyncEngine
    reader: AsyncEngine


@pytest.fixture(scope="module")
async def reader_url(lane: Lane) -> AsyncIterator[URL]:
    """The second database, shared by this module's tests (creating databases is slow)."""
    url = await lane.new_database()
    try:
        yield url
    finally:
        await lane.drop(url)


@pytest.fixture
async def pair(db_url: URL, reader_url: URL) -> AsyncIterator[Pair]:
    writer = make_engine(db_url.render_as_string(hide_password=False))
    reader = make_engine(reader_url.render_as_string(hide_password=False))
    try:
        for engine, who in ((writer, "writer"), (reader, "reader")):
            await create_tables(engine)  # checkfirst: a no-op on the reader after the first test
            async with AsyncSession(engine) as session, session.begin():
                await session.execute(delete(User))
                session.add(User(email=f"{who}@example.com", name=f"from {who}"))
        yield Pair(writer, reader)
    finally:
        await writer.dispose()
        await reader.dispose()


async def names_in(engine: AsyncEngine) -> list[str]:
    async with AsyncSession(engine) as session:
        return list(await session.scalars(select(User.name).order_by(User.id)))


async def test_reads_go_to_the_reader(pair: Pair) -> None:
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    async with Session() as session:
        with count_statements(pair.writer) as on_writer, count_statements(pair.reader) as on_reader:
            assert list(await session.scalars(select(User.name))) == ["from reader"]
            user = await session.scalar(select(User))
            assert user is not None
            assert user.email == "reader@example.com"
            assert await session.get(User, user.id, populate_existing=True) is user
            assert await session.scalar(select(func.count()).select_from(User)) == 1
    assert on_writer.count == 0
    assert on_reader.count == 4


async def test_flushes_go_to_the_writer(pair: Pair) -> None:
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    with count_statements(pair.writer) as on_writer, count_statements(pair.reader) as on_reader:
        async with Session() as session, session.begin():
            session.add(User(email="ada@example.com", name="Ada"))
    assert on_writer.count == 1
    assert on_writer.statements[0].lstrip().startswith("INSERT INTO users")
    assert on_reader.count == 0
    assert await names_in(pair.writer) == ["from writer", "Ada"]
    assert await names_in(pair.reader) == ["from reader"]


async def test_bulk_and_dml_statements_go_to_the_writer(pair: Pair) -> None:
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    with count_statements(pair.reader) as on_reader:
        async with Session() as session, session.begin():
            # An ORM bulk INSERT asks get_bind with a mapper and no clause.
            await session.execute(insert(User), [{"email": "b@example.com", "name": "B"}])
            await session.execute(update(User).where(User.name == "B").values(name="Bee"))
            await session.execute(delete(User).where(User.name == "from writer"))
    assert on_reader.count == 0
    assert await names_in(pair.writer) == ["Bee"]
    assert await names_in(pair.reader) == ["from reader"]


async def test_locking_reads_go_to_the_writer(pair: Pair) -> None:
    """FOR UPDATE on a replica would lock nothing the primary knows of (or fail there)."""
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    async with Session() as session:
        with count_statements(pair.writer) as on_writer, count_statements(pair.reader) as on_reader:
            locked = await session.scalar(select(User).with_for_update())
            assert locked is not None
            assert locked.email == "writer@example.com"
            again = await session.get(User, locked.id, with_for_update=True)
            assert again is locked
        await session.rollback()
    assert on_writer.count == 2
    assert on_reader.count == 0


async def test_a_unit_of_work_reads_from_the_writer(pair: Pair) -> None:
    """Inside session.begin() the code reads what it will change: from the primary, before
    and after its first write (a lagging replica would hand it stale rows)."""
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    with count_statements(pair.reader) as on_reader:
        async with Session() as session, session.begin():
            assert list(await session.scalars(select(User.name))) == ["from writer"]
            session.add(User(email="ada@example.com", name="Ada"))
            await session.flush()  # INSERT on the writer
            names = list(await session.scalars(select(User.name).order_by(User.id)))
    assert names == ["from writer", "Ada"]
    assert on_reader.count == 0


async def test_after_a_write_reads_stay_on_the_writer_until_the_transaction_ends(
    pair: Pair,
) -> None:
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    async with Session() as session:
        assert list(await session.scalars(select(User.name))) == ["from reader"]  # replica
        session.add(User(email="ada@example.com", name="Ada"))
        await session.flush()  # the transaction writes on the primary...
        names = list(await session.scalars(select(User.name).order_by(User.id)))
        assert names == ["from writer", "Ada"]  # ...and reads its own write there
        await session.commit()
        # A new transaction: plain reads may use the replica again.
        assert list(await session.scalars(select(User.name))) == ["from reader"]


async def test_text_and_explicit_connections_go_to_the_writer(pair: Pair) -> None:
    """Anything that is not a select() construct is treated as a possible write."""
    Session = routing.routing_sessionmaker(pair.writer, pair.reader)
    async with Session() as session, session.begin():
        await session.execute(text("UPDATE users SET name = 'changed by text()'"))
        conn = await session.connection()
        assert conn.engine.sync_engine is pair.writer.sync_engine
    assert await names_in(pair.writer) == ["changed by text()"]
    assert await names_in(pair.reader) == ["from reader"]


async def test_get_bind_returning_an_async_engine_fails_every_query(db_url: URL) -> None:
    """The seed guide's version: get_bind hands the sync Session an AsyncEngine."""
    engine = make_engine(db_url.render_as_string(hide_password=False))
    await create_tables(engine)

    class AsyncEngineRouting(Session):
        def get_bind(self, mapper: Any = None, **kw: Any) -> Any:
            return engine  # wrong: an AsyncEngine, where a sync Engine is needed

    WrongSession = async_sessionmaker(sync_session_class=AsyncEngineRouting)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with WrongSession() as session:
                with pytest.raises(AsyncContextNotStarted) as read:
                    await session.scalars(select(User))
                session.add(User(email="ada@example.com", name="Ada"))
                with pytest.raises(AsyncContextNotStarted) as write:
                    await session.flush()
                messages = {str(read.value), str(write.value)}
                del read, write
            gc.collect()
        assert messages == {
            "AsyncConnection context has not been started and object has not been awaited."
        }
        # The sync Session also calls close() on the AsyncConnection without awaiting it.
        unawaited = {str(w.message) for w in caught if w.category is RuntimeWarning}
        assert unawaited == {"coroutine 'AsyncConnection.close' was never awaited"}
        assert await names_in(engine) == []
    finally:
        await engine.dispose()


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await routing.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "write went to the writer, read came from the reader: ['on the replica']" in out
