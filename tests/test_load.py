"""Load on a bounded pool, on every lane: hundreds of tasks on ten connections, each with its
own session; the semaphore that keeps tasks off the pool's queue; the pool-exhausted error
(examples/production.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import URL, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples.crud import create_user
from examples.models import Base, User
from examples.production import make_production_engine, run_concurrently
from tests.conftest import Lane

TASKS = 200
BACKEND_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
LINE = "21" if sqlalchemy.__version__.startswith("2.1") else "20"


@contextlib.asynccontextmanager
async def pool_of_10(db_url: URL, **kwargs: Any) -> AsyncIterator[AsyncEngine]:
    engine = make_production_engine(db_url, pool_size=10, max_overflow=0, **kwargs)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


async def add_user_and_count(session: AsyncSession, n: int, lane: Lane) -> tuple[int | None, int]:
    """One task's work: insert a row, commit, read the total; report which connection it used."""
    await create_user(session, f"user{n}@example.com", f"User {n}")
    await session.commit()
    total = await session.scalar(select(func.count()).select_from(User))
    conn_id = None
    if lane.backend in BACKEND_ID:
        conn_id = await session.scalar(text(BACKEND_ID[lane.backend]))
    return conn_id, int(total or 0)


async def test_200_tasks_share_10_connections_without_errors(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(60), pool_of_10(db_url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)

        async def task(n: int) -> tuple[int | None, int]:
            async with Session() as session:  # its own session: never shared between tasks
                return await add_user_and_count(session, n, lane)

        # No semaphore: tasks beyond the 10th wait in the pool's queue (up to pool_timeout).
        results = await asyncio.gather(*(task(n) for n in range(TASKS)))

        totals = [total for _, total in results]
        assert all(1 <= total <= TASKS for total in totals)
        assert max(totals) == TASKS  # the last commit was followed by a read that saw it
        async with Session() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == TASKS
        if lane.backend in BACKEND_ID:
            assert len({conn_id for conn_id, _ in results}) <= 10  # never more than the pool
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert engine.pool.size() == 10  # type: ignore[attr-defined]


async def test_semaphore_keeps_tasks_from_waiting_on_the_pool(db_url: URL, lane: Lane) -> None:
    # pool_timeout=0.05: any task that queued for a connection would fail within 50 ms.
    async with asyncio.timeout(60), pool_of_10(db_url, pool_timeout=0.05) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)

        async def add(session: AsyncSession, n: int) -> int:
            user = await create_user(session, f"user{n}@example.com", f"User {n}")
            await asyncio.sleep(0.01)  # hold the connection, as a slower request would
            return user.id

        async def unbounded(n: int) -> int:
            async with Session() as session, session.begin():
                return await add(session, n)

        # Wrong: all 200 at once. Tasks queue for a connection, and those that wait longer
        # than pool_timeout fail.
        results = await asyncio.gather(
            *(unbounded(n) for n in range(TASKS)), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        assert failed
        assert all(isinstance(r, sqlalchemy.exc.TimeoutError) for r in failed)
        async with engine.begin() as conn:
            await conn.execute(sqlalchemy.delete(User))

        # Right: at most 10 at a time, so a connection is always free.
        ids = await run_concurrently(Session, add, range(TASKS), limit=10)
        assert len(set(ids)) == TASKS
        async with Session() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == TASKS
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_exhausted_pool_raises_timeout_error(db_url: URL, lane: Lane) -> None:
    async with (
        asyncio.timeout(30),
        pool_of_10(db_url, pool_timeout=0.2) as engine,
        contextlib.AsyncExitStack() as held,
    ):
        for _ in range(10):  # ten tasks each holding a connection, e.g. stuck on a slow call
            await held.enter_async_context(engine.connect())
        with pytest.raises(sqlalchemy.exc.TimeoutError) as caught:
            async with engine.connect():
                pass
        assert str(caught.value) == (
            "QueuePool limit of size 10 overflow 0 reached, connection timed out, timeout 0.20 "
            f"(Background on this error at: https://sqlalche.me/e/{LINE}/3o7r)"
        )
        await held.aclose()  # connections back: the pool serves again
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1


async def test_one_failing_task_does_not_cancel_the_others(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(60), pool_of_10(db_url) as engine:
        Session = async_sessionmaker(engine, expire_on_commit=False)

        async def add(session: AsyncSession, n: int) -> int:
            # Task 13 sends an invalid name: ValueError before its INSERT.
            user = await create_user(session, f"user{n}@example.com", "" if n == 13 else "ok")
            return user.id

        with pytest.raises(ExceptionGroup) as caught:
            await run_concurrently(Session, add, range(50), limit=10)
        assert str(caught.value) == "1 of 50 tasks failed (1 sub-exception)"
        assert [str(e) for e in caught.value.exceptions] == ["name must be 1-100 characters"]
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with Session() as session:  # every other task ran to its commit
            assert await session.scalar(select(func.count()).select_from(User)) == 49


async def test_run_concurrently_rejects_a_bad_limit(db_url: URL) -> None:
    async with pool_of_10(db_url) as engine:
        Session = async_sessionmaker(engine)

        async def noop(session: AsyncSession, n: int) -> int:
            return n

        with pytest.raises(ValueError, match="limit must be at least 1"):
            await run_concurrently(Session, noop, range(3), limit=0)


async def test_a_process_holds_at_most_pool_size_plus_max_overflow(db_url: URL, lane: Lane) -> None:
    """The per-process ceiling (times the processes, it must stay under the server's
    max_connections), and where each server states max_connections and its default."""
    engine = make_production_engine(db_url, pool_size=2, max_overflow=3, pool_timeout=0.2)
    try:
        async with asyncio.timeout(30), contextlib.AsyncExitStack() as held:
            conns = [await held.enter_async_context(engine.connect()) for _ in range(5)]
            if lane.backend in BACKEND_ID:  # five connections on the server
                ids = {await conn.scalar(text(BACKEND_ID[lane.backend])) for conn in conns}
                assert len(ids) == 5
            with pytest.raises(sqlalchemy.exc.TimeoutError) as caught:
                async with engine.connect():
                    pass
            assert str(caught.value).startswith("QueuePool limit of size 2 overflow 3 reached")
            server_limit = {
                "postgresql": (
                    "SHOW max_connections",
                    "SELECT boot_val FROM pg_settings WHERE name = 'max_connections'",
                    "100",
                ),
                "mysql": (
                    "SELECT @@max_connections",
                    "SELECT default_value FROM information_schema.system_variables "
                    "WHERE variable_name = 'MAX_CONNECTIONS'",
                    "151",
                ),
            }
            if lane.backend in server_limit:
                current, default, expected_default = server_limit[lane.backend]
                assert int(await conns[0].scalar(text(current)) or 0) > 5
                assert await conns[0].scalar(text(default)) == expected_default
    finally:
        await engine.dispose()
