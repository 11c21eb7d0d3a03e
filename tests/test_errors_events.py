"""examples/errors/events.py on every lane: listeners on the async objects fail with the texts
references/errors.md quotes; async functions where SQLAlchemy calls sync ones never run; the
fixes work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from examples.errors import Database, capture, capture_call
from examples.errors import events as m
from examples.models import Base as ProjectBase
from examples.models import User
from tests.conftest import Lane

ENGINE_EVENTS = (
    "asynchronous events are not implemented at this time.  Apply synchronous listeners to the "
    "AsyncEngine.sync_engine or AsyncConnection.sync_connection attributes."
)
SESSION_EVENTS = (
    "asynchronous events are not implemented at this time.  Apply synchronous listeners to the "
    "AsyncSession.sync_session."
)


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(ProjectBase.metadata) as database:
        async with database.Session() as session, session.begin():
            session.add(User(email="ada@example.com", name="Ada"))
        yield database


@pytest.fixture
async def new_engine(db: Database) -> AsyncIterator[AsyncEngine]:
    """An engine of its own: its first checkout opens a connection ("connect" fires), and the
    listeners a test adds go away with it."""
    engine = create_async_engine(db.url)
    try:
        yield engine
    finally:
        await engine.dispose()


def test_listen_on_async_engine(db: Database) -> None:
    for wrong in (m.wrong_listen_on_async_engine, m.wrong_listens_for_async_engine):
        outcome = capture_call(wrong, db.engine)
        assert outcome.error is NotImplementedError
        assert outcome.message == ENGINE_EVENTS


async def test_listen_on_async_connection(db: Database) -> None:
    """The AsyncConnection refuses listeners with the same text; its sync_connection takes them."""
    async with db.engine.connect() as conn:
        outcome = capture_call(sqlalchemy.event.listen, conn, "before_cursor_execute", m._noop)
        assert outcome.error is NotImplementedError
        assert outcome.message == ENGINE_EVENTS
        seen: list[str] = []

        def record(*args: object) -> None:
            seen.append(str(args[2]))

        sqlalchemy.event.listen(conn.sync_connection, "before_cursor_execute", record)
        await conn.execute(sqlalchemy.text("SELECT 1"))
        assert seen == ["SELECT 1"]


async def test_fixed_listen_on_sync_engine(new_engine: AsyncEngine) -> None:
    connects: list[str] = []
    m.fixed_listen_on_sync_engine(new_engine, lambda conn, record: connects.append("connect"))
    async with new_engine.connect() as conn:
        await conn.execute(sqlalchemy.text("SELECT 1"))
    async with new_engine.connect() as conn:  # the pooled connection again: no new connect
        await conn.execute(sqlalchemy.text("SELECT 1"))
    assert connects == ["connect"]


async def test_session_events_on_async_session(db: Database) -> None:
    outcome = capture_call(m.wrong_listen_on_async_session_class)
    assert outcome.error is InvalidRequestError
    assert outcome.message == (
        "No such event 'before_flush' for target "
        "'<class 'sqlalchemy.ext.asyncio.session.AsyncSession'>'"
    )
    outcome = capture_call(m.wrong_listen_on_async_sessionmaker, db.Session)
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(
        r"No such event 'before_flush' for target 'async_sessionmaker\(class_='AsyncSession', "
        r"bind=<sqlalchemy\.ext\.asyncio\.engine\.AsyncEngine object at 0x[0-9a-f]+>, "
        r"autoflush=True, expire_on_commit=False\)'",
        outcome.message,
    ), outcome.message
    async with db.Session() as session:
        outcome = capture_call(m.wrong_listen_on_async_session, session)
    assert outcome.error is NotImplementedError
    assert outcome.message == SESSION_EVENTS


async def test_fixed_session_events(db: Database) -> None:
    Session = m.fixed_session_events(db.engine)
    before = len(m.flushed)
    async with Session() as session, session.begin():
        session.add(User(email="grace@example.com", name="Grace"))
    assert m.flushed[before:] == ["User"]
    try:
        async with db.Session() as session, session.begin():  # a plain sessionmaker: not tracked
            session.add(User(email="linus@example.com", name="Linus"))
        assert m.flushed[before:] == ["User"]
    finally:
        async with db.Session() as session, session.begin():
            await session.execute(sqlalchemy.delete(User).where(User.name != "Ada"))


async def test_instance_sync_session_takes_listeners(db: Database) -> None:
    """What the NotImplementedError suggests, for one session: its sync_session."""
    seen: list[int] = []
    async with db.Session() as session:
        sqlalchemy.event.listen(
            session.sync_session, "before_flush", lambda s, ctx, inst: seen.append(len(s.new))
        )
        session.add(User(email="tmp@example.com", name="Tmp"))
        await session.flush()
        await session.rollback()
    assert seen == [1]


async def test_async_def_listener_never_runs(new_engine: AsyncEngine, db: Database) -> None:
    ran, caught = await m.recording_warnings(lambda: m.wrong_async_def_listener(new_engine))()
    assert ran == []
    assert caught == (
        "RuntimeWarning: coroutine 'wrong_async_def_listener.<locals>.on_connect' "
        "was never awaited",
    )
    other = create_async_engine(db.url)
    try:
        assert await m.fixed_sync_listener(other) == ["connect"]
    finally:
        await other.dispose()


async def test_async_function_to_run_sync_never_runs(db: Database) -> None:
    async with db.Session() as session:
        text, caught = await m.recording_warnings(
            lambda: m.wrong_async_function_to_run_sync(session)
        )()
    assert re.fullmatch(
        r"<coroutine object wrong_async_function_to_run_sync\.<locals>\.count_users "
        r"at 0x[0-9a-f]+> users",
        text,
    ), text
    assert caught == (
        "RuntimeWarning: coroutine 'wrong_async_function_to_run_sync.<locals>.count_users' "
        "was never awaited",
    )
    async with db.Session() as session:
        outcome = await capture(m.fixed_run_sync_function(session))
    assert outcome.value == "1 users"


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    wrong = "wrong_listen_on_async_engine: raised builtins.NotImplementedError: "
    assert wrong + ENGINE_EVENTS in out
    assert "fixed_listen_on_sync_engine: ['connect']" in out
    assert "wrong_listen_on_async_session_class: raised sqlalchemy.exc.InvalidRequestError" in out
    assert "fixed_session_events: flushed [" in out
    assert "wrong_async_def_listener: returned []" in out
    assert "fixed_sync_listener: returned ['connect']" in out
    assert "fixed_run_sync_function: returned '2 users'" in out
