"""Errors from events and run_sync in async code: listeners put on the async objects, and async
functions where SQLAlchemy calls sync ones.

Events are not async: the ``AsyncEngine``, ``AsyncConnection`` and ``AsyncSession`` refuse
listeners, and the ``AsyncSession`` class and ``async_sessionmaker`` are no event targets at all.
Listeners go on the sync objects they wrap (``engine.sync_engine``, a ``Session`` subclass given
as ``sync_session_class``) and are plain functions; so is the function given to ``run_sync``.
An ``async def`` there is called but never awaited: its body never runs, and Python only warns.

Run: python -m examples.errors.events
"""

# Each region carries its own imports so that it can be copied alone.

import gc
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from examples.errors import capture, capture_call, open_database, report
from examples.models import Base as ProjectBase
from examples.models import User


def _noop(*args: Any) -> None:
    """A listener that does nothing: the wrong patterns fail before it could run."""


def wrong_listen_on_async_engine(engine: AsyncEngine) -> None:
    event.listen(engine, "connect", _noop)


def wrong_listens_for_async_engine(engine: AsyncEngine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        pass


# region: fix-listen-on-sync-engine
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry


def fixed_listen_on_sync_engine(
    engine: AsyncEngine, on_connect: Callable[[DBAPIConnection, ConnectionPoolEntry], None]
) -> None:
    # The AsyncEngine wraps a sync Engine; engine and pool events go there. (Inside an
    # `async with engine.connect() as conn:` block, conn.sync_connection is the Connection.)
    event.listen(engine.sync_engine, "connect", on_connect)


# endregion: fix-listen-on-sync-engine


def wrong_listen_on_async_session_class() -> None:
    event.listen(AsyncSession, "before_flush", _noop)


def wrong_listen_on_async_sessionmaker(Session: async_sessionmaker[AsyncSession]) -> None:
    event.listen(Session, "before_flush", _noop)


def wrong_listen_on_async_session(session: AsyncSession) -> None:
    event.listen(session, "before_flush", _noop)


# region: fix-session-events
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction


class TrackedSession(Session):
    """The sync Session inside our AsyncSessions: session events attach to this class."""


flushed: list[str] = []


@event.listens_for(TrackedSession, "before_flush")
def _record_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    flushed.extend(type(obj).__name__ for obj in session.new)  # sync code: no await


def fixed_session_events(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Every AsyncSession of this factory wraps a TrackedSession, so the listener runs for it.
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TrackedSession)


# endregion: fix-session-events


def recording_warnings(function: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """Run ``function`` recording the "never awaited" warnings that ``capture`` leaves out
    (they are the only symptom of the two patterns below)."""

    async def run() -> tuple[Any, tuple[str, ...]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = await function()
            gc.collect()
        return value, tuple(f"{w.category.__name__}: {w.message}" for w in caught)

    return run


async def wrong_async_def_listener(engine: AsyncEngine) -> list[str]:
    ran: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    async def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        ran.append("connect")  # never runs: the coroutine is created and dropped

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return ran


# region: fix-async-def-listener
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry


async def fixed_sync_listener(engine: AsyncEngine) -> list[str]:
    ran: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # A plain def. For SQL, dbapi_connection.cursor().execute(...): the async driver's
        # adapter awaits it. For the driver's own coroutines: dbapi_connection.run_async(fn).
        ran.append("connect")

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return ran


# endregion: fix-async-def-listener


async def wrong_async_function_to_run_sync(session: AsyncSession) -> str:
    async def count_users(sync_session: Session) -> int | None:
        return sync_session.scalar(select(func.count()).select_from(User))

    count = await session.run_sync(count_users)  # a coroutine object, not the count
    return f"{count} users"


# region: fix-run-sync-function
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


async def fixed_run_sync_function(session: AsyncSession) -> str:
    def count_users(sync_session: Session) -> int | None:  # def, not async def
        return sync_session.scalar(select(func.count()).select_from(User))

    count = await session.run_sync(count_users)
    return f"{count} users"


# endregion: fix-run-sync-function


def _print_with_warnings(name: str, value: Any, caught: tuple[str, ...]) -> None:
    print(f"{name}: returned {value!r}; warnings: {list(caught)}")


async def main(url: str) -> None:
    db = await open_database(url, ProjectBase.metadata)
    try:
        async with db.Session() as session, session.begin():
            session.add(User(email="ada@example.com", name="Ada"))
        report(
            "wrong_listen_on_async_engine", capture_call(wrong_listen_on_async_engine, db.engine)
        )
        report(
            "wrong_listens_for_async_engine",
            capture_call(wrong_listens_for_async_engine, db.engine),
        )
        engine = create_async_engine(db.url)  # a new engine: its first checkout connects
        connects: list[str] = []
        fixed_listen_on_sync_engine(engine, lambda conn, record: connects.append("connect"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await engine.dispose()
        print(f"fixed_listen_on_sync_engine: {connects}")
        report(
            "wrong_listen_on_async_session_class",
            capture_call(wrong_listen_on_async_session_class),
        )
        report(
            "wrong_listen_on_async_sessionmaker",
            capture_call(wrong_listen_on_async_sessionmaker, db.Session),
        )
        async with db.Session() as session:
            outcome = capture_call(wrong_listen_on_async_session, session)
            report("wrong_listen_on_async_session", outcome)
        Session = fixed_session_events(db.engine)
        async with Session() as session, session.begin():
            session.add(User(email="grace@example.com", name="Grace"))
        print(f"fixed_session_events: flushed {flushed}")
        engine = create_async_engine(db.url)
        value, caught = await recording_warnings(lambda: wrong_async_def_listener(engine))()
        await engine.dispose()
        _print_with_warnings("wrong_async_def_listener", value, caught)
        engine = create_async_engine(db.url)
        print(f"fixed_sync_listener: returned {await fixed_sync_listener(engine)!r}")
        await engine.dispose()
        async with db.Session() as session:
            value, caught = await recording_warnings(
                lambda: wrong_async_function_to_run_sync(session)
            )()
        _print_with_warnings("wrong_async_function_to_run_sync", value, caught)
        async with db.Session() as session:
            report("fixed_run_sync_function", await capture(fixed_run_sync_function(session)))
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
