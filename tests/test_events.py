"""examples/events.py on every lane: connect-time settings reach every pooled connection (and a
SET sent through one session reaches one), session events on the sync Session class, slow-SQL
logging, and a driver's own async API called from a listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import URL, event, func, select, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_engine
from sqlalchemy.pool import ConnectionPoolEntry

from examples import events
from examples.events import Document, DocumentAudit, EventsBase
from tests.conftest import Lane
from tools.statements import count_statements

LOCK_TIMEOUT = 7


def settings_query(backend: str) -> str:
    """A query for the lock timeout a connection has: what add_connection_setup sets."""
    return {
        "postgresql": "SHOW lock_timeout",
        "mysql": "SELECT @@SESSION.innodb_lock_wait_timeout",
        "sqlite": "PRAGMA busy_timeout",
    }[backend]


def expected_setting(backend: str, seconds: int) -> object:
    return {"postgresql": f"{seconds}s", "mysql": seconds, "sqlite": seconds * 1000}[backend]


async def setting_of(conn: AsyncConnection, lane: Lane) -> object:
    return (await conn.execute(text(settings_query(lane.backend)))).scalar()


@pytest.fixture
async def tables_url(db_url: URL) -> URL:
    """The lane's fresh database with examples/events.py's tables."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(EventsBase.metadata.create_all)
    await engine.dispose()
    return db_url  # db_url drops the database after the test


@pytest.fixture
async def engine_with_setup(tables_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(tables_url, pool_size=3, max_overflow=0)
    events.add_connection_setup(engine, lock_timeout_seconds=LOCK_TIMEOUT)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_connection_setup_reaches_every_pooled_connection(
    engine_with_setup: AsyncEngine, lane: Lane
) -> None:
    connects: list[int] = []
    event.listen(engine_with_setup.sync_engine, "connect", lambda c, r: connects.append(1))
    for _round in range(2):  # again after check-in: PostgreSQL's rollback must not undo it
        async with contextlib.AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(engine_with_setup.connect()) for _ in range(3)]
            raw = [(await conn.get_raw_connection()).dbapi_connection for conn in conns]
            assert len({id(r) for r in raw}) == 3  # three different DBAPI connections
            for conn in conns:
                assert await setting_of(conn, lane) == expected_setting(lane.backend, LOCK_TIMEOUT)
                if lane.backend == "sqlite":
                    assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                    assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1
    assert connects == [1, 1, 1]  # the listener ran once per new connection, not per checkout


async def test_a_setting_sent_through_one_session_reaches_one_connection(
    tables_url: URL, lane: Lane
) -> None:
    """The classic mistake: SET/PRAGMA through session.execute() once, at startup."""
    engine = create_engine(tables_url)
    Session = async_sessionmaker(engine)
    statements = events.connection_setup_statements(
        engine.url.get_backend_name(), LOCK_TIMEOUT
    )
    try:
        async with engine.connect() as conn:
            server_default = await setting_of(conn, lane)
        assert server_default != expected_setting(lane.backend, LOCK_TIMEOUT)
        if lane.backend == "sqlite":
            assert server_default == 5000  # sqlite3's own default: connect(timeout=5.0)
        async with Session() as session:
            for statement in statements:
                await session.execute(text(statement))
            mine = await session.connection()
            assert await setting_of(mine, lane) == expected_setting(lane.backend, LOCK_TIMEOUT)
            async with engine.connect() as other:  # any concurrent request: another connection
                assert await setting_of(other, lane) == server_default
                if lane.backend == "sqlite":  # the default is FULL (2); the PRAGMA set NORMAL (1)
                    assert (await other.execute(text("PRAGMA synchronous"))).scalar() == 2
                    assert (await mine.execute(text("PRAGMA synchronous"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_set_without_commit_is_undone_on_postgresql(tables_url: URL, lane: Lane) -> None:
    """Why the listener commits: without it PostgreSQL reverts the SET at the first check-in."""
    engine = create_engine(tables_url, pool_size=1, max_overflow=0)
    statements = events.connection_setup_statements(
        engine.url.get_backend_name(), LOCK_TIMEOUT
    )

    @event.listens_for(engine.sync_engine, "connect")
    def without_commit(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()

    try:
        seen = []
        for _ in range(2):
            async with engine.connect() as conn:
                seen.append(await setting_of(conn, lane))
    finally:
        await engine.dispose()
    wanted = expected_setting(lane.backend, LOCK_TIMEOUT)
    if lane.backend == "postgresql":
        assert seen[0] == wanted
        assert seen[1] != wanted  # the pool's rollback at check-in undid the SET
    else:
        assert seen == [wanted, wanted]  # MariaDB's SET and SQLite's PRAGMAs are not undone


@pytest.mark.lanes("sqlite")
async def test_wal_lets_a_writer_commit_while_a_read_transaction_is_open(
    lane: Lane, tmp_path: Path
) -> None:
    """Why the SQLite setup turns on WAL: with SQLite's default journal a commit waits for every
    open read transaction (then fails "database is locked"); with WAL it does not wait, and the
    reader keeps reading its snapshot."""
    outcomes: dict[str, tuple[str, int | None]] = {}
    for mode in ("default", "wal"):
        url = f"sqlite+aiosqlite:///{tmp_path / mode}.db"
        engine = create_engine(url, connect_args={"timeout": 1})  # busy_timeout 1 s
        if mode == "wal":
            events.add_connection_setup(engine, lock_timeout_seconds=1)
        count = select(func.count()).select_from(Document)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(EventsBase.metadata.create_all)
            async with engine.connect() as reader, engine.connect() as writer:
                await reader.exec_driver_sql("BEGIN")  # a read transaction, held open
                assert await reader.scalar(count) == 0
                await writer.execute(sqlalchemy.insert(Document), [{"title": "t"}])
                try:
                    await writer.commit()
                    result = "committed"
                except OperationalError as error:
                    result = str(error.orig)
                    await writer.rollback()
                outcomes[mode] = (result, await reader.scalar(count))
                await reader.rollback()
        finally:
            await engine.dispose()
    assert outcomes == {"default": ("database is locked", 0), "wal": ("committed", 0)}
    wal_file = f"sqlite+aiosqlite:///{tmp_path / 'wal'}.db"
    plain = create_engine(wal_file)
    with_timeout = create_engine(wal_file, connect_args={"timeout": 1})
    try:
        async with plain.connect() as conn:  # no listener: WAL is a property of the file
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        async with with_timeout.connect() as conn:  # sqlite3's timeout argument: busy_timeout
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 1000
    finally:
        await plain.dispose()
        await with_timeout.dispose()

LOCK_TIMEOUT_TEXT = {
    "postgresql": "canceling statement due to lock timeout",
    "mysql": "Lock wait timeout exceeded; try restarting transaction",
    "sqlite": "database is locked",
}


async def test_the_lock_timeout_fails_a_blocked_writer(tables_url: URL, lane: Lane) -> None:
    """The setting works: a writer blocked by another transaction fails instead of waiting."""
    engine = create_engine(tables_url)
    events.add_connection_setup(engine, lock_timeout_seconds=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(sqlalchemy.insert(Document), [{"id": 1, "title": "t"}])
        change = sqlalchemy.update(Document).where(Document.id == 1).values(title="x")
        async with engine.connect() as holder, engine.connect() as blocked:
            await holder.begin()
            await holder.execute(change)  # holds the row (SQLite: the database) lock
            await blocked.begin()
            with pytest.raises(DBAPIError) as caught:
                async with asyncio.timeout(30):  # without the setting this would wait forever
                    await blocked.execute(change)
            await holder.rollback()
        assert LOCK_TIMEOUT_TEXT[lane.backend] in str(caught.value)
    finally:
        await engine.dispose()


def test_connection_setup_rejects_bad_input() -> None:
    for seconds in (0, 3601, 2.5, "5"):
        with pytest.raises(ValueError, match="a whole number between 1 and 3600"):
            events.connection_setup_statements("postgresql", seconds)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported database 'oracle'"):
        events.connection_setup_statements("oracle", 5)
    with pytest.raises(ValueError, match="between 1 and 3600"):
        events.add_connection_setup(create_engine("sqlite+aiosqlite://"), lock_timeout_seconds=-1)


async def test_session_events_audit_documents(tables_url: URL) -> None:
    engine = create_engine(tables_url)
    Session = events.audited_sessionmaker(engine)
    try:
        with count_statements(engine) as log:
            async with Session() as session, session.begin():
                document = Document(title="Draft")
                session.add(document)
        assert log.count == 2  # INSERT the document, INSERT its audit row
        async with Session() as session, session.begin():
            session.add(document)
            document.title = "Final"
        async with Session() as session, session.begin():
            session.add(document)
            document.title = "Final"  # the same value: not modified, no audit row
        async with async_sessionmaker(engine)() as session, session.begin():
            session.add(Document(title="Untracked"))  # a plain sessionmaker: no listener
        async with Session() as session:
            rows = (
                await session.execute(
                    select(DocumentAudit.document_id, DocumentAudit.action).order_by(
                        DocumentAudit.id
                    )
                )
            ).all()
            revision = await session.scalar(
                select(Document.revision).where(Document.id == document.id)
            )
            documents = await session.scalar(select(func.count()).select_from(Document))
        assert [tuple(row) for row in rows] == [(document.id, "create"), (document.id, "update")]
        assert revision == 2
        assert documents == 2
    finally:
        await engine.dispose()


async def test_slow_statement_log(
    tables_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    """Threshold 0 logs every statement that ran; 3600 s logs none. A failed statement is not
    logged and does not disturb the next one."""
    failing = "SELECT * FROM no_such_table"
    for threshold in (0, 3600):
        engine = create_engine(tables_url)
        events.log_slow_statements(engine, threshold_seconds=threshold)
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING, logger="app.sql.slow"), count_statements(
                engine
            ) as log:
                async with engine.connect() as conn:
                    await conn.execute(select(func.count()).select_from(Document))
                    with pytest.raises(DBAPIError):
                        await conn.execute(text(failing))
                    await conn.rollback()  # PostgreSQL: the failed statement aborted it
                    await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
        logged = [record.getMessage().split(" s: ", 1)[1] for record in caplog.records]
        if threshold == 0:
            assert logged == [s for s in log.statements if s != failing]
            assert logged[-1] == "SELECT 1"
        else:
            assert logged == []


@pytest.mark.lanes("postgresql", "mysql")
async def test_slow_statement_log_catches_a_slow_query(
    tables_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(tables_url)
    events.log_slow_statements(engine, threshold_seconds=0.2)
    sleep = {"postgresql": "SELECT pg_sleep(0.3)", "mysql": "SELECT SLEEP(0.3)"}[lane.backend]
    try:
        with caplog.at_level(logging.WARNING, logger="app.sql.slow"):
            async with engine.connect() as conn:
                await conn.execute(text(sleep))  # takes at least 0.3 s, whatever the machine
        assert [r.getMessage().split(" s: ", 1)[1] for r in caplog.records] == [sleep]
    finally:
        await engine.dispose()


def test_slow_statement_log_rejects_a_negative_threshold() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        events.log_slow_statements(create_engine("sqlite+aiosqlite://"), -1)


async def _asyncpg_setup(connection: Any) -> None:
    await connection.execute("SET lock_timeout = '3s'")


async def _psycopg_setup(connection: Any) -> None:
    await connection.execute("SET lock_timeout = '3s'")
    await connection.commit()  # psycopg opened a transaction: keep the SET past check-in


async def _aiomysql_setup(connection: Any) -> None:
    async with connection.cursor() as cursor:
        await cursor.execute("SET SESSION innodb_lock_wait_timeout = 3")


async def _aiosqlite_setup(connection: Any) -> None:
    await connection.execute("PRAGMA busy_timeout = 3000")


async def test_run_async_calls_the_drivers_own_api(tables_url: URL, lane: Lane) -> None:
    setup = {
        "asyncpg": _asyncpg_setup,
        "psycopg": _psycopg_setup,
        "aiomysql": _aiomysql_setup,
        "aiosqlite": _aiosqlite_setup,
    }[lane.driver]
    engine = create_engine(tables_url, pool_size=1, max_overflow=0)
    events.on_connect_run_async(engine, setup)
    try:
        for _ in range(2):
            async with engine.connect() as conn:
                assert await setting_of(conn, lane) == expected_setting(lane.backend, 3)
    finally:
        await engine.dispose()


async def test_main_runs(db_url: URL, lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await events.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert f"lock timeout on this connection: {expected_setting(lane.backend, 3)}\n" in out
    assert "documents: 1, revision 2, audit: ['create', 'update']" in out
