"""Errors from concurrency: one AsyncSession used by several tasks, a query still running on
the connection another task commits, an engine reused by a second event loop, two SQLite
writers at once, and a failed statement's cursor that freezes the event loop (SQLite, 2.0).

An AsyncSession (and the one connection it holds) serves one task at a time; an engine's pooled
connections belong to the event loop that opened them; SQLite has one writer at a time. The
wrong patterns below collect every task's outcome (``return_exceptions=True``) and then raise
the first failure, so the demonstration ends cleanly; real code usually sees that same first
error, sometimes followed by others from the session closing while a task still runs.

Run: python -m examples.errors.concurrency
"""

# Each region carries its own imports so that it can be copied alone.

import asyncio
import contextlib
import gc
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.crud import create_user
from examples.errors import Outcome, capture, open_database, pair, report, run_python
from examples.models import Base, User
from examples.quickstart import make_engine

# isort: split
# region: jobs-model
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class JobsBase(DeclarativeBase):
    pass


class Job(JobsBase):
    __tablename__ = "err_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


# endregion: jobs-model


def first_failure(results: Sequence[object]) -> list[Any]:
    """Raise the first exception among gather(..., return_exceptions=True) results."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def wrong_shared_session_reads(url: str) -> list[Any]:
    engine = make_engine(url)  # pool_pre_ping=True: every checkout awaits a ping
    Session = async_sessionmaker(engine)
    try:
        async with Session() as session:
            # Three tasks, one session: the first starts opening its connection, the others
            # arrive while it is doing so.
            reads = [session.get(User, user_id) for user_id in (1, 2, 3)]
            return first_failure(await asyncio.gather(*reads, return_exceptions=True))
    finally:
        await engine.dispose()


async def wrong_shared_session_writes(Session: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with Session() as session:
        await session.execute(select(1))  # the session already holds its connection
        writes = [
            create_user(session, "shared.one@example.com", "One"),  # add() + flush()
            create_user(session, "shared.two@example.com", "Two"),
        ]
        return first_failure(await asyncio.gather(*writes, return_exceptions=True))


# region: fix-shared-session
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def load_names(Session: async_sessionmaker[AsyncSession], ids: list[int]) -> list[str]:
    # One session per task: each has its own connection and its own transaction.
    async def load(user_id: int) -> str:
        async with Session() as session:
            user = await session.get_one(User, user_id)
            return user.name

    return list(await asyncio.gather(*(load(user_id) for user_id in ids)))


# endregion: fix-shared-session


# A statement that keeps the connection busy for half a second (SQLite has no sleep()).
# Keyed by dialect name: a mariadb+aiomysql:// URL's dialect is "mariadb", not "mysql".
SLOW_QUERY = {
    "postgresql": "SELECT pg_sleep(0.5)",
    "mysql": "SELECT SLEEP(0.5)",
    "mariadb": "SELECT SLEEP(0.5)",
    "sqlite": "SELECT 1",
}


async def wrong_commit_while_query_runs(url: str) -> None:
    engine = create_async_engine(url)
    Session = async_sessionmaker(engine)
    try:
        async with Session() as session:
            slow = text(SLOW_QUERY[engine.dialect.name])
            await session.execute(select(1))
            report = asyncio.create_task(session.execute(slow))  # a background "report" task
            await asyncio.sleep(0.1)
            try:
                await session.commit()  # same connection, while the report's query is running
            finally:
                await report  # (let the report finish before the session closes)
    finally:
        await engine.dispose()  # (the connection may be left unusable: do not pool it)


# region: fix-commit-while-query-runs
import asyncio

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


async def fixed_commit_while_query_runs(url: str, slow_sql: str) -> None:
    engine = create_async_engine(url)
    Session = async_sessionmaker(engine)
    slow = text(slow_sql)  # e.g. a report that runs for seconds

    async def run_report() -> None:
        async with Session() as own:  # the background task gets its own session
            await own.execute(slow)

    try:
        report = asyncio.create_task(run_report())
        async with Session() as session:
            await session.execute(select(1))
            await session.commit()
        await report
    finally:
        await engine.dispose()


# endregion: fix-commit-while-query-runs


def wrong_engine_shared_across_loops(url: str) -> list[int]:
    engine = create_async_engine(url)  # e.g. a module-level engine

    async def ping() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    first = asyncio.run(ping())  # loop 1 opens a connection; it goes back to the pool
    second = asyncio.run(ping())  # loop 2 checks out that connection: bound to loop 1
    return [first, second]


def wrong_dispose_in_another_loop(url: str) -> int:
    engine = create_async_engine(url)

    async def ping() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    value = asyncio.run(ping())  # the app's loop ends with a connection in the pool...
    asyncio.run(engine.dispose())  # ...that a later loop (e.g. an atexit hook) cannot close
    return value


# region: fix-engine-per-loop
import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


def fixed_engine_per_loop(url: str) -> list[int]:
    async def ping() -> int:
        engine = create_async_engine(url)  # created inside the loop that uses it...
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT 1"))).scalar_one())
        finally:
            await engine.dispose()  # ...and disposed before that loop ends

    return [asyncio.run(ping()), asyncio.run(ping())]


# endregion: fix-engine-per-loop


LOOP_PATTERNS = (
    "wrong_engine_shared_across_loops",
    "wrong_dispose_in_another_loop",
    "fixed_engine_per_loop",
)
_CHILD = """
import contextlib, gc, io, json, sys
from examples.errors import capture_call, concurrency
results = []
for name in sys.argv[2:]:
    with contextlib.redirect_stderr(io.StringIO()) as err:
        outcome = capture_call(getattr(concurrency, name), sys.argv[1])
        gc.collect()
    results.append({"error": outcome.name, "message": outcome.message,
                    "value": outcome.value, "stderr": err.getvalue()})
print(json.dumps(results))
"""


async def run_in_child(url: str) -> dict[str, tuple[Outcome, str]]:
    """Run the event-loop patterns above in a fresh interpreter (they need loops of their own).

    Returns, per function, its outcome and what it wrote to stderr (the pool logs there).
    """
    children = await run_python(_CHILD, url, *LOOP_PATTERNS)
    results: dict[str, tuple[Outcome, str]] = {}
    for name, data in zip(LOOP_PATTERNS, children, strict=True):
        # Only RuntimeError is expected from these patterns; anything else is a surprise.
        if data["error"] not in ("no error", "builtins.RuntimeError"):
            raise AssertionError(f"unexpected outcome of {name}: {data}")
        error = None if data["error"] == "no error" else RuntimeError
        outcome = Outcome(error=error, message=data["message"], value=data["value"])
        results[name] = (outcome, data["stderr"])
    return results


async def wrong_long_write_transaction(url: str) -> list[Any]:
    # SQLite waits `timeout` seconds (default 5) for the write lock; 0.2 keeps this demo short.
    connect_args = {"timeout": 0.2} if url.startswith("sqlite") else {}
    engine = create_async_engine(url, connect_args=connect_args)
    Session = async_sessionmaker(engine)

    async def slow_writer() -> None:
        async with Session.begin() as session:
            session.add(Job(name="slow"))
            await session.flush()  # SQLite: this transaction now holds the database's write lock
            await asyncio.sleep(0.6)  # e.g. an HTTP call made while the transaction is open

    async def other_writer() -> None:
        await asyncio.sleep(0.1)
        async with Session.begin() as session:
            session.add(Job(name="other"))

    try:
        return first_failure(
            await asyncio.gather(slow_writer(), other_writer(), return_exceptions=True)
        )
    finally:
        await engine.dispose()


# region: fix-long-write-transaction
import asyncio

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


async def fixed_long_write_transaction(url: str) -> None:
    connect_args = {"timeout": 0.2} if url.startswith("sqlite") else {}
    engine = create_async_engine(url, connect_args=connect_args)
    Session = async_sessionmaker(engine)

    async def slow_writer() -> None:
        await asyncio.sleep(0.6)  # the slow call first, with no transaction open...
        async with Session.begin() as session:  # ...then a write transaction that is short
            session.add(Job(name="slow"))

    async def other_writer() -> None:
        await asyncio.sleep(0.1)
        async with Session.begin() as session:
            session.add(Job(name="other"))

    try:
        await asyncio.gather(slow_writer(), other_writer())
    finally:
        await engine.dispose()


# endregion: fix-long-write-transaction


async def failed_insert_then_wait_for_lock(engine: AsyncEngine) -> str:
    """Connection ``a`` runs an INSERT that fails (duplicate key), then waits for SQLite's write
    lock, which connection ``b`` holds and releases at once. While ``a`` waits, the garbage
    collector runs: here the demo calls it; in a service it runs whenever it decides to."""
    gc.disable()  # the demo, not chance, decides when the collector runs
    try:
        async with engine.connect() as a, engine.connect() as b:
            await a.execute(insert(Job).values(id=10_000, name="first"))
            await a.commit()
            with contextlib.suppress(IntegrityError):
                await a.execute(insert(Job).values(id=10_000, name="duplicate"))
            await a.rollback()
            await b.execute(insert(Job).values(name="b"))  # b holds the write lock now
            a_writes = asyncio.create_task(a.execute(insert(Job).values(name="a")))
            await asyncio.sleep(0.2)  # a's driver thread is waiting for the lock
            gc.collect()
            await b.commit()  # releases the lock, as soon as the event loop runs this line
            await a_writes
            await a.commit()
            return "both wrote"
    finally:
        gc.enable()
        async with engine.begin() as conn:
            await conn.execute(delete(Job).where(Job.name.in_(["first", "a", "b"])))


async def wrong_failed_statement_cursor(url: str) -> str:
    # A plain SQLite engine on SQLAlchemy 2.0; a 1 s lock wait keeps the demo short.
    engine = create_async_engine(url, connect_args={"timeout": 1})
    try:
        return await failed_insert_then_wait_for_lock(engine)
    finally:
        await engine.dispose()


# region: fix-failed-statement-cursor
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from examples.production import close_failed_sqlite_cursors


def make_sqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 1})
    close_failed_sqlite_cursors(engine)  # make_production_engine() does this for SQLite
    return engine


# endregion: fix-failed-statement-cursor


async def fixed_failed_statement_cursor(url: str) -> str:
    engine = make_sqlite_engine(url)
    try:
        return await failed_insert_then_wait_for_lock(engine)
    finally:
        await engine.dispose()


async def main(url: str) -> None:
    db = await open_database(url, Base.metadata, JobsBase.metadata)
    try:
        async with db.Session() as session:
            for name in ("Ada", "Grace", "Edsger"):
                await create_user(session, f"{name.lower()}@example.com", name)
            await session.commit()
        report("wrong_shared_session_reads", await capture(wrong_shared_session_reads(url)))
        report(
            "wrong_shared_session_writes", await capture(wrong_shared_session_writes(db.Session))
        )
        print("load_names (a session per task):", await load_names(db.Session, [1, 2, 3]))
        await pair(
            "commit_while_query_runs",
            wrong_commit_while_query_runs(url),
            fixed_commit_while_query_runs(url, SLOW_QUERY[db.dialect]),
        )
        loops = await run_in_child(url)
        report("wrong_engine_shared_across_loops", loops["wrong_engine_shared_across_loops"][0])
        logged = loops["wrong_dispose_in_another_loop"][1].strip().splitlines()[-1:] or ["nothing"]
        print("wrong_dispose_in_another_loop: logged", logged[0])
        report("fixed_engine_per_loop", loops["fixed_engine_per_loop"][0])
        await pair(
            "long_write_transaction",
            wrong_long_write_transaction(url),
            fixed_long_write_transaction(url),
        )
        if url.startswith("sqlite"):  # the lock wait that the collector interrupts is SQLite's
            await pair(
                "failed_statement_cursor",
                wrong_failed_statement_cursor(url),
                fixed_failed_statement_cursor(url),
            )
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
