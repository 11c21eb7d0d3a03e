"""A MariaDB URL can be written mysql+aiomysql:// or mariadb+aiomysql://: same server, same
driver, but the second one's dialect is named "mariadb", not "mysql". Every dialect switch in
examples/ must accept both. These tests run the switches through a mariadb+aiomysql:// URL on
the mysql lane, whichever form the lane's own server uses (SQLA_TEST_MYSQL_SCHEME)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import URL, func, select, text
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.exc import CompileError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from examples import bulk_load, production
from examples.crud import create_user
from examples.errors import capture, open_database
from examples.errors import concurrency as concurrency_errors
from examples.errors import dialects as dialect_errors
from examples.errors import drivers as driver_errors
from examples.errors import sessions as session_errors
from examples.models import Base, User

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def mariadb_url(db_url: URL) -> str:
    """The lane's fresh database, addressed as mariadb+aiomysql://."""
    return db_url.set(drivername="mariadb+aiomysql").render_as_string(hide_password=False)


@pytest.mark.lanes("mysql")
async def test_both_url_forms_reach_the_same_mariadb_under_two_dialect_names(
    db_url: URL, mariadb_url: str
) -> None:
    for url, name in ((db_url.set(drivername="mysql+aiomysql"), "mysql"), (mariadb_url, "mariadb")):
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                version = str(await conn.scalar(text("SELECT VERSION()")))
            assert engine.dialect.name == name
            assert engine.dialect.driver == "aiomysql"
            assert isinstance(engine.dialect, MySQLDialect)  # MariaDB's dialect is a subclass
            assert engine.dialect.is_mariadb  # detected from the server, under either name
            assert "MariaDB" in version
        finally:
            await engine.dispose()


@pytest.mark.lanes("mysql")
async def test_upsert_statement_for_a_mariadb_engine(mariadb_url: str) -> None:
    database = await open_database(mariadb_url, Base.metadata)
    try:
        assert database.dialect == "mariadb"
        async with database.Session() as session, session.begin():
            await create_user(session, "ada@example.com", "Ada")
            upserted = await bulk_load.upsert_users(
                session,
                [
                    {"email": "ada@example.com", "name": "Ada Lovelace"},
                    {"email": "grace@example.com", "name": "Grace"},
                ],
            )
            assert sorted(user.name for user in upserted) == ["Ada Lovelace", "Grace"]
            assert await session.scalar(select(func.count()).select_from(User)) == 2
    finally:
        await database.close()


@pytest.mark.lanes("mysql")
async def test_bulk_load_main_on_a_mariadb_url(
    mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await bulk_load.main(mariadb_url)
    out = capsys.readouterr().out
    assert "COPY is PostgreSQL's; bulk insert: 400\n" in out
    assert "upsert: 10 objects back, 10 renamed, 1005 users in all\n" in out


@pytest.mark.lanes("mysql")
async def test_production_engine_and_demo_on_a_mariadb_url(
    mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = production.make_production_engine(mariadb_url, statement_timeout=0.5)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT @@max_statement_time")) == 0.5
    finally:
        await engine.dispose()
    await production.main(mariadb_url)
    out = capsys.readouterr().out
    assert "50 tasks, 50 users" in out
    assert "cancelled after 0.2 s; pool: " in out  # the slow statement is found for "mariadb"


@pytest.mark.lanes("mysql")
async def test_error_patterns_that_pick_sql_per_dialect_on_a_mariadb_url(mariadb_url: str) -> None:
    # SLOW_QUERY["mariadb"]: the commit meets aiomysql's reader, as with mysql+aiomysql://.
    outcome = await capture(concurrency_errors.wrong_commit_while_query_runs(mariadb_url))
    assert outcome.error is RuntimeError
    assert outcome.message.startswith("readexactly() called while another coroutine")
    await concurrency_errors.fixed_commit_while_query_runs(
        mariadb_url, concurrency_errors.SLOW_QUERY["mariadb"]
    )

    # BACKEND_ID/KILL["mariadb"]: the pooled connection really is killed.
    outcome = await capture(driver_errors.wrong_no_pre_ping(mariadb_url))
    assert outcome.error is OperationalError
    assert "(2013, 'Lost connection to MySQL server during query')" in outcome.message
    assert await driver_errors.fixed_pre_ping(mariadb_url) == 1


@pytest.mark.lanes("mysql")
async def test_error_messages_name_the_mariadb_dialect(mariadb_url: str) -> None:
    engine = create_async_engine(mariadb_url)
    try:
        outcome = await capture(dialect_errors.wrong_varchar_without_length(engine))
    finally:
        await engine.dispose()
    assert outcome.error is CompileError
    assert outcome.message.endswith("VARCHAR requires a length on dialect mariadb")


@pytest.mark.lanes("mysql")
async def test_driver_exception_pattern_on_a_mariadb_url(mariadb_url: str) -> None:
    database = await open_database(mariadb_url, Base.metadata)
    try:
        await session_errors.seed(database)
        async with database.Session() as session:
            outcome = await capture(session_errors.wrong_catch_driver_exception(session))
        assert outcome.error is IntegrityError  # escaped `except aiomysql.IntegrityError`
        async with database.Session() as session:
            result = await session_errors.fixed_catch_driver_exception(session)
        assert result == "email taken (IntegrityError)"
    finally:
        await database.close()


def test_every_mysql_switch_in_examples_also_names_mariadb() -> None:
    """A guard for new code: in examples/, an expression (comparison, tuple, dict) that names
    "mysql" as a dialect must name "mariadb" too."""
    forgetful = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare | ast.Dict | ast.Tuple | ast.List | ast.Set):
                continue
            names = {
                child.value
                for child in ast.walk(node)
                if isinstance(child, ast.Constant) and isinstance(child.value, str)
            }
            if "mysql" in names and "mariadb" not in names:
                forgetful.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert forgetful == [], f"these switches would miss mariadb+aiomysql:// URLs: {forgetful}"
