"""examples/errors/async_api.py on every lane: sync API on async objects fails with the texts
references/errors.md quotes; the run_sync / await / text() fixes work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy.exc import ArgumentError, NoInspectionAvailable, ObjectNotExecutableError
from sqlalchemy.pool import AsyncAdaptedQueuePool

from examples.errors import Database, async_api, capture, capture_call
from examples.models import Base as ProjectBase
from examples.models import User
from tests.conftest import Lane

BACKGROUND = r" \(Background on this error at: https://sqlalche\.me/e/2[01]/{code}\)"


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(ProjectBase.metadata) as database:
        async with database.Session() as session:
            session.add(User(email="ada@example.com", name="Ada"))
            await session.commit()
        try:
            yield database
        finally:
            async with database.engine.begin() as conn:  # fixed_create_all made this one
                await conn.run_sync(async_api.NotesBase.metadata.drop_all)


async def test_missing_await(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(async_api.wrong_missing_await(session))
    assert outcome.error is AttributeError
    assert outcome.message == "'coroutine' object has no attribute 'scalars'"
    async with db.Session() as session:
        assert [u.name for u in await async_api.fixed_missing_await(session)] == ["Ada"]


async def test_session_query(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(async_api.wrong_session_query(session))
    assert outcome.error is AttributeError
    assert outcome.message == "'AsyncSession' object has no attribute 'query'"
    async with db.Session() as session:
        assert [u.name for u in await async_api.fixed_session_query(session)] == ["Ada"]


async def test_create_all_on_async_engine(db: Database) -> None:
    outcome = await capture(async_api.wrong_create_all_on_async_engine(db.engine))
    assert outcome.error is AttributeError
    assert outcome.message == "'AsyncEngine' object has no attribute '_run_ddl_visitor'"
    assert "err_notes" not in await async_api.fixed_inspect(db.engine)  # nothing was created
    await async_api.fixed_create_all(db.engine, async_api.NotesBase.metadata)
    assert "err_notes" in await async_api.fixed_inspect(db.engine)


async def test_inspect_async_engine(db: Database) -> None:
    outcome = await capture(async_api.wrong_inspect_async_engine(db.engine))
    assert outcome.error is NoInspectionAvailable
    assert re.fullmatch(
        r"Inspection on an AsyncEngine is currently not supported\. Please obtain a connection "
        r"then use ``conn\.run_sync`` to pass a callable where it's possible to call ``inspect`` "
        r"on the passed connection\." + BACKGROUND.format(code="xd3s"),
        outcome.message,
    ), outcome.message
    assert {"users", "posts"} <= set(await async_api.fixed_inspect(db.engine))


async def test_plain_sql_string(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(async_api.wrong_plain_sql_string(session))
    assert outcome.error is ArgumentError
    assert outcome.message == (
        "Textual SQL expression 'SELECT 1' should be explicitly declared as text('SELECT 1')"
    )
    outcome = await capture(async_api.wrong_plain_sql_string_on_connection(db.engine))
    assert outcome.error is ObjectNotExecutableError
    assert outcome.message == "Not an executable object: 'SELECT 1'"
    async with db.Session() as session:
        assert await async_api.fixed_plain_sql_string(session) == 1


async def test_sync_pool_class(db: Database) -> None:
    outcome = capture_call(async_api.wrong_sync_pool_class, db.url)
    assert outcome.error is ArgumentError
    assert re.fullmatch(
        r"Pool class QueuePool cannot be used with asyncio engine" + BACKGROUND.format(code="pcls"),
        outcome.message,
    ), outcome.message
    engine = async_api.fixed_sync_pool_class(db.url)
    try:
        assert isinstance(engine.pool, AsyncAdaptedQueuePool)
        async with engine.connect() as conn:
            assert (await conn.execute(sqlalchemy.text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await async_api.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_missing_await: raised builtins.AttributeError" in out
    assert "wrong_sync_pool_class: raised sqlalchemy.exc.ArgumentError" in out
    assert "fixed_plain_sql_string: returned 1" in out
    assert "fixed_sync_pool_class: 1" in out
