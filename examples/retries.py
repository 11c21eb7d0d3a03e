"""Run a transaction again when the database aborted it over a conflict with another one.

Illustrates recognising deadlocks and serialization failures on every driver and SQLAlchemy
line (PostgreSQL SQLSTATE 40001/40P01, MariaDB errors 1213/1205, SQLite "database is locked"),
retrying the whole unit of work in a fresh transaction with jittered backoff, and the atomic
UPDATE that needs no retry at all.

Run: python -m examples.retries
"""

# region: retry
import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_SQLSTATES = {"40001", "40P01"}  # PostgreSQL: serialization_failure, deadlock_detected
RETRY_MYSQL_ERRORS = {1213, 1205}  # MariaDB/MySQL: deadlock, lock wait timeout


def is_retryable(error: DBAPIError) -> bool:
    """True when the database aborted the transaction over a conflict: a rerun may succeed."""
    # .orig is the driver-level error on 2.0 and 2.1 (for asyncpg, SQLAlchemy's adapter, which
    # copies the SQLSTATE); 2.1 also has the driver's own exception as .driver_exception.
    for exc in (error.orig, getattr(error, "driver_exception", None)):
        if getattr(exc, "sqlstate", None) in RETRY_SQLSTATES:  # asyncpg, psycopg
            return True
        args = getattr(exc, "args", ())
        if args and args[0] in RETRY_MYSQL_ERRORS:  # aiomysql, asyncmy: (errno, message)
            return True
        if str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_BUSY"):  # sqlite3
            return True
    return False


async def run_in_transaction(
    Session: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    attempts: int = 5,
) -> T:
    """Run ``work`` in a new session and transaction; rerun it if it lost a conflict.

    ``work`` may run several times: it must only change things through its session.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            async with Session() as session, session.begin():
                return await work(session)
        except DBAPIError as error:
            if attempt == attempts or not is_retryable(error):
                raise
            # Full jitter: the transactions that collided retry at different moments.
            delay = random.uniform(0, 0.05 * 2 ** (attempt - 1))
            log.warning("retry %d/%d in %.3fs: %s", attempt, attempts - 1, delay, error.orig)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last attempt returned or raised")


# endregion: retry


# region: account
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class RetriesBase(DeclarativeBase):
    pass


class Account(RetriesBase):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)


# endregion: account


# region: work
from sqlalchemy import update


async def deposit(session: AsyncSession, account_id: int, amount: int) -> None:
    """Read, then write: two of these at once conflict (or, unprotected, lose an update)."""
    account = await session.get(Account, account_id)
    if account is None:
        raise ValueError(f"no account {account_id}")
    account.balance += amount


async def transfer(session: AsyncSession, source: int, target: int, amount: int) -> None:
    """Locks two rows in the order given: opposite transfers at once can deadlock."""
    for account_id, change in ((source, -amount), (target, amount)):
        await session.execute(
            update(Account).where(Account.id == account_id).values(balance=Account.balance + change)
        )


async def deposit_atomic(session: AsyncSession, account_id: int, amount: int) -> None:
    """One UPDATE computes the new value in the database: no lost update, nothing to retry."""
    await session.execute(
        update(Account).where(Account.id == account_id).values(balance=Account.balance + amount)
    )


# endregion: work


# region: usage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


def serializable_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transactions are SERIALIZABLE: a conflict fails one of them instead of
    silently losing an update (run_in_transaction() then reruns it)."""
    if engine.dialect.name != "sqlite":  # SQLite transactions are always serializable
        engine = engine.execution_options(isolation_level="SERIALIZABLE")
    return async_sessionmaker(engine, expire_on_commit=False)


# endregion: usage


async def main(url: str) -> None:
    from sqlalchemy import select

    from examples.production import make_production_engine

    engine = make_production_engine(url)
    Session = serializable_sessionmaker(engine)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(RetriesBase.metadata.create_all)
        async with Session() as session, session.begin():
            session.add_all([Account(id=1, balance=100), Account(id=2, balance=100)])

        # region: run
        async def deposit_one(session: AsyncSession) -> None:
            await deposit(session, 1, 1)

        async def pay_back(session: AsyncSession) -> None:
            await transfer(session, 2, 1, 10)

        async with asyncio.TaskGroup() as group:
            for _ in range(10):
                group.create_task(run_in_transaction(Session, deposit_one))
            group.create_task(run_in_transaction(Session, pay_back))
        # endregion: run
        async with Session() as session:
            balances = (await session.scalars(select(Account.balance).order_by(Account.id))).all()
        print(f"balances after 10 deposits and a transfer: {list(balances)}")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(RetriesBase.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
