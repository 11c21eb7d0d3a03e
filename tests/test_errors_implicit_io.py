"""examples/errors/implicit_io.py on every lane: each wrong pattern raises exactly what
references/errors.md quotes, and each fix returns the data."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.orm.exc import DetachedInstanceError

from examples.errors import Database, Outcome, capture, capture_call
from examples.errors import implicit_io as m
from examples.models import Base as ProjectBase
from tests.conftest import Lane
from tests.missing_greenlet import TEXT
from tools.statements import count_statements
from tools.versions import SA21

# The installed line's text: 2.0 says await_only(), 2.1 says await_().
MISSING_GREENLET = re.escape(TEXT)


def assert_missing_greenlet(outcome: Outcome, lane: Lane) -> None:
    """asyncpg raises MissingGreenlet itself; aiomysql (2.0 and 2.1), and aiosqlite and psycopg
    on 2.1, raise it wrapped in StatementError (its .orig), so ``except MissingGreenlet``
    misses it there."""
    wrapped = lane.driver == "aiomysql" or (lane.driver in ("aiosqlite", "psycopg") and SA21)
    if wrapped:
        assert outcome.error is StatementError
        assert outcome.cause is MissingGreenlet
        assert outcome.message.startswith("(sqlalchemy.exc.MissingGreenlet) ")
    else:
        assert outcome.error is MissingGreenlet
    assert re.search(MISSING_GREENLET, outcome.message), outcome.message


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[tuple[Database, m.Rows]]:
    async with lane.database_with(m.Base.metadata, ProjectBase.metadata) as database:
        yield database, await m.seed(database)


async def test_lazy_load(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, rows = db
    async with database.Session() as session:
        assert_missing_greenlet(await capture(m.wrong_lazy_load(session, rows.author_id)), lane)
    async with database.Session() as session:
        assert await m.fixed_lazy_load(session, rows.author_id) == ["Lathe", "Dispossessed"]
    async with database.Session() as session:
        titles = await m.fixed_lazy_load_on_demand(session, rows.author_id)
        assert titles == ["Lathe", "Dispossessed"]


async def test_expired_after_commit(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, _ = db
    assert_missing_greenlet(await capture(m.wrong_expired_after_commit(database.engine)), lane)
    assert await m.fixed_expired_after_commit(database.engine) == "Grace"


async def test_server_value_after_update(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, rows = db
    outcome = await capture(m.wrong_server_value_after_update(database.Session, rows.doc_id))
    assert_missing_greenlet(outcome, lane)
    with count_statements(database.engine) as log:
        assert await m.fixed_server_value_after_update(database.Session, rows.eager_doc_id)
    # get_one's SELECT, then UPDATE ... RETURNING updated_at; MariaDB has no UPDATE ...
    # RETURNING, so the flush reads the value back with one more SELECT.
    assert log.count == (3 if lane.backend == "mysql" else 2), log.statements
    assert any("RETURNING" in s for s in log.statements) is (lane.backend != "mysql")
    assert await m.fixed_server_value_by_refresh(database.Session, rows.doc_id)


async def test_server_default_comes_back_from_the_insert(db: tuple[Database, m.Rows]) -> None:
    # SQLite >= 3.35, PostgreSQL and MariaDB >= 10.5 all have INSERT ... RETURNING.
    database, _ = db
    assert await m.server_default_loaded_after_insert(database.Session) is True


async def test_raiseload(db: tuple[Database, m.Rows]) -> None:
    database, rows = db
    async with database.Session() as session:
        outcome = await capture(m.wrong_raiseload(session, rows.user_id))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'User.posts' is not available due to lazy='raise'"
    async with database.Session() as session:
        assert await m.fixed_raiseload(session, rows.user_id) == ["Notes"]


async def test_refresh_with_cascade_all(db: tuple[Database, m.Rows]) -> None:
    """cascade="all" includes refresh-expire: refresh(parent) unloads what the children had."""
    database, rows = db
    async with database.Session() as session:
        outcome = await capture(m.wrong_refresh_with_cascade_all(session, rows.shelf_id))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'ShelfBook.notes' is not available due to lazy='raise'"
    async with database.Session() as session:
        assert await m.fixed_refresh_keeps_children_loaded(session, rows.user_id) == ["sql"]


async def test_detached_lazy_load(db: tuple[Database, m.Rows]) -> None:
    database, rows = db
    outcome = await capture(m.wrong_detached_lazy_load(database.Session, rows.author_id))
    assert outcome.error is DetachedInstanceError
    assert re.match(
        r"Parent instance <Author at 0x[0-9a-f]+> is not bound to a Session; lazy load "
        r"operation of attribute 'books' cannot proceed \(Background on this error at: "
        r"https://sqlalche\.me/e/2[01]/bhk3\)$",
        outcome.message,
    ), outcome.message
    titles = await m.fixed_detached_lazy_load(database.Session, rows.author_id)
    assert titles == ["Lathe", "Dispossessed"]


async def test_detached_expired(db: tuple[Database, m.Rows]) -> None:
    database, rows = db
    outcome = await capture(m.wrong_detached_expired(database.engine, rows.author_id))
    assert outcome.error is DetachedInstanceError
    assert re.match(
        r"Instance <Author at 0x[0-9a-f]+> is not bound to a Session; attribute refresh "
        r"operation cannot proceed",
        outcome.message,
    ), outcome.message
    assert await m.fixed_detached_expired(database.engine, rows.author_id) == "Ursula"


async def test_sync_engine_with_async_driver(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, _ = db
    outcome = capture_call(m.wrong_sync_engine_async_driver, database.url)
    if lane.driver == "psycopg":
        # psycopg is a sync driver too: create_engine() picks its sync mode, and it works.
        assert outcome.error is None
        assert "err_authors" in outcome.value
    else:
        # The connect itself is the IO that cannot run: MissingGreenlet, unwrapped.
        assert outcome.error is MissingGreenlet
        assert re.match(MISSING_GREENLET, outcome.message), outcome.message
    assert "err_authors" in await m.fixed_sync_engine_async_driver(database.url)


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_lazy_load: raised sqlalchemy.exc." in out
    assert "fixed_lazy_load: returned ['Lathe', 'Dispossessed']" in out
    assert "wrong_raiseload: raised sqlalchemy.exc.InvalidRequestError" in out
    assert "fixed_sync_engine_async_driver: sees err_authors: True" in out
