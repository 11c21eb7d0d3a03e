"""examples/errors/dialects.py on every lane: what fails on PostgreSQL or MariaDB and passes
(or silently stores the wrong value) on SQLite, asserted per lane; the fixes work on all."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import CompileError, DataError, DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from examples.errors import Database, Outcome, capture
from examples.errors import dialects as m
from tests.conftest import Lane
from tools.versions import ASYNCPG_ERRORS_BY_SQLSTATE


def postgresql_error(
    outcome: Outcome,
    lane: Lane,
    pep249_class: type[DBAPIError],
    driver_classes: tuple[str, str],
    text: str,
) -> None:
    """A PostgreSQL error through each driver. psycopg raises the PEP 249 class of the SQLSTATE
    (``pep249_class``) and names its own class (``driver_classes[1]``). asyncpg errors arrive
    as a plain DBAPIError, or since 2.0.59/2.1.10 as that PEP 249 class; 2.0 also names asyncpg's
    class (``driver_classes[0]``) in the message."""
    asyncpg_class, psycopg_class = driver_classes
    if lane.driver == "psycopg":
        assert outcome.error is pep249_class
        assert re.match(rf"\(psycopg\.errors\.{psycopg_class}\) " + text, outcome.message), (
            outcome.message
        )
        return
    expected = pep249_class if ASYNCPG_ERRORS_BY_SQLSTATE else DBAPIError
    assert outcome.error is expected
    adapter_class = pep249_class.__name__ if ASYNCPG_ERRORS_BY_SQLSTATE else "Error"
    assert re.match(
        rf"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.{adapter_class}\) "
        rf"(<class 'asyncpg\.exceptions\.{asyncpg_class}'>: )?" + text,
        outcome.message,
    ), outcome.message


async def session_time_zone(session: AsyncSession) -> zoneinfo.ZoneInfo:
    """The PostgreSQL session's TimeZone setting (the server's, unless the client set one)."""
    return zoneinfo.ZoneInfo(str(await session.scalar(text("SHOW timezone"))))


def mariadb_syntax_error(outcome: Outcome, near: str) -> None:
    assert outcome.error is ProgrammingError
    assert outcome.message.startswith(
        '(pymysql.err.ProgrammingError) (1064, "You have an error in your SQL syntax; check the '
        "manual that corresponds to your MariaDB server version for the right syntax to use near "
        f"'{near}"
    ), outcome.message


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(m.DialectBase.metadata) as database:
        await m.seed(database.Session)
        yield database


async def test_varchar_without_length(db: Database, lane: Lane) -> None:
    outcome = await capture(m.wrong_varchar_without_length(db.engine))
    if lane.backend == "mysql":
        # The URL's dialect: "mysql", or "mariadb" for a mariadb+aiomysql:// URL.
        dialect = lane.drivername.partition("+")[0]
        assert db.dialect == dialect
        assert outcome.error is CompileError
        assert outcome.message == (
            f"(in table 'err_untyped', column 'title'): VARCHAR requires a length on dialect "
            f"{dialect}"
        )
    else:  # PostgreSQL and SQLite accept VARCHAR without a length
        assert outcome.error is None
    await m.fixed_varchar_length(db.engine)


async def test_aware_datetime_in_naive_column(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_aware_datetime_in_naive_column(session))
        if lane.driver == "psycopg":
            zone = await session_time_zone(session)
    if lane.driver == "asyncpg":
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("DataError", ""),
            r"invalid input for query argument \$1: datetime\.datetime\(2026, 1, 2, 3, 4, 5, "
            r"t\.\.\. \(can't subtract offset-naive and offset-aware datetimes\)",
        )
    elif lane.driver == "psycopg":
        # No error: psycopg sends a timestamptz, and the server converts it to the session's
        # time zone and drops the offset. Which wall-clock time is stored depends on the server.
        assert outcome.error is None
        assert outcome.value == m.AWARE.astimezone(zone).replace(tzinfo=None)
    else:  # silently stores the wall-clock time: 03:04 at +02:00 comes back as 03:04
        assert outcome.error is None
        assert outcome.value == datetime.datetime(2026, 1, 2, 3, 4, 5)
    async with db.Session() as session:
        stored = await m.record_event(session, m.AWARE)
    utc = datetime.datetime(2026, 1, 2, 1, 4, 5, tzinfo=datetime.UTC)
    if lane.backend == "postgresql":
        assert stored == utc
        assert stored is not None
        assert stored.tzinfo is not None
    else:  # no offset stored: naive, by convention UTC
        assert stored == utc.replace(tzinfo=None)
    async with db.Session() as session:
        with pytest.raises(ValueError, match="pass an aware datetime"):
            await m.record_event(session, datetime.datetime(2026, 1, 2))


async def test_string_for_integer(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_string_for_integer(session, "1"))
    if lane.driver == "asyncpg":
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("DataError", ""),
            r"invalid input for query argument \$1: '1' \('str' object cannot be interpreted as "
            r"an integer\)",
        )
    else:  # SQLite and MariaDB convert the string; psycopg sends it untyped, PostgreSQL casts it
        assert outcome.error is None
        assert outcome.value == 1
    async with db.Session() as session:
        assert await m.count_events(session, "1") == 1
        with pytest.raises(ValueError, match="not an id: 'x1'"):
            await m.count_events(session, "x1")
    if lane.driver == "psycopg":  # a string that is no integer fails on the server
        async with db.Session() as session:
            outcome = await capture(m.wrong_string_for_integer(session, "x1"))
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("", "InvalidTextRepresentation"),
            r'invalid input syntax for type integer: "x1"',
        )


async def test_string_too_long(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_string_too_long(session))
    if lane.backend == "postgresql":
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("StringDataRightTruncationError", "StringDataRightTruncation"),
            r"value too long for type character varying\(5\)",
        )
    elif lane.backend == "mysql":  # strict mode, MariaDB's default
        assert outcome.error is DataError
        assert outcome.message.startswith(
            "(pymysql.err.DataError) (1406, \"Data too long for column 'code' at row 1\")"
        ), outcome.message
    else:  # SQLite ignores VARCHAR lengths
        assert outcome.error is None
        assert outcome.value == "TOO-LONG-CODE"
    async with db.Session() as session:
        assert await m.add_event_with_code(session, "OK-1") == "OK-1"
        with pytest.raises(ValueError, match="code must be 1-5 characters"):
            await m.add_event_with_code(session, "TOO-LONG-CODE")


async def test_update_returning(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_update_returning(session))
    if lane.backend == "mysql":  # MariaDB: INSERT/DELETE ... RETURNING only
        mariadb_syntax_error(outcome, "RETURNING err_events.id")
    else:
        assert outcome.error is None
        assert outcome.value == [1, 2, 3]
    async with db.Session() as session:
        assert await m.mark_seen(session) == [1, 2, 3]
        assert await m.mark_seen(session) == []  # already seen in this transaction
        await session.rollback()


async def test_negative_offset(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_negative_offset(session, 0))
    if lane.backend == "postgresql":
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("InvalidRowCountInResultOffsetClauseError", "InvalidRowCountInResultOffsetClause"),
            r"OFFSET must not be negative",
        )
    elif lane.backend == "mysql":
        mariadb_syntax_error(outcome, "-5, 5")
    else:  # SQLite treats a negative OFFSET as 0: page 0 silently shows page 1
        assert outcome.error is None
        assert outcome.value == [1, 2, 3]
    async with db.Session() as session:
        assert await m.event_page(session, 1) == [1, 2, 3]
        with pytest.raises(ValueError, match="page must be >= 1"):
            await m.event_page(session, 0)


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "mark_seen: returned [1, 2, 3]" in out
    assert "event_page (page 0): raised builtins.ValueError" in out
