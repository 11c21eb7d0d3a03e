"""Locking and concurrency control: two transactions that read, then write, the same rows.

Illustrates a pessimistic lock (``select(...).with_for_update()``) for a read-modify-write that
checks a rule in Python, a job queue whose workers claim jobs with
``with_for_update(skip_locked=True)`` so each job is claimed exactly once, what SQLite does
instead (no row locks: one writer at a time, or one atomic ``UPDATE ... RETURNING``), and
optimistic concurrency with ``version_id_col``: a stale write raises ``StaleDataError``, a
person's edit becomes a conflict to show, a mechanical change is reloaded and reapplied.

Run: python -m examples.locking
"""

# region: models
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class LockingBase(DeclarativeBase):
    pass


class Account(LockingBase):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    entries: Mapped[list["LedgerEntry"]] = relationship(lazy="raise", order_by="LedgerEntry.id")


class LedgerEntry(LockingBase):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int]


class Job(LockingBase):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    payload: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # running, done
    claimed_by: Mapped[str | None] = mapped_column(String(100))


class Document(LockingBase):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column()
    # The ORM sets version = 1 on INSERT, adds "AND version = <the loaded one>" to every UPDATE
    # and DELETE of this row, and increments it: a write based on a stale read matches 0 rows
    # and raises StaleDataError instead of overwriting the other transaction's change.
    __mapper_args__ = {"version_id_col": version}


# endregion: models


# region: withdraw
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_INT = 2**31 - 1  # INTEGER columns: PostgreSQL rejects a larger parameter outright


def positive_int(value: int, name: str, maximum: int = MAX_INT) -> int:
    """``value`` if it is a whole number from 1 to ``maximum``; else a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum}, got {value!r}")
    return value


class InsufficientFunds(Exception):
    """The account cannot pay the amount; nothing was written."""


async def withdraw(session: AsyncSession, account_id: int, amount: int) -> int:
    """Take ``amount`` from the account if its balance covers it; return the new balance.

    Run it inside ``async with Session() as session, session.begin():``. The row stays locked
    until that block commits, so concurrent withdrawals from one account run one at a time,
    each seeing the balance the previous one left.
    """
    positive_int(account_id, "account_id")
    positive_int(amount, "amount")
    account = await session.scalar(
        select(Account)
        .where(Account.id == account_id)
        # SELECT ... FOR UPDATE: another transaction's FOR UPDATE (or UPDATE) of this row waits
        # for our COMMIT. (SQLite renders nothing here: see "SQLite" in references/locking.md.)
        .with_for_update()
        # An Account already loaded in this session would otherwise keep its old balance: the
        # locked row's values must replace it.
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise LookupError(f"no account {account_id}")
    if account.balance < amount:
        raise InsufficientFunds(f"account {account_id} has {account.balance}, needs {amount}")
    account.balance -= amount
    session.add(LedgerEntry(account_id=account_id, amount=-amount))
    return account.balance


async def pay(Session: async_sessionmaker[AsyncSession], account_id: int, amount: int) -> int:
    """One withdrawal in a transaction of its own: the lock is released when it commits."""
    async with Session() as session, session.begin():
        return await withdraw(session, account_id, amount)


# endregion: withdraw


# region: claim
import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def worker_name(worker: str) -> str:
    if not isinstance(worker, str) or not 1 <= len(worker.strip()) <= 100 or "\x00" in worker:
        raise ValueError(f"worker must be a name of 1-100 characters, got {worker!r}")
    return worker.strip()


async def claim_jobs(session: AsyncSession, worker: str, limit: int) -> list[Job]:
    """Mark up to ``limit`` queued jobs as running for ``worker``; the caller's block commits.

    SKIP LOCKED: rows another worker's open transaction has locked are skipped, not waited
    for, so concurrent workers each get different jobs at once (PostgreSQL, MariaDB 10.6+).
    """
    worker = worker_name(worker)
    positive_int(limit, "limit", maximum=1000)
    jobs = (
        await session.scalars(
            select(Job)
            .where(Job.status == "queued")
            .order_by(Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for job in jobs:
        job.status = "running"
        job.claimed_by = worker
    return list(jobs)  # the UPDATE is flushed, and the locks released, when the block commits


Claim = Callable[[AsyncSession, str, int], Awaitable[list[Job]]]


async def run_worker(
    Session: async_sessionmaker[AsyncSession],
    worker: str,
    process: Callable[[list[Job]], Awaitable[None]],
    batch: int = 10,
    claim: Claim = claim_jobs,
) -> int:
    """Claim a batch, process it, mark it done; repeat until no job is queued. Returns the
    number of jobs this worker did."""
    done = 0
    while True:
        async with Session() as session, session.begin():  # short: holds locks only to claim
            jobs = await claim(session, worker, batch)
        if not jobs:
            return done
        await process(jobs)  # no transaction open: nothing stays locked while the work runs
        async with Session() as session, session.begin():
            await finish_jobs(session, jobs)
        done += len(jobs)


async def finish_jobs(session: AsyncSession, jobs: list[Job]) -> None:
    await session.execute(
        update(Job).where(Job.id.in_([job.id for job in jobs])).values(status="done")
    )


async def run_workers(
    Session: async_sessionmaker[AsyncSession],
    process: Callable[[list[Job]], Awaitable[None]],
    workers: int = 20,
    batch: int = 10,
) -> int:
    """``workers`` concurrent run_worker()s until the queue is empty; returns the jobs done.
    Give the engine a connection per worker (pool_size) or they queue for the pool."""
    positive_int(workers, "workers", maximum=1000)
    done = await asyncio.gather(
        *(run_worker(Session, f"worker-{n}", process, batch) for n in range(workers))
    )
    return sum(done)


# endregion: claim


# region: claim-sqlite
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession


async def claim_jobs_sqlite(session: AsyncSession, worker: str, limit: int) -> list[Job]:
    """claim_jobs for SQLite on any engine, in one statement.

    SQLite has no row locks and no SKIP LOCKED. One UPDATE holds the database's write lock
    from its first read to its last write, so two claims cannot pick the same rows.
    """
    worker = worker_name(worker)
    positive_int(limit, "limit", maximum=1000)
    next_queued = select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(limit)
    claimed = await session.scalars(
        update(Job)
        .where(Job.id.in_(next_queued))
        .values(status="running", claimed_by=worker)
        .returning(Job)  # UPDATE ... RETURNING: SQLite 3.35+
    )
    return list(claimed)


# endregion: claim-sqlite


# region: versioned
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError


class EditConflict(Exception):
    """The document changed after the person loaded it: show them the new version."""


async def save_edit(
    session: AsyncSession, document_id: int, expected_version: int, title: str, body: str
) -> Document:
    """Save a person's edit of version ``expected_version`` (sent back by the form, or an
    If-Match header); raise EditConflict rather than overwrite someone else's save."""
    positive_int(document_id, "document_id")
    positive_int(expected_version, "expected_version")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
        raise ValueError("title must be 1-200 characters")
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    document = await session.get(Document, document_id)
    if document is None:
        raise LookupError(f"no document {document_id}")
    if document.version != expected_version:  # saved by someone else since they loaded it
        raise EditConflict(f"document {document_id} is at version {document.version}")
    document.title, document.body = title.strip(), body
    try:
        await session.flush()  # UPDATE ... WHERE id = ? AND version = ?
    except StaleDataError as error:  # someone saved between our SELECT and our UPDATE
        raise EditConflict(f"document {document_id} was saved by someone else") from error
    return document


# endregion: versioned


# region: retry-stale
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

T = TypeVar("T")
log = logging.getLogger(__name__)


async def apply_with_retry(
    Session: async_sessionmaker[AsyncSession],
    model: type[T],
    row_id: int,
    change: Callable[[AsyncSession, T], Awaitable[None]],
    attempts: int = 3,
) -> T:
    """Load the row, ``await change(session, row)``, commit. If another transaction saved the
    row after we loaded it (StaleDataError, from the model's version_id_col), load it again and
    reapply. For changes valid on any version (append a line, delete it), never for a person's
    edit of what they saw: that is a conflict to show them."""
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 1 <= row_id <= 2**31 - 1:
        raise ValueError(f"row_id must be a whole number from 1 to 2147483647, got {row_id!r}")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be a whole number of at least 1, got {attempts!r}")
    for attempt in range(1, attempts + 1):
        try:
            async with Session() as session, session.begin():
                row = await session.get(model, row_id)
                if row is None:
                    raise LookupError(f"no {model.__name__} {row_id}")
                await change(session, row)
            return row  # committed: the UPDATE/DELETE matched the version we loaded
        except StaleDataError:
            if attempt == attempts:
                raise
            log.warning("%s %d changed meanwhile; retry %d", model.__name__, row_id, attempt)
    raise AssertionError("unreachable: the last attempt returned or raised")


# endregion: retry-stale


# region: append-line
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def append_line(
    Session: async_sessionmaker[AsyncSession], document_id: int, line: str
) -> Document:
    """Append a line to the newest version of the document, whatever was saved meanwhile."""
    if not isinstance(line, str) or "\n" in line:
        raise ValueError("line must be a string without a newline")

    async def append(session: AsyncSession, document: Document) -> None:
        document.body += line + "\n"

    return await apply_with_retry(Session, Document, document_id, append)


# endregion: append-line


async def demonstrate(Session: async_sessionmaker[AsyncSession]) -> None:
    import asyncio

    from sqlalchemy import func

    async with Session() as session, session.begin():
        session.add(Account(id=1, balance=100))
        session.add_all(Job(payload=f"job {n}") for n in range(1, 201))
        session.add(Document(id=1, title="Notes", body=""))

    async def pay_10() -> int | None:
        try:
            return await pay(Session, 1, 10)
        except InsufficientFunds:
            return None

    results = await asyncio.gather(*(pay_10() for _ in range(12)))
    async with Session() as session:
        balance = await session.scalar(select(Account.balance).where(Account.id == 1))
    paid = sum(1 for r in results if r is not None)
    print(f"12 withdrawals of 10 from 100: {paid} paid, {12 - paid} refused, balance {balance}")

    seen: list[int] = []

    async def process(jobs: list[Job]) -> None:
        seen.extend(job.id for job in jobs)

    await run_workers(Session, process, workers=20, batch=5)
    async with Session() as session:
        done = await session.scalar(select(func.count()).where(Job.status == "done"))
    print(f"20 workers: {len(seen)} jobs processed, {len(set(seen))} distinct, {done} done")

    # Each StaleDataError means another writer committed: 3 writers need at most 3 attempts.
    await asyncio.gather(*(append_line(Session, 1, f"line {n}") for n in range(3)))
    async with Session() as session:
        document = await session.get_one(Document, 1)
    print(f"3 concurrent appends: {document.body.count('line')} lines, version {document.version}")


async def main(url: str) -> None:
    from sqlalchemy import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from examples.production import make_production_engine

    # pool_size=20: every worker below holds a connection at once.
    if make_url(url).get_backend_name() == "sqlite":
        # BEGIN IMMEDIATE: one transaction at a time, so a read cannot go stale before the write.
        engine = make_production_engine(url, pool_size=20)
    else:
        engine = create_async_engine(url, pool_size=20, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(LockingBase.metadata.create_all)
        await demonstrate(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(LockingBase.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
