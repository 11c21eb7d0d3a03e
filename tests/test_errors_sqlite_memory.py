"""examples/errors/sqlite_memory.py: in-memory SQLite fails with the texts references/errors.md
quotes, on SQLAlchemy 2.0 and 2.1; the fixes work. SQLite lane only: these are about SQLite."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from examples.errors import capture, capture_call
from examples.errors import sqlite_memory as m
from tests.conftest import Lane
from tools.versions import SA21

pytestmark = pytest.mark.lanes("sqlite")

BACKGROUND = r"\n\(Background on this error at: https://sqlalche\.me/e/2[01]/{code}\)"


def assert_operational(outcome: object, text: str, sql: str) -> None:
    assert getattr(outcome, "error", None) is OperationalError
    message = str(getattr(outcome, "message", ""))
    assert re.fullmatch(
        re.escape(f"(sqlite3.OperationalError) {text}\n[SQL: {sql}]") + BACKGROUND.format(
            code="e3q8"
        ),
        message,
    ), message


COUNT_USERS = "SELECT count(*) AS count_1 \nFROM users"


async def test_memory_database_with_nullpool(lane: Lane) -> None:
    outcome = await capture(m.wrong_memory_database_with_nullpool())
    assert_operational(outcome, "no such table: users", COUNT_USERS)
    assert (await capture(m.fixed_memory_database())).value == 0


async def test_memory_database_two_engines(lane: Lane) -> None:
    outcome = await capture(m.wrong_memory_database_two_engines())
    assert_operational(outcome, "no such table: users", COUNT_USERS)


def test_pool_size_on_memory_database(lane: Lane) -> None:
    outcome = capture_call(m.wrong_pool_size_on_memory_database)
    assert outcome.error is TypeError
    assert outcome.message == (
        "Invalid argument(s) 'pool_size','max_overflow' sent to create_engine(), using "
        "configuration SQLiteDialect_aiosqlite/StaticPool/Engine.  Please check that the keyword "
        "arguments are appropriate for this combination of components."
    )


async def test_fixed_pool_args_for_server_databases(lane: Lane) -> None:
    memory = m.fixed_pool_args_for_server_databases("sqlite+aiosqlite://")
    server = m.fixed_pool_args_for_server_databases("postgresql+asyncpg://app@db.example/app")
    try:
        assert isinstance(memory.pool, StaticPool)
        assert isinstance(server.pool, AsyncAdaptedQueuePool)
        assert server.pool.size() == 5
    finally:
        await memory.dispose()
        await server.dispose()


async def test_read_while_writing_shared_cache(lane: Lane) -> None:
    outcome = await capture(m.wrong_read_while_writing_shared_cache())
    assert_operational(outcome, "database table is locked: users", COUNT_USERS)
    # A file database: the reader sees the committed state (no row yet) instead of failing.
    assert (await capture(m.fixed_read_while_writing_file())).value == 0


async def test_named_memory_database_pool(lane: Lane) -> None:
    outcome = capture_call(m.wrong_named_memory_database_default_pool)
    engine = outcome.value
    try:
        assert isinstance(engine.pool, StaticPool)  # one connection for every session
        if SA21:
            assert outcome.warnings == (
                "SADeprecationWarning: Selection of the StaticPool pool class based on the "
                "'mode=memory' query string argument is deprecated; a future release will use "
                "AsyncAdaptedQueuePool for this URL.  Indicate the intended pool class using the "
                "create_engine.poolclass parameter. (Background on this warning at: "
                "https://sqlalche.me/e/21/sqmp)",
            )
        else:
            assert outcome.warnings == ()
    finally:
        await engine.dispose()
    fixed = capture_call(m.fixed_named_memory_database)
    assert fixed.warnings == ()
    assert isinstance(fixed.value.pool, AsyncAdaptedQueuePool)
    await fixed.value.dispose()


async def test_main(lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main("unused")
    out = capsys.readouterr().out
    assert "wrong_memory_database_with_nullpool: raised sqlalchemy.exc.OperationalError: " in out
    assert "no such table: users" in out
    assert "fixed_memory_database: returned 0" in out
    assert "database table is locked: users" in out
    assert "fixed_named_memory_database: AsyncAdaptedQueuePool" in out
