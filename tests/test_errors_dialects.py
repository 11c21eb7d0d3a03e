"""examples/errors/dialects.py on every lane: what fails on PostgreSQL or MariaDB and passes
(or silently stores the wrong value) on SQLite, asserted per lane; the fixes work on all."""

from __future__ import annotations

import contextlib
import datetime
import re
import zoneinfo
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.exc import (
    CompileError,
    DataError,
    InvalidRequestError,
    ProgrammingError,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples.errors import Database, Outcome, capture
from examples.errors import dialects as m
from examples.fastapi_app import SessionDep
from tests.conftest import Lane
from tests.postgresql_errors import postgresql_error
from tools.statements import count_statements
from tools.versions import SA21


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
    async with lane.database_with(m.DialectBase.metadata, m.EagerDefaultsBase.metadata) as database:
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
    # 03:04:05+02:00 back as 01:04:05 UTC, aware, from every database.
    assert stored == datetime.datetime(2026, 1, 2, 1, 4, 5, tzinfo=datetime.UTC)
    assert stored is not None
    assert stored.tzinfo is datetime.UTC
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


async def test_main(db_url: sqlalchemy.URL, lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "mark_seen: returned [1, 2, 3]" in out
    assert "event_page (page 0): raised builtins.ValueError" in out
    assert "wrong_server_default_without_returning: returned MemberOut(" in out
    if lane.backend == "mysql":
        assert (
            "wrong_server_default_without_returning (as MySQL): raised "
            "pydantic_core._pydantic_core.ValidationError" in out
        )
        assert "fixed_bulk_insert_returning (as MySQL): returned [<" in out


# MySQL has no RETURNING. No MySQL server is in the lanes: on the MariaDB lane,
# m.without_insert_returning() clears the dialect's RETURNING flags, as SQLAlchemy's MySQL
# dialect leaves them for a MySQL server, and SQLAlchemy takes MySQL's path.


def statement_shapes(statements: list[str]) -> list[str]:
    """``INSERT <table>`` / ``SELECT <first column>`` per data statement (BEGIN/COMMIT left out)."""
    shapes = []
    for statement in statements:
        words = statement.split()
        if words[0] == "INSERT":
            shapes.append(f"INSERT {words[2]}")
        elif words[0] == "SELECT":
            shapes.append(f"SELECT {words[1].rstrip(',')}")
        elif words[0] not in ("BEGIN", "COMMIT"):
            shapes.append(words[0])
    return shapes


@contextlib.asynccontextmanager
async def as_mysql(db: Database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on db's MariaDB database through an engine that takes MySQL's path."""
    engine = create_async_engine(db.url)
    try:
        await m.without_insert_returning(engine)
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


def _engine(Session: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = Session.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


async def test_server_default_comes_back_with_the_insert(db: Database) -> None:
    """With RETURNING (every lane: PostgreSQL, SQLite >= 3.35, MariaDB >= 10.5) the mapping
    without eager_defaults works too: the mistake only shows on MySQL."""
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            lazy = await m.wrong_server_default_without_returning(session, "lazy@example.com")
            eager = await m.fixed_server_default_without_returning(session, "eager@example.com")
    assert isinstance(lazy.created_at, datetime.datetime)
    assert isinstance(eager.created_at, datetime.datetime)
    assert statement_shapes(log.statements) == ["INSERT err_members_lazy", "INSERT err_members"]


def missing_greenlet_in_model_validate(table: str, model: str) -> str:
    """Pydantic's report of MissingGreenlet raised while it read created_at (aiomysql: wrapped in
    StatementError). 2.0 says await_only() and aliases the column; 2.1 says await_()."""
    await_call, alias, line = (
        ("await_()", "", "21") if SA21 else ("await_only()", f" AS {table}_created_at", "20")
    )
    return (
        re.escape(
            "1 validation error for MemberOut\ncreated_at\n  Error extracting attribute: "
            "StatementError: (sqlalchemy.exc.MissingGreenlet) greenlet_spawn has not been "
            f"called; can't call {await_call} here. Was IO attempted in an unexpected place?\n"
            f"[SQL: SELECT {table}.created_at{alias} \nFROM {table} \nWHERE {table}.id = %s]\n"
            "[parameters: [{'pk_1': "
        )
        + r"\d+"
        + re.escape(
            "}]]\n(Background on this error at: "
            f"https://sqlalche.me/e/{line}/xd2s) [type=get_attribute_error, input_value="
        )
        + r"<[^>]+>"  # the object's repr, shortened by Pydantic
        + re.escape(f", input_type={model}]")
    )


@pytest.mark.lanes("mysql")
async def test_server_default_without_returning(db: Database) -> None:
    async with as_mysql(db) as Session, Session() as session:
        outcome = await capture(m.wrong_server_default_without_returning(session, "a@mysql.test"))
        assert outcome.error is ValidationError
        assert re.match(
            missing_greenlet_in_model_validate("err_members_lazy", "MemberWithoutEagerDefaults"),
            outcome.message,
        ), outcome.message
        # The row was committed before the failure: the client's retry gets a duplicate.
        count = select(func.count()).where(m.MemberWithoutEagerDefaults.email == "a@mysql.test")
        assert await session.scalar(count) == 1

        with count_statements(_engine(Session)) as log:
            member = await m.fixed_server_default_without_returning(session, "b@mysql.test")
        assert isinstance(member.created_at, datetime.datetime)
        # eager_defaults=True: exactly one SELECT, right after the INSERT, fetches created_at.
        assert statement_shapes(log.statements) == [
            "INSERT err_members",
            "SELECT err_members.created_at",
        ]
        with pytest.raises(ValueError, match="not an email address: 'nobody'"):
            await m.fixed_server_default_without_returning(session, "nobody")


@pytest.mark.lanes("mysql")
async def test_an_endpoint_without_eager_defaults_is_a_500_on_mysql(db: Database) -> None:
    """Through FastAPI: the mapping without eager_defaults answers 500 on MySQL's path, after
    writing the row; the fixed mapping answers 201 with created_at."""
    async with as_mysql(db) as Session:
        app = FastAPI()
        app.state.sessionmaker = Session  # what examples.fastapi_app's get_session reads

        @app.post("/lazy", status_code=201)
        async def create_lazy(email: str, session: SessionDep) -> m.MemberOut:
            return await m.wrong_server_default_without_returning(session, email)

        @app.post("/eager", status_code=201)
        async def create_eager(email: str, session: SessionDep) -> m.MemberOut:
            return await m.fixed_server_default_without_returning(session, email)

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            lazy = await client.post("/lazy", params={"email": "c@mysql.test"})
            eager = await client.post("/eager", params={"email": "d@mysql.test"})
        assert (lazy.status_code, lazy.text) == (500, "Internal Server Error")
        assert eager.status_code == 201
        assert eager.json()["created_at"]
        async with Session() as session:
            written = select(func.count()).where(
                m.MemberWithoutEagerDefaults.email == "c@mysql.test"
            )
            assert await session.scalar(written) == 1  # written, though the client saw a 500


async def test_bulk_insert_returning(db: Database, lane: Lane) -> None:
    emails = [f"bulk{i}-{lane.driver}@example.com" for i in range(3)]
    async with db.Session() as session:  # RETURNING as the lane has it: works everywhere
        members = await m.wrong_bulk_insert_returning(session, emails)
        assert [member.email for member in members] == emails
        await session.rollback()
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            members = await m.fixed_bulk_insert_returning(session, emails)
        assert [member.email for member in members] == emails
        assert all(isinstance(member.created_at, datetime.datetime) for member in members)
        assert statement_shapes(log.statements) == ["INSERT err_members", "SELECT err_members.id"]
        await session.rollback()
        with pytest.raises(ValueError, match="need a non-empty list of email addresses"):
            await m.fixed_bulk_insert_returning(session, [])


@pytest.mark.lanes("mysql")
async def test_bulk_insert_returning_on_mysql(db: Database) -> None:
    emails = ["e@mysql.test", "f@mysql.test"]
    async with as_mysql(db) as Session, Session() as session:
        with count_statements(_engine(Session)) as log:
            outcome = await capture(m.wrong_bulk_insert_returning(session, emails))
        assert log.statements == []  # refused before anything is sent
        assert outcome.error is InvalidRequestError
        backend = _engine(Session).dialect.name  # mysql, or mariadb for a mariadb:// URL
        assert outcome.message == (
            f"Can't use explicit RETURNING for bulk INSERT operation with {backend}+aiomysql "
            "backend; executemany with RETURNING is not enabled for this dialect."
        )
        await session.rollback()
        members = await m.fixed_bulk_insert_returning(session, emails)
        assert [member.email for member in members] == emails
        await session.rollback()
