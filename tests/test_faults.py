"""Faults production brings, on every lane: connections killed or timed out by the server, tasks
cancelled mid-query, failures mid unit of work, statements that run too long, deadlocks and
serialization failures (examples/production.py, examples/retries.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import URL, NullPool, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples import production, retries
from examples.crud import create_user
from examples.models import Base, User
from examples.production import make_production_engine
from examples.retries import (
    Account,
    RetriesBase,
    run_in_transaction,
    serializable_sessionmaker,
)
from tests.conftest import Lane, make_test_engine
from tools.versions import AIOSQLITE_CLOSES_CANCELLED_CURSOR, ASYNCPG_ERRORS_BY_SQLSTATE, SA21

BACKEND_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
SLOW = {"postgresql": "SELECT pg_sleep(3)", "mysql": "SELECT SLEEP(3)"}
# SQLite has no sleep(): a recursive count keeps one statement busy for a while instead.
SQLITE_SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
    "SELECT count(*) FROM c"
)


@contextlib.asynccontextmanager
async def production_engine(db_url: URL, **kwargs: Any) -> AsyncIterator[AsyncEngine]:
    """make_production_engine on the test's database, with the example tables; disposed after."""
    engine = make_production_engine(db_url, **kwargs)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(RetriesBase.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def admin_engine(db_url: URL) -> AsyncIterator[AsyncEngine]:
    """A separate connection source, as an operator's console would be."""
    engine = create_async_engine(db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        await engine.dispose()


async def backend_id(conn_or_session: Any, lane: Lane) -> int:
    return int((await conn_or_session.execute(text(BACKEND_ID[lane.backend]))).scalar_one())


async def kill(admin: AsyncEngine, lane: Lane, pid: int) -> None:
    """Kill a connection on the server, then wait until the server has really dropped it."""
    gone_sql = {
        "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid",
        "mysql": "SELECT count(*) FROM information_schema.processlist WHERE id = :pid",
    }[lane.backend]
    async with admin.connect() as conn:
        if lane.backend == "postgresql":
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            await conn.execute(text(f"KILL {int(pid)}"))
        for _ in range(250):  # poll: the server needs a moment to end the session
            if not await conn.scalar(text(gone_sql), {"pid": pid}):
                break
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # let the client's event loop see the closed socket


def assert_disconnect_error(exc: DBAPIError, lane: Lane, psycopg_reason: str) -> None:
    """The error a query gets on a connection the server has closed. psycopg reads the
    server's last message, which says why (``psycopg_reason``); asyncpg only sees the close."""
    assert exc.connection_invalidated  # the pool throws this connection away
    if lane.driver == "asyncpg":
        assert type(exc) is InterfaceError
        assert re.search(r"connection is closed", str(exc))
    elif lane.driver == "psycopg":
        assert type(exc) is OperationalError
        assert str(exc).startswith(psycopg_reason), str(exc)
    else:
        assert type(exc) is OperationalError
        assert exc.orig is not None
        assert exc.orig.args[0] == 2013
        assert "Lost connection to MySQL server during query" in str(exc)


def postgresql_error_class(lane: Lane, pep249_class: type[DBAPIError]) -> type[DBAPIError]:
    """psycopg errors are always the PEP 249 class of their SQLSTATE; asyncpg's are since
    2.0.59/2.1.10 (a plain DBAPIError before)."""
    if lane.driver == "psycopg" or ASYNCPG_ERRORS_BY_SQLSTATE:
        return pep249_class
    return DBAPIError


async def user_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(User)) or 0)


# --- engine settings -----------------------------------------------------------------------


async def test_production_engine_applies_its_settings(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(30), production_engine(db_url, statement_timeout=0.5) as engine:
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
        assert engine.pool.timeout() == 10  # type: ignore[attr-defined]
        async with engine.connect() as conn:
            if lane.backend == "postgresql":
                assert await conn.scalar(text("SHOW statement_timeout")) == "500ms"
            elif lane.backend == "mysql":
                assert await conn.scalar(text("SELECT @@max_statement_time")) == 0.5
            else:  # SQLite: no statement timeout exists; the lock wait is sqlite3's `timeout`
                assert await conn.scalar(text("PRAGMA busy_timeout")) == 15000


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("sqlite+aiosqlite://", {}, "needs a database file"),
        ("sqlite+aiosqlite:///:memory:", {}, "needs a database file"),
        ("sqlite+aiosqlite:///app.db", {"pool_size": 0}, "need pool_size >= 1"),
        ("sqlite+aiosqlite:///app.db", {"statement_timeout": 0}, "timeouts > 0"),
        ("oracle+oracledb://scott@db/app", {}, "unsupported database 'oracle'"),
    ],
)
def test_production_engine_rejects_bad_settings(
    url: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_production_engine(url, **kwargs)


# --- connections the server dropped -------------------------------------------------------


@pytest.mark.lanes("postgresql", "mysql")  # SQLite has no server that could drop a connection
async def test_killed_connection_fails_without_pre_ping_and_is_replaced_with_it(
    db_url: URL, lane: Lane
) -> None:
    async with asyncio.timeout(30), admin_engine(db_url) as admin:
        plain = create_async_engine(db_url, pool_size=1, max_overflow=0)  # no pre-ping
        pinged = make_production_engine(db_url, pool_size=1)  # pool_pre_ping=True
        try:
            for engine in (plain, pinged):
                async with engine.connect() as conn:
                    killed = await backend_id(conn, lane)
                await kill(admin, lane, killed)  # the pooled, idle connection dies

            with pytest.raises(DBAPIError) as caught:
                async with plain.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            assert_disconnect_error(
                caught.value,
                lane,
                "(psycopg.errors.AdminShutdown) terminating connection due to administrator "
                "command",
            )
            # Not retried by run_in_transaction: lost during COMMIT, the outcome is unknown.
            assert not retries.is_retryable(caught.value)
            async with plain.connect() as conn:  # the dead connection was discarded
                assert await conn.scalar(text("SELECT 1")) == 1

            async with pinged.connect() as conn:  # pre-ping noticed and reconnected
                assert await backend_id(conn, lane) != killed
        finally:
            await plain.dispose()
            await pinged.dispose()


@pytest.mark.lanes("postgresql", "mysql")  # SQLite has no server to time a connection out
async def test_pool_recycle_replaces_connections_before_the_server_times_them_out(
    db_url: URL, lane: Lane
) -> None:
    # Stand-ins for MariaDB's wait_timeout (8 hours by default) and proxies' idle limits.
    idle_limit = {
        "postgresql": "SET idle_session_timeout = '1s'",
        "mysql": "SET SESSION wait_timeout = 1",
    }[lane.backend]
    plain = create_async_engine(db_url, pool_size=1, max_overflow=0)
    recycled = create_async_engine(db_url, pool_size=1, max_overflow=0, pool_recycle=1)
    try:
        async with asyncio.timeout(30):
            for engine in (plain, recycled):
                async with engine.connect() as conn:
                    await conn.execute(text(idle_limit))
                    await conn.commit()  # PostgreSQL's SET is transactional
            await asyncio.sleep(1.5)  # both pooled connections are now closed by the server

            with pytest.raises(DBAPIError) as caught:
                async with plain.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            assert_disconnect_error(
                caught.value,
                lane,
                "(psycopg.errors.IdleSessionTimeout) terminating connection due to idle-session "
                "timeout",
            )
            async with recycled.connect() as conn:  # older than pool_recycle: replaced
                assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await plain.dispose()
        await recycled.dispose()


# --- cancellation ----------------------------------------------------------------------------


async def test_cancelled_unit_of_work_rolls_back_and_returns_its_connection(
    db_url: URL, lane: Lane
) -> None:
    async with (
        asyncio.timeout(30),
        production_engine(db_url, statement_timeout=10) as engine,
        admin_engine(db_url) as admin,
    ):
        Session = async_sessionmaker(engine, expire_on_commit=False)
        if lane.backend == "sqlite":
            gc.disable()  # keep the abandoned connection alive, to show what it holds
        try:

            async def insert_then_slow_query(session: AsyncSession) -> None:
                await create_user(session, "ada@example.com", "Ada")  # INSERT sent
                await session.execute(text(SLOW.get(lane.backend, SQLITE_SLOW)))

            with pytest.raises(TimeoutError):
                await production.with_deadline(Session, insert_then_slow_query, 0.3)

            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]

            if lane.backend == "postgresql":
                # asyncpg and psycopg ask the server to cancel: the statement stops with the task.
                assert await _running(admin, "SELECT pg_sleep%") == 0
            elif lane.backend == "mysql":
                # aiomysql closed the socket; the server runs the statement to its end (or to
                # max_statement_time). Kill it here so the test does not wait for it.
                running = await _running(admin, "SELECT SLEEP%")
                assert running == 1
                async with admin.connect() as conn:
                    for (pid,) in await conn.execute(
                        text(
                            "SELECT id FROM information_schema.processlist "
                            "WHERE db = DATABASE() AND info LIKE 'SELECT SLEEP%'"
                        )
                    ):
                        await conn.execute(text(f"KILL QUERY {int(pid)}"))
            else:
                # SQLite: the task saw the cancellation only once the statement had finished.
                # Before 2.0.59/2.1.10 the abandoned sqlite3 connection kept its write lock until
                # Python garbage-collected it: meanwhile other writers failed with "database is
                # locked". Since then SQLAlchemy closes the interrupted cursor (#13831).
                impatient = create_async_engine(db_url, connect_args={"timeout": 0.1})
                try:
                    if AIOSQLITE_CLOSES_CANCELLED_CURSOR:
                        async with impatient.begin() as conn:
                            await conn.execute(text("DELETE FROM posts"))
                    else:
                        with pytest.raises(OperationalError, match="database is locked"):
                            async with impatient.begin() as conn:
                                await conn.execute(text("DELETE FROM posts"))
                finally:
                    await impatient.dispose()
        finally:
            gc.enable()
        if lane.backend == "sqlite":
            gc.collect()  # frees the abandoned sqlite3 connection, and with it the lock

        assert await user_count(engine) == 0  # the INSERT was rolled back
        async with Session() as session, session.begin():  # the pool still works
            await create_user(session, "ada@example.com", "Ada")
        assert await user_count(engine) == 1


async def _running(admin: AsyncEngine, pattern: str) -> int:
    """How many statements matching ``pattern`` the server is running in this database."""
    sql = {
        "SELECT pg_sleep%": (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query LIKE :pattern"
        ),
        "SELECT SLEEP%": (
            "SELECT count(*) FROM information_schema.processlist "
            "WHERE db = DATABASE() AND info LIKE :pattern"
        ),
    }[pattern]
    async with admin.connect() as conn:
        for _ in range(50):  # the cancel request travels on its own connection: allow 1 s
            count = int(await conn.scalar(text(sql), {"pattern": pattern}) or 0)
            if pattern == "SELECT SLEEP%" or count == 0:
                return count
            await asyncio.sleep(0.02)
    return count


async def test_failure_mid_unit_of_work_commits_nothing(db_url: URL) -> None:
    async with asyncio.timeout(30), production_engine(db_url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)

        async def three_users(third_email: str, third_name: str) -> None:
            async with Session() as session, session.begin():
                await create_user(session, "ada@example.com", "Ada")
                await create_user(session, "grace@example.com", "Grace")  # 2 INSERTs sent
                await create_user(session, third_email, third_name)

        with pytest.raises(IntegrityError):  # the database refuses the third INSERT
            await three_users("ada@example.com", "Ada again")  # duplicate email
        assert await user_count(engine) == 0

        with pytest.raises(ValueError, match="name must be"):  # Python refuses the third user
            await three_users("linus@example.com", "")
        assert await user_count(engine) == 0


# --- statement timeouts ------------------------------------------------------------------------


async def test_server_stops_a_statement_that_runs_too_long(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(30), production_engine(db_url, statement_timeout=0.2) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)
        if lane.backend == "sqlite":
            # No server-side limit exists: the statement runs to completion.
            async with Session() as session:
                assert await session.scalar(text(SQLITE_SLOW)) == 3_000_000
            return

        with pytest.raises(DBAPIError) as caught:
            async with Session() as session, session.begin():
                await session.execute(text(SLOW[lane.backend]))
        error = caught.value
        if lane.backend == "postgresql":
            assert type(error) is postgresql_error_class(lane, OperationalError)
            assert "canceling statement due to statement timeout" in str(error)
            if lane.driver == "psycopg":
                assert str(error).startswith("(psycopg.errors.QueryCanceled) canceling statement")
            assert error.orig is not None
            assert getattr(error.orig, "sqlstate", None) == "57014"  # query_canceled
            if SA21:
                driver_error = getattr(error, "driver_exception", None)  # 2.1 only
                assert type(driver_error).__name__ == {
                    "asyncpg": "QueryCanceledError",
                    "psycopg": "QueryCanceled",
                }[lane.driver]
        else:
            assert type(error) is OperationalError
            assert error.orig is not None
            assert error.orig.args == (
                1969,
                "Query execution was interrupted (max_statement_time exceeded)",
            )
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with Session() as session:  # the connection survived and is usable
            assert await session.scalar(text("SELECT 1")) == 1


@pytest.mark.lanes("postgresql+asyncpg")  # command_timeout is an asyncpg setting
async def test_asyncpg_command_timeout_raises_plain_timeout_error(db_url: URL, lane: Lane) -> None:
    # command_timeout alone (no server-side statement_timeout): the client gives up.
    engine = create_async_engine(db_url, connect_args={"command_timeout": 0.2})
    try:
        async with asyncio.timeout(30):
            with pytest.raises(TimeoutError) as caught:  # not wrapped in a DBAPIError
                async with engine.connect() as conn:
                    await conn.execute(text(SLOW["postgresql"]))
            assert not isinstance(caught.value, DBAPIError)
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


# --- conflicts and retries ---------------------------------------------------------------------


async def open_accounts(engine: AsyncEngine, *balances: int) -> None:
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add_all(Account(id=i, balance=b) for i, b in enumerate(balances, 1))


async def balances(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Account.balance).order_by(Account.id))).all())


def retry_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.name == "examples.retries")


def first_attempt_waits(
    barrier: asyncio.Barrier,
    work: Callable[[AsyncSession], Awaitable[None]],
    then: Callable[[AsyncSession], Awaitable[None]],
) -> Callable[[AsyncSession], Awaitable[None]]:
    """``work``, wait until every task has done its ``work``, then ``then``. Retries skip the
    wait, so the conflict is certain on the first attempt and gone on the next."""
    attempts = 0

    async def run(session: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        await work(session)
        if attempts == 1:
            await barrier.wait()
        await then(session)

    return run


async def nothing(session: AsyncSession) -> None:
    return None


def opposite_transfers(barrier: asyncio.Barrier) -> list[Callable[[AsyncSession], Any]]:
    """1 -> 2 and 2 -> 1 at once: each locks its source row, then waits for the other's."""

    def half(account_id: int, change: int) -> Callable[[AsyncSession], Awaitable[None]]:
        async def step(session: AsyncSession) -> None:
            await session.execute(
                sqlalchemy.update(Account)
                .where(Account.id == account_id)
                .values(balance=Account.balance + change)
            )

        return step

    return [
        first_attempt_waits(barrier, half(1, -10), half(2, +10)),
        first_attempt_waits(barrier, half(2, -30), half(1, +30)),
    ]


@pytest.mark.lanes("postgresql", "mysql")  # SQLite locks the database at BEGIN IMMEDIATE
async def test_deadlock_fails_one_transaction_and_retry_completes_both(
    db_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="examples.retries")
    async with asyncio.timeout(30), production_engine(db_url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)
        await open_accounts(engine, 100, 100)

        # Without retries: the database picks a victim and aborts its transaction.
        works = opposite_transfers(asyncio.Barrier(2))
        results = await asyncio.gather(
            *(run_in_transaction(Session, work, attempts=1) for work in works),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1
        error = errors[0]
        assert isinstance(error, DBAPIError)
        assert retries.is_retryable(error)
        if lane.backend == "postgresql":
            assert type(error) is postgresql_error_class(lane, OperationalError)
            assert str(error).startswith(
                {
                    "asyncpg": "(sqlalchemy.dialects.postgresql.asyncpg.",
                    "psycopg": "(psycopg.errors.DeadlockDetected) deadlock detected",
                }[lane.driver]
            )
            assert "deadlock detected" in str(error)
            assert getattr(error.orig, "sqlstate", None) == "40P01"
        else:
            assert type(error) is OperationalError
            assert error.orig is not None
            assert error.orig.args == (
                1213,
                "Deadlock found when trying to get lock; try restarting transaction",
            )
        survivor = 0 if results[0] is None else 1
        assert await balances(engine) == ([90, 110], [130, 70])[survivor]

        # With retries: the victim runs again in a fresh transaction; both transfers land.
        await open_accounts_reset(engine, 100, 100)
        works = opposite_transfers(asyncio.Barrier(2))
        await asyncio.gather(*(run_in_transaction(Session, work) for work in works))
        assert await balances(engine) == [120, 80]
        assert retry_count(caplog) == 1


@pytest.mark.lanes("mysql")  # error 1205 is MariaDB's lock wait timeout
async def test_lock_wait_timeout_is_retried_on_mariadb(
    db_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="examples.retries")
    async with asyncio.timeout(30), production_engine(db_url) as engine:
        await open_accounts(engine, 100)
        Session = async_sessionmaker(engine, expire_on_commit=False)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold_the_row() -> None:  # a slow transaction holding a row lock
            async with Session() as session, session.begin():
                await retries.deposit_atomic(session, 1, 1)
                holding.set()
                await release.wait()

        attempts = 0

        async def impatient(session: AsyncSession) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 3:  # the retry below: let the holder finish while it waits
                release.set()
            await session.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            await retries.deposit_atomic(session, 1, 10)

        holder = asyncio.create_task(hold_the_row())
        await holding.wait()
        with pytest.raises(OperationalError) as caught:
            await run_in_transaction(Session, impatient, attempts=1)
        assert caught.value.orig is not None
        assert caught.value.orig.args == (
            1205,
            "Lock wait timeout exceeded; try restarting transaction",
        )
        assert retries.is_retryable(caught.value)

        # Retried: the first attempt times out again; during the second the holder commits.
        await run_in_transaction(Session, impatient)
        await holder
        assert await balances(engine) == [111]
        assert retry_count(caplog) == 1


async def open_accounts_reset(engine: AsyncEngine, *values: int) -> None:
    async with engine.begin() as conn:
        for account_id, balance in enumerate(values, 1):
            await conn.execute(
                sqlalchemy.update(Account).where(Account.id == account_id).values(balance=balance)
            )


async def deposit_one(session: AsyncSession) -> None:
    await retries.deposit(session, 1, 1)


async def read_account(session: AsyncSession) -> None:
    await session.get(Account, 1)  # the read half of read-modify-write


async def write_back(session: AsyncSession) -> None:
    account = await session.get(Account, 1)  # already loaded: no SQL
    assert account is not None
    account.balance += 1


async def test_concurrent_read_modify_write_needs_serializable_and_retries(
    db_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="examples.retries")
    n = 5
    async with asyncio.timeout(60), production_engine(db_url) as engine:
        await open_accounts(engine, 0)
        if lane.backend == "sqlite":
            # BEGIN IMMEDIATE: one transaction at a time, so none can conflict or retry.
            Session = serializable_sessionmaker(engine)
            await asyncio.gather(*(run_in_transaction(Session, deposit_one) for _ in range(20)))
            assert await balances(engine) == [20]
            assert retry_count(caplog) == 0

            # Wrong: a deferred BEGIN. Both read (shared lock), then both write: SQLite refuses
            # the second writer at once, without waiting for `timeout`.
            deferred = make_test_engine(db_url)  # real transactions, plain BEGIN
            try:
                await open_accounts_reset(deferred, 0)
                barrier = asyncio.Barrier(2)
                results = await asyncio.gather(
                    *(
                        run_in_transaction(
                            async_sessionmaker(deferred, expire_on_commit=False),
                            first_attempt_waits(barrier, read_account, write_back),
                            attempts=1,
                        )
                        for _ in range(2)
                    ),
                    return_exceptions=True,
                )
                locked = [r for r in results if isinstance(r, OperationalError)]
                assert [str(e.orig) for e in locked] == ["database is locked"]
                assert retries.is_retryable(locked[0])
                assert await balances(deferred) == [1]
            finally:
                await deferred.dispose()
            return

        # Wrong: the default isolation level. Every task reads 0, then writes 1, no error:
        # four of five deposits are silently lost.
        barrier = asyncio.Barrier(n)
        plain = async_sessionmaker(engine, expire_on_commit=False)
        await asyncio.gather(
            *(
                run_in_transaction(plain, first_attempt_waits(barrier, read_account, write_back))
                for _ in range(n)
            )
        )
        assert await balances(engine) == [1]
        assert retry_count(caplog) == 0

        # SERIALIZABLE turns the lost update into an error...
        await open_accounts_reset(engine, 0)
        Session = serializable_sessionmaker(engine)
        barrier = asyncio.Barrier(n)
        results = await asyncio.gather(
            *(
                run_in_transaction(
                    Session, first_attempt_waits(barrier, read_account, write_back), attempts=1
                )
                for _ in range(n)
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, DBAPIError)]
        assert errors
        assert len(errors) == sum(1 for r in results if r is not None)  # no other failure
        assert all(retries.is_retryable(e) for e in errors)
        if lane.backend == "postgresql":
            assert {type(e) for e in errors} == {postgresql_error_class(lane, OperationalError)}
            assert {getattr(e.orig, "sqlstate", None) for e in errors} == {"40001"}
            assert "could not serialize access due to concurrent update" in str(errors[0])
            if lane.driver == "psycopg":
                assert str(errors[0]).startswith("(psycopg.errors.SerializationFailure) ")
        else:  # InnoDB SERIALIZABLE: reads take shared locks, the writes deadlock
            assert {e.orig.args[0] for e in errors if e.orig is not None} == {1213}
        assert await balances(engine) == [n - len(errors)]  # the others did commit

        # ...and retrying it completes every deposit.
        await open_accounts_reset(engine, 0)
        caplog.clear()
        barrier = asyncio.Barrier(n)
        await asyncio.gather(
            *(
                run_in_transaction(
                    Session, first_attempt_waits(barrier, read_account, write_back), attempts=10
                )
                for _ in range(n)
            )
        )
        assert await balances(engine) == [n]
        assert retry_count(caplog) >= n - 1

        # Many tasks, no choreography: still exact.
        await open_accounts_reset(engine, 0)
        await asyncio.gather(
            *(run_in_transaction(Session, deposit_one, attempts=10) for _ in range(20))
        )
        assert await balances(engine) == [20]


async def test_atomic_update_needs_no_retry(
    db_url: URL, lane: Lane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="examples.retries")
    async with asyncio.timeout(30), production_engine(db_url) as engine:
        await open_accounts(engine, 0)
        Session = async_sessionmaker(engine, expire_on_commit=False)  # default isolation

        async def deposit(session: AsyncSession) -> None:
            await retries.deposit_atomic(session, 1, 1)

        await asyncio.gather(*(run_in_transaction(Session, deposit) for _ in range(20)))
        assert await balances(engine) == [20]
        assert retry_count(caplog) == 0


async def test_errors_that_are_not_conflicts_are_not_retried(db_url: URL) -> None:
    async with asyncio.timeout(30), production_engine(db_url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)
        calls: Counter[str] = Counter()

        async def duplicate(session: AsyncSession) -> None:
            calls["duplicate"] += 1
            await create_user(session, "ada@example.com", "Ada")
            await create_user(session, "ada@example.com", "Ada")

        async def invalid(session: AsyncSession) -> None:
            calls["invalid"] += 1
            await create_user(session, "not an email", "Ada")

        with pytest.raises(IntegrityError) as caught:
            await run_in_transaction(Session, duplicate)
        assert not retries.is_retryable(caught.value)
        with pytest.raises(ValueError, match="not an email"):
            await run_in_transaction(Session, invalid)
        assert calls == {"duplicate": 1, "invalid": 1}
        with pytest.raises(ValueError, match="attempts must be at least 1"):
            await run_in_transaction(Session, nothing, attempts=0)


# --- the modules run ---------------------------------------------------------------------------


async def test_production_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(60):
        await production.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "50 tasks, 50 users" in out
    if db_url.get_backend_name() != "sqlite":
        assert "cancelled after 0.2 s; pool: " in out
        assert "Current Checked out connections: 0" in out.split("cancelled after")[1]


async def test_retries_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(60):
        await retries.main(db_url.render_as_string(hide_password=False))
    assert "balances after 10 deposits and a transfer: [120, 90]" in capsys.readouterr().out
