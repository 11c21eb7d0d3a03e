"""examples/errors/drivers.py: URL and driver mistakes, greenlet missing, a dropped pooled
connection; each on every lane where it applies, with what happens on the others."""

from __future__ import annotations

import importlib.util
import re

import pytest
from sqlalchemy import URL
from sqlalchemy.exc import InterfaceError, InvalidRequestError, NoSuchModuleError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from examples.errors import capture, capture_call
from examples.errors import drivers as m
from tests.conftest import Lane
from tools.versions import SA21


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def test_sync_driver_url(db_url: URL, lane: Lane) -> None:
    url = db_url.render_as_string(hide_password=False)
    outcome = capture_call(m.wrong_sync_driver_url, url)
    # The dialect's default driver: pysqlite; psycopg2 (2.0) / psycopg (2.1); mysqlclient.
    default = {
        "sqlite": ("sqlite3", "pysqlite"),
        "postgresql": ("psycopg", "psycopg") if SA21 else ("psycopg2", "psycopg2"),
        "mysql": ("MySQLdb", "mysqldb"),
    }[lane.backend]
    module, driver = default
    if driver == "psycopg" and installed(module):
        # 2.1's default PostgreSQL driver, psycopg 3, has an async mode: the URL just works,
        # on psycopg rather than asyncpg.
        assert outcome.error is None
        assert outcome.value.dialect.driver == "psycopg"
        await outcome.value.dispose()
    elif installed(module):
        assert outcome.error is InvalidRequestError
        assert outcome.message == (
            "The asyncio extension requires an async driver to be used. "
            f"The loaded '{driver}' is not async."
        )
    else:  # this project installs only the async drivers
        assert outcome.error is ModuleNotFoundError
        assert outcome.message == f"No module named '{module}'"
    bare = db_url.set(drivername=db_url.get_backend_name()).render_as_string(hide_password=False)
    assert await m.ping(create_async_engine(m.async_url(bare))) == 1


def test_postgres_scheme() -> None:
    heroku_style = "postgres://scott:tiger@db.example.com:5432/app"
    outcome = capture_call(m.wrong_postgres_scheme, heroku_style)
    assert outcome.error is NoSuchModuleError
    assert outcome.message == "Can't load plugin: sqlalchemy.dialects:postgres"
    outcome = capture_call(m.wrong_postgres_scheme, heroku_style.replace("s:", "s+asyncpg:", 1))
    assert outcome.message == "Can't load plugin: sqlalchemy.dialects:postgres.asyncpg"
    fixed = m.async_url(heroku_style)
    assert fixed.render_as_string(hide_password=False) == (
        "postgresql+asyncpg://scott:tiger@db.example.com:5432/app"
    )
    assert m.async_url("mysql://u@h/db").drivername == "mysql+aiomysql"
    assert m.async_url("mysql+pymysql://u@h/db").drivername == "mysql+aiomysql"  # sync: replaced
    assert m.async_url("mariadb://u@h/db").drivername == "mariadb+aiomysql"
    assert m.async_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert m.async_url("sqlite:///app.db").drivername == "sqlite+aiosqlite"
    with pytest.raises(ValueError, match="no async driver configured for 'oracle' URLs"):
        m.async_url("oracle://u@h/db")


async def test_without_greenlet() -> None:
    url = "sqlite+aiosqlite://"
    outcome = await m.wrong_without_greenlet(url)
    if SA21:  # fails as soon as sqlalchemy.ext.asyncio is imported
        assert outcome.error is ImportError
        assert outcome.message == (
            "The SQLAlchemy asyncio module requires that the Python 'greenlet' library is "
            "installed.  In order to ensure this dependency is available, use the "
            "'sqlalchemy[asyncio]' install target:  'pip install sqlalchemy[asyncio]'"
        )
    else:  # 2.0 imports fine and fails at the first connect
        assert outcome.error is ValueError
        assert outcome.message == (
            "the greenlet library is required to use this function. No module named 'greenlet'"
        )
    fixed = await m.fixed_with_greenlet(url)
    assert fixed.error is None
    assert fixed.value == 1


async def test_no_pre_ping(db_url: URL, lane: Lane) -> None:
    url = db_url.render_as_string(hide_password=False)
    outcome = await capture(m.wrong_no_pre_ping(url))
    if lane.driver == "psycopg":  # psycopg reads the server's goodbye: why it was closed
        assert outcome.error is OperationalError
        assert outcome.message.startswith(
            "(psycopg.errors.AdminShutdown) terminating connection due to administrator "
            "command\n[SQL: SELECT 1]"
        ), outcome.message
    elif lane.driver == "asyncpg":
        assert outcome.error is InterfaceError
        assert re.match(
            r"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.InterfaceError\) "
            r"(<class 'asyncpg\.exceptions\._base\.InterfaceError'>: )?connection is closed",
            outcome.message,
        ), outcome.message
    elif lane.backend == "mysql":
        assert outcome.error is OperationalError
        assert outcome.message.startswith(
            "(pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')"
        ), outcome.message
    else:  # SQLite: no server, nothing to lose
        assert outcome.error is None
        assert outcome.value == 1
    assert await m.fixed_pre_ping(url) == 1


async def test_main(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_postgres_scheme: raised sqlalchemy.exc.NoSuchModuleError" in out
    assert "fixed_with_greenlet: returned 1" in out
    assert "fixed_pre_ping: 1" in out
