"""examples/errors/silent_bugs.py on every lane: each wrong pattern returns its wrong answer
(asserted per lane where databases differ), each fix the right one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio.exc import AsyncContextNotStarted

from examples.errors import Database, capture
from examples.errors import silent_bugs as m
from examples.models import Base
from tests.conftest import Lane


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(Base.metadata, m.ReadingsBase.metadata) as database:
        await m.seed(database)
        yield database


async def test_like_wildcards(db: Database) -> None:
    async with db.Session() as session:
        assert len(await m.wrong_like_wildcards(session, "_")) == m.USERS  # "_" = any character
        assert await m.search_names(session, "_") == ["snake_case"]
        assert await m.search_names(session, "%") == []
        assert len(await m.search_names(session, "user 1")) == 111  # 1, 10-19, 100-199


async def test_unstable_pagination(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        seen = await m.wrong_unstable_pagination(session)
    assert len(seen) == m.USERS  # the right number of rows...
    if lane.backend == "sqlite":
        # SQLite happens to return ties in insertion order here: nothing guarantees it.
        assert len(set(seen)) == m.USERS
    else:
        # ...but ties come back in a different order for each LIMIT/OFFSET: some users show up
        # on two pages and others on none (the exact count depends on the plan).
        assert len(set(seen)) < m.USERS
    async with db.Session() as session:
        assert sorted(await m.all_pages(session)) == list(range(1, m.USERS + 1))


async def test_inner_join_count(db: Database) -> None:
    async with db.Session() as session:
        assert await m.wrong_inner_join_count(session) == {"user 1": 1, "user 2": 1}
        counts = await m.post_counts(session)
    assert len(counts) == m.USERS
    assert counts["user 1"] == 1
    assert counts["snake_case"] == 0


async def test_python_operators(db: Database) -> None:
    async with db.Session() as session:
        assert await m.wrong_python_and(session) == 50  # only "value == 1" reached the SQL
        assert await m.count_matching(session) == 0
        assert await m.wrong_is_none(session) == 0  # WHERE false
        assert await m.count_without_note(session) == 50
        # == None also builds IS NULL (the comment in the region says so).
        stmt = select(func.count()).select_from(m.Reading).where(m.Reading.note == None)  # noqa: E711
        assert (await session.execute(stmt)).scalar_one() == 50
    # With an ordering operator, Python's `and` cannot even evaluate the first operand.
    with pytest.raises(TypeError, match=r"^Boolean value of this clause is not defined$"):
        select(m.Reading).where(m.Reading.value > 1 and m.Reading.note == "x")


async def test_result_read_twice(db: Database) -> None:
    async with db.Session() as session:
        assert await m.wrong_result_read_twice(session) == (50, 0)
        assert await m.readings_twice(session) == (50, 50)


async def test_stream_without_yield_per(db: Database) -> None:
    async with db.Session() as session:
        # Every one of the 200 objects was built before the loop saw the first.
        assert await m.wrong_stream_without_yield_per(session) == 200
    async with db.Session() as session:
        assert await m.stream_readings(session) == 50  # one batch of yield_per


async def test_routing_get_bind(db: Database) -> None:
    outcome = await capture(m.wrong_routing_get_bind(db.engine))
    assert outcome.error is AsyncContextNotStarted
    assert outcome.message == (
        "AsyncConnection context has not been started and object has not been awaited."
    )
    assert await m.fixed_routing_get_bind(db.engine) == 200


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "fixed_like_wildcards: returned ['snake_case']" in out
    assert "all_pages: 200 of 200 users seen" in out
    assert "wrong_routing_get_bind: raised sqlalchemy.ext.asyncio.exc.AsyncContextNotStarted" in out
