"""examples/errors/concurrency.py on every lane: a session shared by tasks, a commit during a
running query, an engine reused across event loops, two SQLite writers, a failed statement's
cursor (SQLite, SQLAlchemy 2.0); and their fixes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy.exc import InterfaceError, InvalidRequestError, OperationalError

from examples.crud import create_user
from examples.errors import Database, capture
from examples.errors import concurrency as m
from examples.models import Base
from examples.production import make_production_engine
from tests.conftest import Lane


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(Base.metadata, m.JobsBase.metadata) as database:
        async with database.Session() as session:
            for name in ("Ada", "Grace", "Edsger"):
                await create_user(session, f"{name.lower()}@example.com", name)
            await session.commit()
        yield database


async def test_shared_session_reads(db: Database) -> None:
    outcome = await capture(m.wrong_shared_session_reads(db.url))
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(
        r"This session is provisioning a new connection; concurrent operations are not "
        r"permitted \(Background on this error at: https://sqlalche\.me/e/2[01]/isce\)",
        outcome.message,
    ), outcome.message
    assert await m.load_names(db.Session, [1, 2, 3]) == ["Ada", "Grace", "Edsger"]


async def test_shared_session_writes(db: Database) -> None:
    outcome = await capture(m.wrong_shared_session_writes(db.Session))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "Session is already flushing"
    # The second task's add() lands in the middle of the first one's flush, and says so.
    assert outcome.warnings == (
        "SAWarning: Usage of the 'Session.add()' operation is not currently supported within "
        "the execution stage of the flush process. Results may not be consistent.  Consider "
        "using alternative event listeners or connection-level operations instead.",
    )


async def test_commit_while_query_runs(db: Database, lane: Lane) -> None:
    outcome = await capture(m.wrong_commit_while_query_runs(db.url))
    if lane.driver == "asyncpg":
        assert outcome.error is InterfaceError
        assert re.match(
            r"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.InterfaceError\) "
            r"(<class 'asyncpg\.exceptions\._base\.InterfaceError'>: )?"  # 2.0 names the class
            r"cannot perform operation: another operation is in progress",
            outcome.message,
        ), outcome.message
    elif lane.backend == "mysql":
        # aiomysql: the commit reads the socket while the query's reader waits on it.
        assert outcome.error is RuntimeError
        assert outcome.message == (
            "readexactly() called while another coroutine is already waiting for incoming data"
        )
    else:
        # aiosqlite runs every call in order on its own thread; psycopg makes the commit wait
        # for the query (one operation at a time per connection): nothing fails, still wrong.
        assert outcome.error is None
    await m.fixed_commit_while_query_runs(db.url, m.SLOW_QUERY[db.dialect])


async def test_engine_shared_across_loops(db: Database, lane: Lane) -> None:
    loops = await m.run_in_child(db.url)
    outcome, stderr = loops["wrong_engine_shared_across_loops"]
    if lane.driver in ("aiosqlite", "psycopg"):
        # aiosqlite's thread answers whichever loop awaits it; psycopg waits on its socket in
        # whichever loop is running: no error with these two drivers.
        assert outcome.error is None
        assert outcome.value == [1, 1]
    else:
        assert outcome.error is RuntimeError
        assert re.fullmatch(
            r"Task <Task pending name='Task-\d+' coro=<.+> cb=\[.+\]> got Future "
            r"<Future pending( cb=\[.+\])?> attached to a different loop",
            outcome.message,
        ), outcome.message
    outcome, stderr = loops["wrong_dispose_in_another_loop"]
    assert outcome.error is None  # dispose() does not raise: the pool logs the failure
    if lane.driver in ("aiosqlite", "psycopg"):
        assert stderr == ""
    else:
        assert "Exception closing connection <AdaptedConnection <" in stderr, stderr
        assert stderr.rstrip().endswith("RuntimeError: Event loop is closed"), stderr
    outcome, stderr = loops["fixed_engine_per_loop"]
    assert outcome.error is None
    assert outcome.value == [1, 1]
    assert stderr == ""


async def test_long_write_transaction(db: Database, lane: Lane) -> None:
    outcome = await capture(m.wrong_long_write_transaction(db.url))
    if lane.backend == "sqlite":
        assert outcome.error is OperationalError
        assert re.match(
            r"\(sqlite3\.OperationalError\) database is locked\n\[SQL: INSERT INTO err_jobs",
            outcome.message,
        ), outcome.message
    else:
        # Row locks: two transactions inserting different rows do not wait for each other.
        assert outcome.error is None
    await m.fixed_long_write_transaction(db.url)


@pytest.mark.lanes("sqlite")  # the lock wait the collector interrupts is SQLite's
async def test_failed_statement_cursor(db: Database) -> None:
    outcome = await capture(m.wrong_failed_statement_cursor(db.url))
    if sqlalchemy.__version__.startswith("2.0."):
        # The collector freed a's failed cursor on the event loop while a waited for the lock:
        # the loop stopped, b could not commit, and a's wait ran out.
        assert outcome.error is OperationalError
        assert re.match(
            r"\(sqlite3\.OperationalError\) database is locked\n"
            r"\[SQL: INSERT INTO err_jobs \(name\) VALUES \(\?\)\]",
            outcome.message,
        ), outcome.message
    else:
        assert outcome.value == "both wrote"  # 2.1 closes the cursor itself
    assert await m.fixed_failed_statement_cursor(db.url) == "both wrote"


@pytest.mark.lanes("sqlite")
async def test_the_production_engine_closes_a_failed_statement_cursor(db: Database) -> None:
    """make_production_engine() installs the fix (production.md): the same sequence, with its
    BEGIN IMMEDIATE and 15 s lock wait, completes on 2.0 too instead of stalling."""
    engine = make_production_engine(db.url)
    try:
        assert await m.failed_insert_then_wait_for_lock(engine) == "both wrote"
    finally:
        await engine.dispose()


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_shared_session_reads: raised sqlalchemy.exc.InvalidRequestError" in out
    assert "load_names (a session per task): ['Ada', 'Grace', 'Edsger']" in out
    assert "fixed_engine_per_loop: returned [1, 1]" in out
    assert "fixed_long_write_transaction: returned None" in out
    if db_url.get_backend_name() == "sqlite":
        assert "fixed_failed_statement_cursor: returned 'both wrote'" in out
