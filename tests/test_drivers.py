"""The two PostgreSQL drivers side by side (references/drivers.md): prepared statements and one
connection shared by two operations. The other differences are proven where they matter:
COPY (test_bulk_load.py), connect arguments (test_errors_connect_args.py), errors
(test_errors_*.py, test_faults.py, test_bad_input.py), MariaDB URL forms (test_mariadb_urls.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.conftest import Lane

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
