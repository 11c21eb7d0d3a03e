"""examples/errors/poolers.py through a real PgBouncer (transaction pooling) in front of each
PostgreSQL lane: the exact error each driver raises on each SQLAlchemy line, and the fixes.

Every test gets a fresh database, so PgBouncer opens a fresh pool of server connections for it
and the order in which the pattern uses them is the same on every run."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import URL
from sqlalchemy.exc import DBAPIError, NotSupportedError, OperationalError, ProgrammingError

from examples.errors import capture
from examples.errors import poolers as m
from tests.conftest import Lane
from tests.postgresql_errors import asyncpg_error
from tools.databases import Server
from tools.versions import SA21

pytestmark = pytest.mark.lanes("postgresql")

ASYNCPG_PGBOUNCER_HINT = (
    'NOTE: pgbouncer with pool_mode set to "transaction" or\n'
    '"statement" does not support prepared statements properly.'
)


@pytest.fixture
def pooler_url(db_url: URL, pgbouncer: Server) -> str:
    """The test's fresh database, reached through PgBouncer."""
    url = db_url.set(host=pgbouncer.admin_url.host, port=pgbouncer.admin_url.port)
    return url.render_as_string(hide_password=False)


async def test_statement_cache(pooler_url: str, lane: Lane) -> None:
    outcome = await capture(m.wrong_statement_cache(pooler_url))
    if lane.driver == "asyncpg":
        # The name counts up per process: its number depends on what ran before.
        asyncpg_error(
            outcome,
            ProgrammingError,
            "InvalidSQLStatementNameError",
            r'prepared statement "__asyncpg_stmt_[0-9a-f]+__" does not exist',
        )
        # 2.0 keeps asyncpg's hint in the message; 2.1 keeps the first line only.
        assert (ASYNCPG_PGBOUNCER_HINT in outcome.message) is not SA21
    else:
        assert outcome.error is ProgrammingError
        assert outcome.message.splitlines()[0] == (
            '(psycopg.errors.InvalidSqlStatementName) prepared statement "_pg3_0" does not exist'
        )
    assert await m.fixed_statement_cache(pooler_url) == 7


async def test_second_worker(pooler_url: str, lane: Lane) -> None:
    first, second = await m.wrong_second_worker(pooler_url)
    assert first.error is None, first  # alone on the pooler, a worker runs clean
    assert second.error is ProgrammingError  # 42P05: mapped on every release
    first_line = second.message.splitlines()[0]
    if lane.driver == "asyncpg":
        named = "" if SA21 else "<class 'asyncpg.exceptions.DuplicatePreparedStatementError'>: "
        assert first_line == (
            f"(sqlalchemy.dialects.postgresql.asyncpg.ProgrammingError) {named}"
            'prepared statement "__asyncpg_stmt_1__" already exists'
        )
        # The second worker fails at its first statement: SQLAlchemy's on-connect query.
        assert "[SQL: select pg_catalog.version()]" in second.message
        assert (ASYNCPG_PGBOUNCER_HINT in second.message) is not SA21
    else:
        assert second.cause is not None
        assert second.cause.__name__ == "DuplicatePreparedStatement"
        assert first_line == (
            '(psycopg.errors.DuplicatePreparedStatement) prepared statement "_pg3_0" already exists'
        )
    fixed = await m.fixed_second_worker(pooler_url)
    assert [outcome.value for outcome in fixed] == [sum(range(6))] * 2, fixed


async def test_startup_statement_timeout(pooler_url: str, lane: Lane) -> None:
    outcome = await capture(m.wrong_startup_statement_timeout(pooler_url))
    if lane.driver == "asyncpg":
        if SA21:
            assert outcome.error is DBAPIError
            assert outcome.message.splitlines()[0] == (
                "(sqlalchemy.dialects.postgresql.asyncpg.Error) "
                "unsupported startup parameter: statement_timeout"
            )
        else:  # 2.0 lets asyncpg's exception through unwrapped: `except DBAPIError` misses it
            assert outcome.name == "asyncpg.exceptions.ProtocolViolationError"
            assert outcome.message == "unsupported startup parameter: statement_timeout"
    else:
        assert outcome.error is OperationalError
        assert re.fullmatch(
            r"\(psycopg\.OperationalError\) connection failed: connection to server at "
            r'"127\.0\.0\.1", port \d+ failed: FATAL:  unsupported startup parameter: options',
            outcome.message.splitlines()[0],
        ), outcome.message
    assert await m.fixed_startup_statement_timeout(pooler_url) == "30s"


async def test_session_set(pooler_url: str, lane: Lane) -> None:
    outcome = await capture(m.wrong_session_set(pooler_url))
    text = "canceling statement due to statement timeout"
    if lane.driver == "asyncpg":
        asyncpg_error(outcome, OperationalError, "QueryCanceledError", text)
    else:
        assert outcome.error is OperationalError
        assert outcome.message.splitlines()[0] == f"(psycopg.errors.QueryCanceled) {text}"
    assert "[SQL: SELECT pg_sleep(0.5)]" in outcome.message  # the client that set no timeout
    assert await m.fixed_session_set(pooler_url) == "0"  # the server's default: none


async def test_cached_statement_after_migration(pooler_url: str, lane: Lane) -> None:
    outcome = await capture(m.wrong_cached_statement_after_migration(pooler_url))
    assert outcome.error is NotSupportedError
    first_line = outcome.message.splitlines()[0]
    if lane.driver == "asyncpg":
        named = "" if SA21 else "<class 'asyncpg.exceptions.InvalidCachedStatementError'>: "
        assert first_line == (
            "(sqlalchemy.dialects.postgresql.asyncpg.InvalidCachedStatementError) "
            f"{named}cached statement plan is invalid due to a database schema or configuration "
            "change (SQLAlchemy asyncpg dialect will now invalidate all prepared caches in "
            "response to this exception)"
        )
    else:
        assert first_line == (
            "(psycopg.errors.FeatureNotSupported) cached plan must not change result type"
        )
    assert await m.fixed_cached_statement_after_migration(pooler_url) == ["lamp"]


async def test_cached_statement_after_migration_without_a_pooler(db_url: URL) -> None:
    """Not the pooler's doing: on a direct connection the default engine fails the same way."""
    url = db_url.render_as_string(hide_password=False)
    outcome = await capture(m.wrong_cached_statement_after_migration(url))
    assert outcome.error is NotSupportedError
    assert await m.fixed_cached_statement_after_migration(url) == ["lamp"]


async def test_main(pooler_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(pooler_url)
    out = capsys.readouterr().out
    for name in (
        "statement_cache",
        "startup_statement_timeout",
        "session_set",
    ):
        assert f"wrong_{name}: raised" in out
        assert f"fixed_{name}: returned" in out
    assert "wrong_second_worker: raised" in out
    assert "fixed_second_worker: returned 15" in out
    assert "fixed_cached_statement_after_migration: returned ['lamp']" in out
