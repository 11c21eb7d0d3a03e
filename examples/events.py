"""Events with async engines and sessions: listeners attach to the sync objects the async ones wrap.

The rule, for every event:

* engine, connection and pool events go on ``async_engine.sync_engine`` (an ``AsyncEngine``
  itself raises NotImplementedError: examples/errors/events.py);
* session events go on a ``Session`` subclass that ``async_sessionmaker(sync_session_class=...)``
  makes every ``AsyncSession`` wrap (the ``AsyncSession`` class and ``async_sessionmaker`` are not
  event targets);
* a listener is sync code: no ``await``. It runs where the async engine's IO can be awaited for
  it, so ``dbapi_connection.cursor().execute(...)`` and sync ``Session`` calls just work.

What each region shows:

* ``connection-settings``: per-connection setup in a "connect" listener (lock wait timeouts on
  all three databases, WAL for SQLite), committed so PostgreSQL's rollback at check-in keeps it;
* ``session-events``: a ``before_flush`` audit trail scoped to this application's sessions;
* ``slow-statements``: ``before_cursor_execute``/``after_cursor_execute`` to log slow SQL;
* ``run-async``: calling a driver's own async API from a listener.

Run: python -m examples.events   (SQLite; set DATABASE_URL for another database)
"""

# region: connection-settings
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry


def connection_setup_statements(backend: str, lock_timeout_seconds: int) -> list[str]:
    """The per-connection settings: wait at most this long for a lock, then fail."""
    if not isinstance(lock_timeout_seconds, int) or not 1 <= lock_timeout_seconds <= 3600:
        raise ValueError("lock_timeout_seconds must be a whole number between 1 and 3600")
    if backend == "postgresql":
        return [f"SET lock_timeout = '{lock_timeout_seconds}s'"]
    if backend in ("mysql", "mariadb"):
        return [f"SET SESSION innodb_lock_wait_timeout = {lock_timeout_seconds}"]
    if backend == "sqlite":
        return [
            "PRAGMA journal_mode = WAL",  # commits stop waiting for open reads (kept in the file)
            "PRAGMA synchronous = NORMAL",  # per connection; SQLite's default is FULL
            f"PRAGMA busy_timeout = {lock_timeout_seconds * 1000}",
        ]
    raise ValueError(f"unsupported database {backend!r}: postgresql, mysql/mariadb or sqlite")


def add_connection_setup(engine: AsyncEngine, lock_timeout_seconds: int = 5) -> None:
    """Run the settings on every new connection the pool opens, before anyone uses it."""
    statements = connection_setup_statements(engine.url.get_backend_name(), lock_timeout_seconds)

    # engine.sync_engine, not engine: AsyncEngine is no event target (NotImplementedError).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # Sync code, no await: the async driver's adapter awaits each execute() for us.
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        # PostgreSQL ran the SETs in a transaction; the pool rolls back at check-in, which would
        # undo them after the first use. Commit makes them stick (harmless elsewhere).
        dbapi_connection.commit()


# endregion: connection-settings


# region: models
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class EventsBase(DeclarativeBase):
    pass


class Document(EventsBase):
    __tablename__ = "ev_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(default=1)


class DocumentAudit(EventsBase):
    __tablename__ = "ev_document_audits"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("ev_documents.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    document: Mapped[Document] = relationship(lazy="raise")


# endregion: models


# region: session-events
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction


class AuditedSession(Session):
    """The sync Session inside this application's AsyncSessions. Session events attach here:
    to this application's sessions only, not to every Session in the process."""


@event.listens_for(AuditedSession, "before_flush")
def _audit_documents(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    # Sync code, run inside `await session.flush()`/`commit()`: no await in here.
    for obj in list(session.new):
        if isinstance(obj, Document):
            session.add(DocumentAudit(document=obj, action="create"))
    for obj in list(session.dirty):
        if isinstance(obj, Document) and session.is_modified(obj):
            obj.revision += 1
            session.add(DocumentAudit(document=obj, action="update"))


def audited_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Each AsyncSession this makes wraps an AuditedSession, so the listener above runs for it.
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)


# endregion: session-events


# region: slow-statements
import logging
import time

from sqlalchemy import Connection, event
from sqlalchemy.engine import ExecutionContext
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.ext.asyncio import AsyncEngine

slow_sql = logging.getLogger("app.sql.slow")


def log_slow_statements(engine: AsyncEngine, threshold_seconds: float) -> None:
    """Log every statement that takes at least ``threshold_seconds``, with its duration."""
    if threshold_seconds < 0:
        raise ValueError("threshold_seconds must not be negative")

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        # conn.info lives as long as the connection; one statement runs at a time on it.
        conn.info["statement_started"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _stop(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        elapsed = time.perf_counter() - conn.info.pop("statement_started")
        if elapsed >= threshold_seconds:
            slow_sql.warning("%.3f s: %s", elapsed, statement)


# endregion: slow-statements


# region: run-async
from collections.abc import Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.ext.asyncio import AsyncEngine


def on_connect_run_async(engine: AsyncEngine, setup: Callable[[Any], Awaitable[Any]]) -> None:
    """Await ``setup(driver_connection)`` on each new connection: for a driver's own async API
    (asyncpg's set_type_codec, ...), which the DBAPI-style cursor does not offer."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: AdaptedConnection, record: ConnectionPoolEntry) -> None:
        # run_async awaits the coroutine for this sync listener; a bare call would not run it.
        dbapi_connection.run_async(setup)


# endregion: run-async


async def main(url: str) -> None:
    from sqlalchemy import func, select, text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    add_connection_setup(engine, lock_timeout_seconds=3)
    log_slow_statements(engine, threshold_seconds=1.0)
    logging.basicConfig(level=logging.WARNING)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(EventsBase.metadata.create_all)
        backend = engine.url.get_backend_name()
        show = {
            "postgresql": "SHOW lock_timeout",
            "mysql": "SELECT @@SESSION.innodb_lock_wait_timeout",
            "mariadb": "SELECT @@SESSION.innodb_lock_wait_timeout",
            "sqlite": "PRAGMA busy_timeout",
        }[backend]
        async with engine.connect() as conn:
            print(f"lock timeout on this connection: {(await conn.execute(text(show))).scalar()}")
        Session = audited_sessionmaker(engine)
        async with Session() as session, session.begin():
            document = Document(title="Draft")
            session.add(document)
        async with Session() as session, session.begin():
            session.add(document)
            document.title = "Final"
        async with Session() as session:
            actions = list(await session.scalars(select(DocumentAudit.action).order_by("id")))
            count = await session.scalar(select(func.count()).select_from(Document))
        print(f"documents: {count}, revision {document.revision}, audit: {actions}")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(EventsBase.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
