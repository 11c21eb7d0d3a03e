"""The two PostgreSQL drivers side by side (references/drivers.md): which driver a URL picks, the
connect timeout, prepared statements and one connection shared by two operations. The other
differences are proven where they matter:
COPY (test_bulk_load.py), connect arguments (test_errors_connect_args.py), errors
(test_errors_*.py, test_faults.py, test_bad_input.py), MariaDB URL forms (test_mariadb_urls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.conftest import Lane
from tools.versions import SA21

PROBE = "SELECT 41 + 1"
PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE statement = :probe"


async def prepared_after_each_run(url: URL, runs: int, **engine_args: Any) -> list[int]:
    """Run PROBE ``runs`` times on one connection; after each run, how many named prepared
    statements for it the server holds on that connection."""
    engine = create_async_engine(url, **engine_args)
    try:
        async with engine.connect() as conn:
            counts = []
            for _ in range(runs):
                assert await conn.scalar(text(PROBE)) == 42
                counts.append(int(await conn.scalar(text(PREPARED), {"probe": PROBE}) or 0))
            return counts
    finally:
        await engine.dispose()


@pytest.mark.lanes("postgresql")
async def test_when_each_driver_prepares_a_statement(db_url: URL, lane: Lane) -> None:
    counts = await prepared_after_each_run(db_url, 7)
    if lane.driver == "asyncpg":
        assert counts == [1] * 7  # prepared (named) from the first run on
    else:  # psycopg: unprepared 5 times (prepare_threshold=5), prepared from the 6th run
        assert counts == [0, 0, 0, 0, 0, 1, 1]

    # Turned off: no named prepared statement stays on the server connection.
    if lane.driver == "asyncpg":
        off = await prepared_after_each_run(
            db_url.update_query_dict({"prepared_statement_cache_size": "0"}), 7
        )
    else:
        off = await prepared_after_each_run(db_url, 7, connect_args={"prepare_threshold": None})
    assert off == [0] * 7


@pytest.mark.lanes("postgresql+psycopg")
async def test_psycopg_makes_a_second_operation_wait_for_the_first(db_url: URL) -> None:
    """asyncpg refuses (InterfaceError "another operation is in progress", see
    test_errors_concurrency.py); psycopg queues: the commit runs once the query is done."""
    engine = create_async_engine(db_url)
    try:
        async with async_sessionmaker(engine)() as session:
            await session.execute(text("SELECT 1"))
            query = asyncio.create_task(session.execute(text("SELECT pg_sleep(0.5)")))
            await asyncio.sleep(0.1)  # the query is running on the session's connection
            assert not query.done()
            await session.commit()  # no error: it waited for the query
            assert query.done()
            assert query.exception() is None
    finally:
        await engine.dispose()


async def driver_behind(url: URL) -> str:
    """Which driver an async engine on ``url`` connects with ("psycopg 3", "asyncpg"), or the
    error create_async_engine raises."""
    try:
        engine = create_async_engine(url)
    except ImportError as error:
        return f"{type(error).__name__}: {error}"
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            module = type(raw.driver_connection).__module__.partition(".")[0]
    finally:
        await engine.dispose()
    if module == "psycopg":
        return f"psycopg {psycopg.__version__.partition('.')[0]}"
    return module


@pytest.mark.lanes("postgresql")
async def test_which_driver_a_url_picks(db_url: URL) -> None:
    assert await driver_behind(db_url.set(drivername="postgresql+asyncpg")) == "asyncpg"
    assert await driver_behind(db_url.set(drivername="postgresql+psycopg")) == "psycopg 3"
    # A plain postgresql:// is the dialect's default driver: psycopg 3 on 2.1; psycopg2 on 2.0,
    # a sync driver that this project does not install (installed, it fails with "requires an
    # async driver": tests/test_errors_drivers.py).
    plain = await driver_behind(db_url.set(drivername="postgresql"))
    assert plain == ("psycopg 3" if SA21 else "ModuleNotFoundError: No module named 'psycopg2'")


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers, as a stuck server or a
    half-open network path does. Yields the port."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # keep it open; say nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()


@pytest.mark.lanes("postgresql")
async def test_each_driver_gives_up_connecting_after_its_connect_timeout(
    db_url: URL, lane: Lane
) -> None:
    """asyncpg's "timeout" and psycopg's (libpq's) "connect_timeout" bound the connection
    attempt: without them this connect would wait for as long as the server stays silent."""
    connect_args: dict[str, Any] = (
        {"timeout": 1} if lane.driver == "asyncpg" else {"connect_timeout": 2}  # libpq's minimum
    )
    async with silent_server() as port:
        engine = create_async_engine(
            db_url.set(host="127.0.0.1", port=port), connect_args=connect_args
        )
        try:
            async with asyncio.timeout(30) as deadline:
                with pytest.raises((TimeoutError, OperationalError)) as caught:
                    async with engine.connect():
                        pass
        finally:
            await engine.dispose()
    assert not deadline.expired()  # the driver gave up, not this test's deadline
    if lane.driver == "asyncpg":  # Python's TimeoutError, not wrapped by SQLAlchemy
        assert type(caught.value) is TimeoutError
    else:
        assert type(caught.value) is OperationalError
        assert str(caught.value).startswith(
            "(psycopg.errors.ConnectionTimeout) connection timeout expired"
        ), str(caught.value)
