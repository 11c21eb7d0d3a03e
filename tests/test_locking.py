"""examples/locking.py on every lane: lost updates without a lock, SELECT ... FOR UPDATE that
serialises them, a job queue on SKIP LOCKED with 20 workers (and SQLite's answers), and
version_id_col with StaleDataError on every driver.

Concurrency is choreographed, never timed: an asyncio.Barrier makes transactions read before
any writes; a lock wait is observed in the server's own view (pg_stat_activity,
information_schema.innodb_trx) before the lock holder may go on. ``asyncio.timeout`` only
turns a hang (a lock the test expected to be skipped) into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import pytest
from sqlalchemy import URL, CursorResult, NullPool, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.exc import StaleDataError

from examples import locking
from examples.errors import capture
from examples.locking import (
    Account,
    Document,
    EditConflict,
    InsufficientFunds,
    Job,
    LedgerEntry,
    LockingBase,
)
from examples.production import make_production_engine
from tests.conftest import Lane
from tools.statements import StatementLog, count_statements

WORKERS = 20
JOBS = 200
BATCH = 5


@contextlib.asynccontextmanager
async def locking_engine(
    db_url: URL, *, sqlite_begin_immediate: bool = False
) -> AsyncIterator[AsyncEngine]:
    """An engine with a connection per worker, on the test's database with the module's tables.

    A plain engine, except with ``sqlite_begin_immediate`` on SQLite: make_production_engine,
    whose transactions start with BEGIN IMMEDIATE. (A plain aiosqlite engine runs a SELECT
    outside any transaction and starts one only at the first write.)"""
    if sqlite_begin_immediate and db_url.get_backend_name() == "sqlite":
        engine = make_production_engine(db_url, pool_size=WORKERS)
    else:
        engine = create_async_engine(db_url, pool_size=WORKERS, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(LockingBase.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


SESSIONS_OF_THIS_DATABASE = "SELECT id FROM information_schema.processlist WHERE db = DATABASE()"


async def lock_waiters(conn: AsyncConnection, lane: Lane) -> int:
    """How many sessions of this database wait for a lock, as the server reports it now."""
    if lane.backend == "postgresql":
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting or 0)
    # MariaDB: not information_schema.innodb_trx, whose snapshot is refreshed only after 0.1 s
    # without any reader (so polling it keeps it stale). The InnoDB monitor is read live.
    ours = set((await conn.scalars(text(SESSIONS_OF_THIS_DATABASE))).all())
    status = (await conn.execute(text("SHOW ENGINE INNODB STATUS"))).one()[2]
    transactions = status.partition("LIST OF TRANSACTIONS FOR EACH SESSION:")[2]
    return sum(
        1
        for transaction in transactions.split("---TRANSACTION ")
        if "\nLOCK WAIT " in transaction
        and (thread := re.search(r"\nMariaDB thread id (\d+),", transaction))
        and int(thread[1]) in ours
    )


# This database's sessions as the server sees them, for a failure message.
SESSIONS = {
    "postgresql": "SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity "
    "WHERE datname = current_database()",
    "mysql": "SELECT id, command, state, info FROM information_schema.processlist "
    "WHERE db = DATABASE()",
}


async def release_when_one_waits(release: asyncio.Event, db_url: URL, lane: Lane) -> None:
    """Set ``release`` once one session of this database waits for a lock, as the server
    reports it. If that never happens, set it anyway (the holder must not hang) and fail
    with the sessions the server showed."""
    admin = create_async_engine(db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for _ in range(2000):  # at least 20 s: it ran out only if nobody waits
                waiting = await lock_waiters(conn, lane)
                if waiting == 1:
                    return
                await asyncio.sleep(0.01)
            sessions = (await conn.execute(text(SESSIONS[lane.backend]))).all()
    finally:
        release.set()
        await admin.dispose()
    raise AssertionError(f"{waiting} sessions wait for a lock; the server shows {sessions}")


# --- read-modify-write --------------------------------------------------------------------


async def open_account(engine: AsyncEngine, balance: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(LedgerEntry))
        await conn.execute(delete(Account))
        await conn.execute(insert(Account), [{"id": 1, "balance": balance}])


async def books(engine: AsyncEngine) -> tuple[int, int]:
    """Account 1's balance and the sum of its ledger entries (what was paid out)."""
    async with engine.connect() as conn:
        balance = await conn.scalar(select(Account.balance).where(Account.id == 1))
        paid = await conn.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    return int(balance or 0), int(paid or 0)  # MariaDB's SUM is a Decimal


async def withdraw_unlocked(session: AsyncSession, account_id: int, amount: int) -> int:
    """The wrong version of locking.withdraw: the same steps without with_for_update()."""
    account = await session.get_one(Account, account_id)
    if account.balance < amount:
        raise InsufficientFunds(f"account {account_id} has {account.balance}, needs {amount}")
    account.balance -= amount
    session.add(LedgerEntry(account_id=account_id, amount=-amount))
    return account.balance


def locking_reads(log: StatementLog) -> list[str]:
    """withdraw()'s SELECTs of the account (books() reads only the balance)."""
    return [s for s in log.selects if s.startswith("SELECT accounts.id, accounts.balance")]


Withdrawal = Callable[[AsyncSession, int, int], Awaitable[int]]


async def all_read_then_all_write(
    Session: async_sessionmaker[AsyncSession], withdrawal: Withdrawal, amounts: Sequence[int]
) -> list[Any]:
    """One transaction per amount; each reads (the ORM keeps its writes until the commit),
    waits until all have read, then commits."""
    barrier = asyncio.Barrier(len(amounts))

    async def one(amount: int) -> int:
        async with Session() as session, session.begin():
            balance = await withdrawal(session, 1, amount)
            await barrier.wait()
        return balance

    return await asyncio.gather(*(one(amount) for amount in amounts), return_exceptions=True)


async def test_read_modify_write_without_a_lock_loses_an_update(db_url: URL) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await open_account(engine, 100)
        assert await all_read_then_all_write(Session, withdraw_unlocked, [30, 50]) == [70, 50]
        balance, paid = await books(engine)
        assert paid == -80  # both withdrawals were paid out...
        assert balance in (70, 50)  # ...and the later commit overwrote the other: no error

        # The rule in Python does not hold either: both see 100, both pay 80.
        await open_account(engine, 100)
        assert await all_read_then_all_write(Session, withdraw_unlocked, [80, 80]) == [20, 20]
        assert await books(engine) == (20, -160)


@pytest.mark.lanes("postgresql", "mysql")  # SQLite has no row locks (tests below)
async def test_for_update_makes_the_second_transaction_wait_for_the_first(
    db_url: URL, lane: Lane
) -> None:
    async with asyncio.timeout(120), locking_engine(db_url) as engine:
        Session = sessions(engine)

        async def two_withdrawals(first: int, second: int) -> list[Any]:
            first_holds_lock = asyncio.Event()
            second_waits = asyncio.Event()

            async def holder() -> int:
                async with Session() as session, session.begin():
                    balance = await locking.withdraw(session, 1, first)
                    first_holds_lock.set()
                    await second_waits.wait()  # commit only once the other waits for the row
                return balance

            async def waiter() -> int:
                await first_holds_lock.wait()
                async with Session() as session, session.begin():
                    return await locking.withdraw(session, 1, second)

            async def observer() -> None:
                await first_holds_lock.wait()
                await release_when_one_waits(second_waits, db_url, lane)

            results = await asyncio.gather(holder(), waiter(), observer(), return_exceptions=True)
            assert results[2] is None, results[2]  # the server saw the second one waiting
            return list(results[:2])

        await open_account(engine, 100)
        assert await two_withdrawals(30, 50) == [70, 20]  # the second read the first's 70
        assert await books(engine) == (20, -80)

        await open_account(engine, 100)
        paid, refused = await two_withdrawals(80, 80)
        assert paid == 20
        assert isinstance(refused, InsufficientFunds)
        assert str(refused) == "account 1 has 20, needs 80"
        assert await books(engine) == (20, -80)


async def test_concurrent_withdrawals_never_overdraw(db_url: URL) -> None:
    """22 concurrent withdrawals of 5 from 100: exactly 20 are paid, each one seeing the balance
    the previous one left. FOR UPDATE on PostgreSQL/MariaDB, BEGIN IMMEDIATE on SQLite."""
    async with (
        asyncio.timeout(60),
        locking_engine(db_url, sqlite_begin_immediate=True) as engine,
    ):
        with count_statements(engine) as log:
            Session = sessions(engine)
            await open_account(engine, 100)

            async def withdraw_5() -> int:
                async with Session() as session, session.begin():
                    return await locking.withdraw(session, 1, 5)

            results = await asyncio.gather(
                *(withdraw_5() for _ in range(22)), return_exceptions=True
            )
            balances = sorted(r for r in results if isinstance(r, int))
            assert balances == list(range(0, 100, 5))  # 95, 90, ... 0: no two saw the same balance
            refused = [r for r in results if not isinstance(r, int)]
            assert [type(r) for r in refused] == [InsufficientFunds, InsufficientFunds]
            assert await books(engine) == (0, -100)
            reads = locking_reads(log)
            assert len(reads) == 22
            if db_url.get_backend_name() == "sqlite":
                assert not any("FOR UPDATE" in s for s in log.statements)
                assert log.statements.count("BEGIN IMMEDIATE") >= 22
            else:
                assert all(s.endswith("FOR UPDATE") for s in reads), reads


@pytest.mark.lanes("sqlite")  # what with_for_update() does there: nothing
async def test_for_update_renders_nothing_on_sqlite_and_the_update_is_lost(db_url: URL) -> None:
    async with (
        asyncio.timeout(60),
        locking_engine(db_url) as engine,  # plain aiosqlite: no BEGIN IMMEDIATE
    ):
        with count_statements(engine) as log:
            await open_account(engine, 100)
            results = await all_read_then_all_write(sessions(engine), locking.withdraw, [30, 50])
            assert results == [70, 50]
            balance, paid = await books(engine)
            assert paid == -80
            assert balance in (70, 50)
            reads = locking_reads(log)
            assert len(reads) == 2
            assert all(s.endswith("WHERE accounts.id = ?") for s in reads), reads  # no FOR UPDATE

        # Why nothing waited: the driver ran the SELECT outside any transaction.
        async with sessions(engine)() as session:
            await locking.withdraw(session, 1, 5)
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection is not None
            assert raw.driver_connection.in_transaction is False
            await session.flush()  # the UPDATE: now a transaction is open
            assert raw.driver_connection.in_transaction is True
            await session.rollback()


async def test_lock_on_an_object_already_loaded_needs_populate_existing(db_url: URL) -> None:
    """The session's identity map keeps an object's loaded values: a later SELECT ... FOR
    UPDATE locks the row but does not refresh the object unless populate_existing=True."""
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await open_account(engine, 100)
        async with Session() as mine:
            account = await mine.get_one(Account, 1)
            async with Session() as other, other.begin():
                assert await locking.withdraw(other, 1, 30) == 70
            locked = select(Account).where(Account.id == 1).with_for_update()
            assert await mine.scalar(locked) is account
            assert account.balance == 100  # stale: the row says 70
            await mine.scalar(locked.execution_options(populate_existing=True))
            assert account.balance == 70
            await mine.rollback()

            account = await mine.get_one(Account, 1)  # 70, in the identity map again
            async with Session() as other, other.begin():
                assert await locking.withdraw(other, 1, 10) == 60
            assert account.balance == 70
            assert await locking.withdraw(mine, 1, 50) == 10  # withdraw() used the row's 60
            await mine.commit()
        assert await books(engine) == (10, -90)


# --- the job queue ------------------------------------------------------------------------


async def add_jobs(engine: AsyncEngine, count: int = JOBS) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Job), [{"payload": f"job {n}"} for n in range(1, count + 1)])


async def job_table(engine: AsyncEngine) -> tuple[Counter[str], Counter[str | None]]:
    """Jobs per status and per claiming worker."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Job.status, Job.claimed_by))).all()
    return Counter(status for status, _ in rows), Counter(worker for _, worker in rows)


def claim_selects(log: StatementLog) -> list[str]:
    """The claims' SELECTs of whole jobs (job_table() reads two columns)."""
    return [s for s in log.selects if s.startswith("SELECT jobs.id, jobs.payload")]


class Processed:
    """The workers' process() callback: counts each job and notes the worker it was claimed by."""

    def __init__(self) -> None:
        self.count: Counter[int] = Counter()
        self.claimed_by: dict[int, str | None] = {}

    async def __call__(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.count[job.id] += 1
            self.claimed_by[job.id] = job.claimed_by


async def assert_each_job_claimed_once(engine: AsyncEngine, processed: Processed) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Job.id, Job.status, Job.claimed_by))).all()
    assert processed.count == Counter(range(1, JOBS + 1))  # every id once, no other
    assert Counter(status for _, status, _ in rows) == {"done": JOBS}
    assert {job_id: worker for job_id, _, worker in rows} == processed.claimed_by
    assert None not in processed.claimed_by.values()


async def test_twenty_workers_claim_every_job_exactly_once(db_url: URL, lane: Lane) -> None:
    async with (
        asyncio.timeout(120),
        locking_engine(db_url, sqlite_begin_immediate=True) as engine,
    ):
        with count_statements(engine) as log:
            await add_jobs(engine)
            process = Processed()

            done = await asyncio.gather(
                *(
                    locking.run_worker(sessions(engine), f"worker-{n}", process, BATCH)
                    for n in range(WORKERS)
                )
            )
            assert sum(done) == JOBS
            await assert_each_job_claimed_once(engine, process)
            claims = claim_selects(log)
            assert len(claims) >= JOBS // BATCH + WORKERS  # the full batches, then one empty each
            if lane.backend == "sqlite":  # SQLite: BEGIN IMMEDIATE does the work; nothing to skip
                assert not any("FOR UPDATE" in s for s in claims)
            else:
                assert all(s.endswith("FOR UPDATE SKIP LOCKED") for s in claims), claims[0]


@pytest.mark.lanes("postgresql", "mysql")  # SKIP LOCKED: PostgreSQL 9.5+, MariaDB 10.6+
async def test_skip_locked_workers_hold_different_batches_at_the_same_time(
    db_url: URL,
) -> None:
    async with asyncio.timeout(120), locking_engine(db_url) as engine:
        await add_jobs(engine)
        Session = sessions(engine)
        barrier = asyncio.Barrier(WORKERS)
        first_batches: list[list[int]] = []
        process = Processed()

        async def worker(name: str) -> None:
            async with Session() as session, session.begin():
                jobs = await locking.claim_jobs(session, name, BATCH)
                await session.flush()  # this batch's rows are locked and marked running...
                await barrier.wait()  # ...while all 20 workers hold theirs: none waited
            first_batches.append([job.id for job in jobs])
            await process(jobs)
            async with Session() as session, session.begin():
                await locking.finish_jobs(session, jobs)
            await locking.run_worker(Session, name, process, BATCH)

        await asyncio.gather(*(worker(f"worker-{n}") for n in range(WORKERS)))
        assert [len(batch) for batch in first_batches] == [BATCH] * WORKERS
        assert len(set(process.claimed_by.values())) == WORKERS
        # 20 disjoint batches, together the first 100 jobs in id order.
        assert sorted(i for batch in first_batches for i in batch) == list(range(1, 101))
        await assert_each_job_claimed_once(engine, process)


@pytest.mark.lanes("postgresql", "mysql")
async def test_without_skip_locked_the_next_worker_waits(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(120), locking_engine(db_url) as engine:
        await add_jobs(engine)
        Session = sessions(engine)
        first_holds = asyncio.Event()
        second_waits = asyncio.Event()
        plain_lock = (
            select(Job).where(Job.status == "queued").order_by(Job.id).limit(BATCH)
        ).with_for_update()  # FOR UPDATE without SKIP LOCKED

        async def first() -> list[int]:
            async with Session() as session, session.begin():
                jobs = await locking.claim_jobs(session, "first", BATCH)
                first_holds.set()
                await second_waits.wait()
            return [job.id for job in jobs]

        async def second() -> list[int]:
            await first_holds.wait()
            async with Session() as session, session.begin():
                return [job.id for job in await session.scalars(plain_lock)]

        async def observer() -> None:
            await first_holds.wait()
            await release_when_one_waits(second_waits, db_url, lane)  # it waits for row 1

        claimed, after_waiting, _ = await asyncio.gather(first(), second(), observer())
        assert claimed == [1, 2, 3, 4, 5]
        # Once the first committed, the rows it claimed no longer match "queued".
        assert after_waiting == [6, 7, 8, 9, 10]


async def claim_unlocked(session: AsyncSession, worker: str, limit: int) -> list[Job]:
    """The wrong version of locking.claim_jobs: the same steps without with_for_update()."""
    jobs = (
        await session.scalars(
            select(Job).where(Job.status == "queued").order_by(Job.id).limit(limit)
        )
    ).all()
    for job in jobs:
        job.status = "running"
        job.claimed_by = worker
    return list(jobs)


async def claims_after_all_have_read(engine: AsyncEngine, claim: locking.Claim) -> Counter[int]:
    """20 workers claim once each; every one reads before any commits. Claims per job id."""
    Session = sessions(engine)
    barrier = asyncio.Barrier(WORKERS)

    async def worker(name: str) -> list[int]:
        async with Session() as session, session.begin():
            jobs = await claim(session, name, BATCH)
            await barrier.wait()
        return [job.id for job in jobs]

    batches = await asyncio.gather(*(worker(f"worker-{n}") for n in range(WORKERS)))
    return Counter(i for batch in batches for i in batch)


async def test_claiming_without_a_lock_gives_every_worker_the_same_jobs(db_url: URL) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        await add_jobs(engine)
        claims = await claims_after_all_have_read(engine, claim_unlocked)
        assert claims == {job_id: WORKERS for job_id in range(1, BATCH + 1)}  # 20 times each
        statuses, workers = await job_table(engine)
        assert statuses == {"running": BATCH, "queued": JOBS - BATCH}
        assert len([w for w in workers if w is not None]) == 1  # the last commit's name


@pytest.mark.lanes("sqlite")  # SKIP LOCKED renders nothing; the plain engine does not serialise
async def test_claim_jobs_on_a_plain_sqlite_engine_gives_every_worker_the_same_jobs(
    db_url: URL,
) -> None:
    async with (
        asyncio.timeout(60),
        locking_engine(db_url) as engine,
    ):
        with count_statements(engine) as log:
            await add_jobs(engine)
            claims = await claims_after_all_have_read(engine, locking.claim_jobs)
            assert claims == {job_id: WORKERS for job_id in range(1, BATCH + 1)}
            assert all(s.endswith("LIMIT ? OFFSET ?") for s in claim_selects(log))  # no lock clause


@pytest.mark.lanes("sqlite")
async def test_sqlite_claim_in_one_statement_claims_every_job_once(db_url: URL) -> None:
    async with (
        asyncio.timeout(120),
        locking_engine(db_url) as engine,  # plain aiosqlite: works without BEGIN IMMEDIATE
    ):
        with count_statements(engine) as log:
            await add_jobs(engine)
            process = Processed()

            await asyncio.gather(
                *(
                    locking.run_worker(
                        sessions(engine), f"worker-{n}", process, BATCH, locking.claim_jobs_sqlite
                    )
                    for n in range(WORKERS)
                )
            )
            await assert_each_job_claimed_once(engine, process)
            assert claim_selects(log) == []  # no separate read: the claim is one statement
            claims = [s for s in log.statements if s.startswith("UPDATE jobs SET status=?")]
            assert len(claims) >= JOBS // BATCH + WORKERS
            assert re.fullmatch(
                r"UPDATE jobs SET status=\?, claimed_by=\? WHERE jobs\.id IN \(SELECT jobs\.id \n"
                r"FROM jobs \nWHERE jobs\.status = \? ORDER BY jobs\.id\n LIMIT \? OFFSET \?\) "
                r"RETURNING .+",
                claims[0],
                re.DOTALL,
            ), claims[0]


# --- optimistic concurrency: version_id_col -----------------------------------------------


async def add_documents(engine: AsyncEngine, count: int) -> None:
    async with sessions(engine)() as session, session.begin():
        session.add_all(Document(id=n, title=f"Doc {n}", body="") for n in range(1, count + 1))


async def document_rows(engine: AsyncEngine) -> list[tuple[int, str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Document.id, Document.title, Document.body, Document.version).order_by(
                Document.id
            )
        )
        return [(row.id, row.title, row.body, row.version) for row in rows]


# SQLAlchemy checks a versioned row's UPDATE/DELETE by rowcount. supports_sane_rowcount: the
# rowcount of one statement is right; supports_sane_multi_rowcount: also of an executemany.
ROWCOUNT_SUPPORT = {
    "aiosqlite": (True, True),
    "asyncpg": (True, False),
    "psycopg": (True, True),
    "aiomysql": (True, True),  # rowcount counts matched rows: the driver connects FOUND_ROWS
}


async def test_stale_version_raises_on_every_driver(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        dialect = engine.dialect
        assert (
            dialect.supports_sane_rowcount,
            dialect.supports_sane_multi_rowcount,
        ) == ROWCOUNT_SUPPORT[lane.driver]
        Session = sessions(engine)
        await add_documents(engine, 4)

        async def save_elsewhere(*document_ids: int) -> None:
            async with Session() as other, other.begin():
                for n in document_ids:
                    (await other.get_one(Document, n)).title = "theirs"  # version 2

        async with Session() as mine:
            stale = [await mine.get_one(Document, n) for n in (1, 2)]
            await save_elsewhere(1)

            # UPDATEs of a stale (1) and a current (2) row: versioned UPDATEs are never batched,
            # each one's rowcount is added up, and a shortfall fails the flush.
            stale[0].title, stale[1].title = "mine", "mine"
            with count_statements(engine) as log, pytest.raises(StaleDataError) as caught:
                await mine.commit()
            assert str(caught.value) == (
                "UPDATE statement on table 'documents' expected to update 2 row(s); 1 were matched."
            )
            updates = [s for s in log.statements if s.startswith("UPDATE documents")]
            assert len(updates) == 2
            assert all(
                re.search(r"WHERE documents\.id = \S+ AND documents\.version = \S+$", s)
                for s in updates
            ), updates

            # DELETE of a current (3) and a stale (4) row in one flush. Where an executemany's
            # rowcount adds up (supports_sane_multi_rowcount) it is one statement and checked.
            # asyncpg: one DELETE per row, but a count of several rows is then not checked.
            await mine.rollback()
            stale = [await mine.get_one(Document, n) for n in (3, 4)]
            await save_elsewhere(4)
            for document in stale:
                await mine.delete(document)
            with count_statements(engine) as log:
                outcome = await capture(mine.commit())
            deletes = [s for s in log.statements if s.startswith("DELETE FROM documents")]
            assert all(
                re.fullmatch(
                    r"DELETE FROM documents WHERE documents\.id = \S+ AND "
                    r"documents\.version = \S+",
                    s,
                )
                for s in deletes
            ), deletes
            if dialect.supports_sane_multi_rowcount:
                assert len(deletes) == 1
                assert outcome.error is StaleDataError
                assert outcome.message == (
                    "DELETE statement on table 'documents' expected to delete 2 row(s); "
                    "1 were matched.  Please set confirm_deleted_rows=False within the mapper "
                    "configuration to prevent this warning."
                )
            else:
                assert len(deletes) == 2
                assert outcome.error is None  # committed: 3 deleted, stale 4 silently kept

        assert await document_rows(engine) == [
            (1, "theirs", "", 2),  # mine rolled back: the other session's save stands
            (2, "Doc 2", "", 1),
            *([(3, "Doc 3", "", 1)] if dialect.supports_sane_multi_rowcount else []),
            (4, "theirs", "", 2),
        ]
        # rowcount counts matched rows even when no value changes (MariaDB: FOUND_ROWS).
        async with Session() as session, session.begin():
            same = await session.execute(
                update(Document).where(Document.id == 2).values(title="Doc 2")
            )
            assert cast("CursorResult[Any]", same).rowcount == 1


async def test_one_delete_per_flush_checks_the_version_on_every_driver(db_url: URL) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await add_documents(engine, 2)
        async with Session() as mine:
            current, stale = [await mine.get_one(Document, n) for n in (1, 2)]
            async with Session() as other, other.begin():
                (await other.get_one(Document, 2)).title = "theirs"
            await mine.delete(current)
            await mine.flush()  # DELETE ... WHERE id = 1 AND version = 1: one row, checked
            await mine.delete(stale)
            with pytest.raises(StaleDataError) as caught:
                await mine.flush()
            assert str(caught.value) == (
                "DELETE statement on table 'documents' expected to delete 1 row(s); "
                "0 were matched.  Please set confirm_deleted_rows=False within the mapper "
                "configuration to prevent this warning."
            )
            await mine.rollback()
        assert await document_rows(engine) == [(1, "Doc 1", "", 1), (2, "theirs", "", 2)]


async def test_apply_with_retry_reloads_and_reapplies(
    db_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="examples.locking")
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await add_documents(engine, 1)

        async def race(attempts: int) -> tuple[Any, Counter[str]]:
            """Writer a loads the document; b saves it; then a saves what it loaded."""
            a_loaded, b_saved = asyncio.Event(), asyncio.Event()
            calls: Counter[str] = Counter()

            def append(line: str) -> Callable[[AsyncSession, Document], Awaitable[None]]:
                async def change(session: AsyncSession, document: Document) -> None:
                    calls[line] += 1
                    if line == "a" and calls[line] == 1:
                        a_loaded.set()
                        await b_saved.wait()
                    document.body += f"{line}\n"

                return change

            async def writer_a() -> Document:
                return await locking.apply_with_retry(
                    Session, Document, 1, append("a"), attempts=attempts
                )

            async def writer_b() -> None:
                await a_loaded.wait()
                await locking.apply_with_retry(Session, Document, 1, append("b"))
                b_saved.set()

            outcome, _ = await asyncio.gather(writer_a(), writer_b(), return_exceptions=True)
            return outcome, calls

        outcome, calls = await race(attempts=3)
        assert isinstance(outcome, Document)
        assert (outcome.body, outcome.version) == ("b\na\n", 3)
        assert calls == {"a": 2, "b": 1}  # a's change ran again on the reloaded row
        assert [r.getMessage() for r in caplog.records] == ["Document 1 changed meanwhile; retry 1"]
        assert await document_rows(engine) == [(1, "Doc 1", "b\na\n", 3)]

        outcome, calls = await race(attempts=1)  # no retry: the conflict reaches the caller
        assert isinstance(outcome, StaleDataError)
        assert await document_rows(engine) == [(1, "Doc 1", "b\na\nb\n", 4)]


async def test_save_edit_reports_a_conflict_instead_of_overwriting(db_url: URL) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await add_documents(engine, 1)

        # Two people opened version 1; one saves, then the other.
        async with Session() as session, session.begin():
            saved = await locking.save_edit(session, 1, 1, "First", "by one")
        assert saved.version == 2
        with pytest.raises(EditConflict, match=r"^document 1 is at version 2$"):
            async with Session() as session, session.begin():
                await locking.save_edit(session, 1, 1, "Second", "by two")

        # A save between our SELECT and our UPDATE: the version check in the UPDATE catches it.
        async with Session() as session:
            loaded = await session.get_one(Document, 1)  # version 2, kept in the identity map
            async with Session() as other, other.begin():
                await locking.save_edit(other, 1, 2, "Third", "by three")
            assert loaded.version == 2  # what save_edit will compare: the check passes
            with pytest.raises(EditConflict, match="was saved by someone else") as caught:
                await locking.save_edit(session, 1, 2, "Fourth", "by four")
            await session.rollback()
        assert isinstance(caught.value.__cause__, StaleDataError)
        assert await document_rows(engine) == [(1, "Third", "by three", 3)]


# --- bad input ----------------------------------------------------------------------------


async def test_bad_input_is_refused_before_any_sql(db_url: URL) -> None:
    async with asyncio.timeout(60), locking_engine(db_url) as engine:
        Session = sessions(engine)
        await open_account(engine, 100)
        await add_jobs(engine, 3)
        await add_documents(engine, 1)

        async def noop(session: AsyncSession, document: Document) -> None:
            return None

        async def noop_process(jobs: list[Job]) -> None:
            raise AssertionError("no job may be claimed")

        bad: Any = "1"  # a value of the wrong type, as it could arrive from JSON
        number: Any = 7
        bad_calls: list[tuple[Callable[[AsyncSession], Awaitable[Any]], str]] = [
            (lambda s: locking.withdraw(s, 0, 10), "account_id must be a whole number from 1"),
            (lambda s: locking.withdraw(s, 2**31, 10), "to 2147483647, got 2147483648"),
            (lambda s: locking.withdraw(s, True, 10), "account_id must be a whole number"),
            (lambda s: locking.withdraw(s, bad, 10), "account_id must be a whole number"),
            (lambda s: locking.withdraw(s, 1, 0), "amount must be a whole number from 1"),
            (lambda s: locking.withdraw(s, 1, -5), "amount must be a whole number"),
            (lambda s: locking.withdraw(s, 1, bad), "amount must be a whole number"),
            (lambda s: locking.claim_jobs(s, "", 5), "worker must be a name of 1-100"),
            (lambda s: locking.claim_jobs(s, "   ", 5), "worker must be a name"),
            (lambda s: locking.claim_jobs(s, "w" * 101, 5), "worker must be a name"),
            (lambda s: locking.claim_jobs(s, "a\x00b", 5), "worker must be a name"),
            (lambda s: locking.claim_jobs(s, number, 5), "worker must be a name"),
            (lambda s: locking.claim_jobs(s, "w", 0), "limit must be a whole number from 1 to"),
            (lambda s: locking.claim_jobs(s, "w", 1001), "limit must be a whole number"),
            (lambda s: locking.claim_jobs_sqlite(s, "", 5), "worker must be a name"),
            (lambda s: locking.save_edit(s, 0, 1, "T", ""), "document_id must be a whole number"),
            (lambda s: locking.save_edit(s, 1, 0, "T", ""), "expected_version must be a whole"),
            (lambda s: locking.save_edit(s, 1, 1, "", ""), "title must be 1-200 characters"),
            (lambda s: locking.save_edit(s, 1, 1, "T" * 201, ""), "title must be 1-200"),
            (lambda s: locking.save_edit(s, 1, 1, "T", bad.encode()), "body must be a string"),
        ]
        with count_statements(engine) as log:
            for call, message in bad_calls:
                with pytest.raises(ValueError, match=re.escape(message)):
                    async with Session() as session, session.begin():
                        await call(session)
            for row_id, attempts, message in [
                (0, 3, "row_id must be a whole number from 1 to 2147483647, got 0"),
                (2**31, 3, "row_id must be a whole number"),
                (1, 0, "attempts must be a whole number of at least 1, got 0"),
            ]:
                with pytest.raises(ValueError, match=re.escape(message)):
                    await locking.apply_with_retry(Session, Document, row_id, noop, attempts)
            with pytest.raises(ValueError, match="line must be a string without a newline"):
                await locking.append_line(Session, 1, "two\nlines")
            with pytest.raises(ValueError, match="workers must be a whole number from 1 to 1000"):
                await locking.run_workers(Session, noop_process, workers=0)
        assert log.count == 0  # refused before any SQL

        # Ids no row has: a lookup, then a clear error; nothing written.
        with pytest.raises(LookupError, match=r"^no account 2$"):
            async with Session() as session, session.begin():
                await locking.withdraw(session, 2, 10)
        with pytest.raises(LookupError, match=r"^no document 2$"):
            async with Session() as session, session.begin():
                await locking.save_edit(session, 2, 1, "T", "")
        with pytest.raises(LookupError, match=r"^no Document 2$"):
            await locking.apply_with_retry(Session, Document, 2, noop)
        assert await books(engine) == (100, 0)
        assert (await job_table(engine))[0] == {"queued": 3}
        assert await document_rows(engine) == [(1, "Doc 1", "", 1)]


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(120):
        await locking.main(db_url.render_as_string(hide_password=False))
    assert capsys.readouterr().out.splitlines() == [
        "12 withdrawals of 10 from 100: 10 paid, 2 refused, balance 0",
        "20 workers: 200 jobs processed, 200 distinct, 200 done",
        "3 concurrent appends: 3 lines, version 4",
    ]
