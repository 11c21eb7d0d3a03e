"""examples/errors/sessions.py on every lane: session lifecycle mistakes raise exactly what
references/errors.md quotes; each fix works."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import psycopg
import pytest
import sqlalchemy
from sqlalchemy.exc import (
    IntegrityError,
    InvalidRequestError,
    MultipleResultsFound,
    NoResultFound,
    PendingRollbackError,
    ResourceClosedError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError

from examples.errors import Database, capture
from examples.errors import sessions as m
from examples.models import Base
from tests.conftest import Lane
from tools.versions import SA21

# The duplicate-key message per driver.
DUPLICATE = {
    "aiosqlite": r"\(sqlite3\.IntegrityError\) UNIQUE constraint failed: users\.email",
    # 2.0 names the adapted generic class and quotes asyncpg's; 2.1 adapts the specific class.
    "asyncpg": r"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.(IntegrityError\) <class "
    r"'asyncpg\.exceptions\.UniqueViolationError'>:|UniqueViolationError\)) duplicate key value "
    r"violates unique constraint \"uq_users_email\"",
    "psycopg": r"\(psycopg\.errors\.UniqueViolation\) duplicate key value violates unique "
    r"constraint \"uq_users_email\"",
    "aiomysql": r"\(pymysql\.err\.IntegrityError\) \(1062, \"Duplicate entry 'ada@example\.com' "
    r"for key 'uq_users_email'\"\)",
}


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(Base.metadata) as database:
        await m.seed(database)
        yield database


async def test_continue_after_integrity_error(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_continue_after_integrity_error(session))
    assert outcome.error is PendingRollbackError
    assert re.match(
        r"This Session's transaction has been rolled back due to a previous exception during "
        r"flush\. To begin a new transaction with this Session, first issue Session\.rollback\(\)"
        r"\. Original exception was: " + DUPLICATE[lane.driver],
        outcome.message,
    ), outcome.message
    async with db.Session() as session:
        assert await m.fixed_continue_after_integrity_error(session) == 3


async def test_begin_after_autobegin(db: Database) -> None:
    outcome = await capture(m.wrong_begin_after_autobegin(db.Session))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "A transaction is already begun on this Session."
    assert await m.fixed_begin_after_autobegin(db.Session) == "Ada"


async def test_commit_inside_begin(db: Database) -> None:
    outcome = await capture(m.wrong_commit_inside_begin(db.Session))
    assert outcome.error is InvalidRequestError
    assert outcome.message == (
        "Can't operate on closed transaction inside context manager.  Please complete the "
        "context manager before emitting further commands."
    )
    assert await m.fixed_commit_inside_begin(db.Session) == ["Ada", "Ada"]


async def test_add_to_second_session(db: Database) -> None:
    outcome = await capture(m.wrong_add_to_second_session(db.Session))
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(
        r"Object '<User at 0x[0-9a-f]+>' is already attached to session '\d+' \(this is '\d+'\)",
        outcome.message,
    ), outcome.message
    assert await m.fixed_add_to_second_session(db.Session) == "Ada"


async def test_refresh_before_flush(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_refresh_before_flush(session))
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(
        r"Instance '<User at 0x[0-9a-f]+>' is not persistent within this Session", outcome.message
    ), outcome.message
    async with db.Session() as session:
        assert await m.fixed_refresh_before_flush(session) > 0


async def test_update_deleted_row(db: Database) -> None:
    outcome = await capture(m.wrong_update_deleted_row(db.Session))
    assert outcome.error is StaleDataError
    assert outcome.message == (
        "UPDATE statement on table 'users' expected to update 1 row(s); 0 were matched."
    )
    assert await m.fixed_update_deleted_row(db.Session) is False


async def test_refresh_deleted_row(db: Database) -> None:
    outcome = await capture(m.wrong_refresh_deleted_row(db.Session))
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(r"Could not refresh instance '<User at 0x[0-9a-f]+>'", outcome.message)
    assert await m.fixed_refresh_deleted_row(db.Session) is None


async def test_scalar_one(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_scalar_one_no_row(session))
        assert outcome.error is NoResultFound
        assert outcome.message == "No row was found when one was required"
        outcome = await capture(m.wrong_scalar_one_many_rows(session))
        assert outcome.error is MultipleResultsFound
        assert outcome.message == "Multiple rows were found when exactly one was required"
        assert await m.find_by_email(session, "nobody@example.com") is None
        found = await m.find_by_email(session, "grace@example.com")
        assert found is not None
        assert found.name == "Grace"
        first = await m.first_by_name(session, "Ada")
        assert first is not None
        assert first.email == "ada@example.com"


async def test_joinedload_collection(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_joinedload_collection(session))
        assert outcome.error is InvalidRequestError
        assert outcome.message == (
            "The unique() method must be invoked on this Result, as it contains results that "
            "include joined eager loads against collections"
        )
    for load in (m.users_with_posts, m.users_with_posts_joined):
        async with db.Session() as session:
            users = await load(session)
            assert len(users) == 3
            assert [p.title for u in users for p in u.posts] == ["COBOL"]


async def test_rows_from_update(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_rows_from_update(session))
        assert outcome.error is ResourceClosedError
        assert outcome.message == (
            "This result object does not return rows. It has been closed automatically."
        )
        assert await m.rename_all(session, "Nobody", "X") == 0
        assert await m.rename_all(session, "Ada", "Ada L.") == 2
        await session.rollback()


async def test_session_left_open(db: Database) -> None:
    outcome = await capture(m.wrong_session_left_open(db.url))
    assert outcome.error is PoolTimeoutError
    assert re.fullmatch(
        r"QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0\.20 "
        r"\(Background on this error at: https://sqlalche\.me/e/2[01]/3o7r\)",
        outcome.message,
    ), outcome.message
    assert await m.fixed_session_left_open(db.url) == 3


async def test_session_never_closed(db: Database, lane: Lane) -> None:
    outcome = await capture(m.wrong_session_never_closed(db.Session))
    assert outcome.error is None
    assert outcome.value == 3  # it worked, and leaked its connection
    # How the driver's connection prints, and what the pool does with it: psycopg's adapter
    # cannot be closed from the garbage collector, so the connection is dropped instead.
    driver_connection, fate = {
        "aiosqlite": (r"aiosqlite\.core\.Connection object at 0x[0-9a-f]+", "terminated"),
        "asyncpg": (r"asyncpg\.connection\.Connection object at 0x[0-9a-f]+", "terminated"),
        "psycopg": (
            # (libpq's connection info: the port appears when it is not 5432)
            r"psycopg\.AsyncConnection \[INTRANS\] \(host=\S+ (port=\d+ )?user=\S+ "
            r"database=\S+\) at 0x[0-9a-f]+",
            "dropped, as it cannot be safely terminated",
        ),
        "aiomysql": (r"aiomysql\.connection\.Connection object at 0x[0-9a-f]+", "terminated"),
    }[lane.driver]
    leaks = [w for w in outcome.warnings if w.startswith("SAWarning: The garbage collector")]
    assert len(leaks) == 1, outcome.warnings
    assert re.fullmatch(
        r"SAWarning: The garbage collector is trying to clean up non-checked-in connection "
        rf"<AdaptedConnection <{driver_connection}>>, which will be "
        rf"{fate}\.  Please ensure that SQLAlchemy pooled connections are returned to the "
        r"pool explicitly, either by calling ``close\(\)`` or by using appropriate context "
        r"managers to manage their lifecycle\.",
        leaks[0],
    ), leaks[0]
    assert await m.fixed_session_never_closed(db.Session) == 3


async def test_catch_driver_exception(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_catch_driver_exception(session))
    assert outcome.error is IntegrityError  # escaped the except clause for the driver's class
    assert re.match(DUPLICATE[lane.driver], outcome.message), outcome.message
    if lane.driver == "psycopg":  # .orig is psycopg's own exception, not an adapter class
        assert outcome.cause is psycopg.errors.UniqueViolation
    orig = {
        "aiosqlite": "IntegrityError",  # sqlite3.IntegrityError
        "asyncpg": "UniqueViolationError" if SA21 else "IntegrityError",  # adapted classes
        "psycopg": "UniqueViolation",  # psycopg.errors.UniqueViolation itself
        "aiomysql": "IntegrityError",  # pymysql.err.IntegrityError
    }[lane.driver]
    async with db.Session() as session:
        assert await m.fixed_catch_driver_exception(session) == f"email taken ({orig})"


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_continue_after_integrity_error: raised sqlalchemy.exc.PendingRollbackError" in out
    assert "wrong_session_left_open: raised sqlalchemy.exc.TimeoutError" in out
    assert "  warned: SAWarning: The garbage collector is trying to clean up" in out
    assert "fixed_catch_driver_exception: returned 'email taken (" in out


async def test_get_options_ignored(db: Database) -> None:
    """session.get() of an object already in the session applies no loader option."""
    async with db.Session() as session:
        outcome = await capture(m.wrong_get_options_ignored(session))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'User.posts' is not available due to lazy='raise'"
    async with db.Session() as session:
        assert await m.fixed_get_populate_existing(session) == ["COBOL"]
