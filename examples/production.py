"""An engine for a long-running service, and running many tasks on it.

Illustrates pool limits (``pool_size``/``max_overflow``/``pool_timeout``), ``pool_pre_ping`` and
``pool_recycle`` against connections the server dropped, a server-side statement timeout per
dialect, cancelling work with ``asyncio.timeout``, one session per task with bounded
concurrency, and shutting the pool down with ``dispose()``.

Run: python -m examples.production
"""

from examples.quickstart import set_connection_defaults  # shown in SKILL.md

# isort: split
# region: engine
from typing import Any

from sqlalchemy import URL, Connection, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_production_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
    statement_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine for PostgreSQL (asyncpg or psycopg), MariaDB (aiomysql) or a SQLite file."""
    url = make_url(url)
    if pool_size < 1 or max_overflow < 0 or pool_timeout <= 0 or statement_timeout <= 0:
        raise ValueError("need pool_size >= 1, max_overflow >= 0, timeouts > 0")
    backend = url.get_backend_name()
    connect_args: dict[str, Any]
    if backend == "postgresql" and url.get_driver_name() == "asyncpg":
        connect_args = {
            # The server cancels any statement that runs longer (the setting is in milliseconds).
            "server_settings": {"statement_timeout": str(round(statement_timeout * 1000))},
            # asyncpg's own limit, for a server that stops answering: longer than the server's,
            # so the server's clear error comes first.
            "command_timeout": statement_timeout + 5,
            "timeout": 10,  # seconds to establish a connection
        }
    elif backend == "postgresql":  # psycopg 3: postgresql+psycopg://, or postgresql:// on 2.1
        connect_args = {
            # The same server setting, sent at connect as libpq's "options" (no server_settings).
            "options": f"-c statement_timeout={round(statement_timeout * 1000)}",
            "connect_timeout": 10,  # seconds to establish a connection
        }
    elif backend in ("mysql", "mariadb"):
        connect_args = {
            # MariaDB aborts any statement that runs longer (seconds). Cancelling the Python task
            # does not: aiomysql just closes the socket and the statement runs on.
            "init_command": f"SET SESSION max_statement_time = {statement_timeout}",
            "connect_timeout": 10,
        }
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ValueError("a SQLite production engine needs a database file")
        # No server, so no statement timeout. `timeout`: seconds a writer waits for the
        # database lock before failing with "database is locked".
        connect_args = {"timeout": 15}
    else:
        raise ValueError(f"unsupported database {backend!r}: postgresql, mysql/mariadb or sqlite")
    engine = create_async_engine(
        url,
        pool_size=pool_size,  # connections kept open
        max_overflow=max_overflow,  # extra connections under load; 0 makes pool_size the cap
        pool_timeout=pool_timeout,  # seconds to wait for a free connection, then TimeoutError
        pool_pre_ping=True,  # test each connection at checkout; replace it if the server left
        pool_recycle=1800,  # reconnect after 30 min: under MariaDB wait_timeout and proxy limits
        connect_args=connect_args,
    )
    set_connection_defaults(engine)  # SQLite foreign keys on, MariaDB session time zone UTC
    if backend == "sqlite":
        _begin_immediate(engine)
        close_failed_sqlite_cursors(engine)  # defined below: a SQLAlchemy 2.0 workaround
    return engine


def _begin_immediate(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not sqlite3, starts transactions

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock at BEGIN: concurrent writers queue for up to `timeout` seconds
        # instead of deadlocking mid-transaction with "database is locked".
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# endregion: engine


# region: sqlite-failed-cursors
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only


def close_failed_sqlite_cursors(engine: AsyncEngine) -> None:
    """SQLAlchemy 2.0 + aiosqlite: close the driver cursor of a statement that failed.

    2.0's aiosqlite adapter leaves that cursor to the garbage collector. If the collector frees
    it on the event loop while the cursor's connection waits for SQLite's lock, the loop stops
    until the wait times out, and the waiting writer fails with "database is locked". SQLAlchemy
    2.1 closes the cursor itself; there this function does nothing.
    """
    if not sqlalchemy.__version__.startswith("2.0."):
        return
    import sqlite3

    import aiosqlite

    @event.listens_for(engine.sync_engine, "handle_error")
    def _close_cursor(context: ExceptionContext) -> None:
        if not isinstance(context.original_exception, sqlite3.Error):
            return  # e.g. a cancelled task: the statement still runs; do not wait for it here
        tb = context.original_exception.__traceback__
        while tb is not None:
            cursor = tb.tb_frame.f_locals.get("_cursor")  # the 2.0 adapter's local variable
            if isinstance(cursor, aiosqlite.Cursor):
                await_only(cursor.close())  # closed on the connection's own thread, now
            tb = tb.tb_next


# endregion: sqlite-failed-cursors


# region: concurrency
import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Item = TypeVar("Item")
Result = TypeVar("Result")


async def run_concurrently(
    Session: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession, Item], Awaitable[Result]],
    items: Iterable[Item],
    limit: int,
) -> list[Result]:
    """``work(session, item)`` for every item, each in its own session and transaction,
    at most ``limit`` at a time. With limit <= pool size no task ever waits for a connection."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    semaphore = asyncio.Semaphore(limit)

    async def one(item: Item) -> Result:
        # One session per task: an AsyncSession must never be shared between tasks.
        async with semaphore, Session() as session, session.begin():
            return await work(session, item)

    # A failure does not cancel the others: a cancelled statement runs on in MariaDB, and on
    # SQLite a cancelled transaction keeps the database locked. They finish, then errors raise.
    results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise BaseExceptionGroup(f"{len(errors)} of {len(results)} tasks failed", errors)
    return cast("list[Result]", results)


# endregion: concurrency


# region: deadline
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


async def with_deadline(
    Session: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    seconds: float,
) -> T:
    """``work`` in its own session and transaction, given up after ``seconds`` (TimeoutError).

    On expiry the task is cancelled: the transaction rolls back and the connection goes back
    to the pool. On SQLite before SQLAlchemy 2.0.59/2.1.10 a cancelled transaction kept the
    database locked until garbage collection: do not use it there on older releases.
    """
    async with asyncio.timeout(seconds), Session() as session, session.begin():
        return await work(session)


# endregion: deadline


async def demonstrate(engine: AsyncEngine, Session: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy import func, select, text

    from examples.crud import create_user
    from examples.models import User

    async def add(session: AsyncSession, n: int) -> int:
        user = await create_user(session, f"user{n}@example.com", f"User {n}")
        return user.id

    ids = await run_concurrently(Session, add, range(50), limit=10)
    async with Session() as session:
        total = await session.scalar(select(func.count()).select_from(User))
    print(f"{len(ids)} tasks, {total} users, pool: {engine.pool.status()}")

    # Keyed by dialect name: a mariadb+aiomysql:// URL's dialect is "mariadb", not "mysql".
    slow = {
        "postgresql": "SELECT pg_sleep(5)",
        "mysql": "SELECT SLEEP(5)",
        "mariadb": "SELECT SLEEP(5)",
    }
    if engine.dialect.name not in slow:
        return  # SQLite has no statement to cancel on a server (see references/production.md)

    async def slow_query(session: AsyncSession) -> None:
        await session.execute(text(slow[engine.dialect.name]))

    try:
        await with_deadline(Session, slow_query, 0.2)
    except TimeoutError:
        print(f"cancelled after 0.2 s; pool: {engine.pool.status()}")


async def main(url: str) -> None:
    from examples.quickstart import create_tables, drop_tables

    engine = make_production_engine(url, statement_timeout=1)  # once per process, at startup
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        await create_tables(engine)  # (Alembic migrations in a real deployment)
        await demonstrate(engine, Session)  # the application's lifetime
    finally:
        await drop_tables(engine)
        await engine.dispose()  # close every pooled connection before the event loop ends


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
