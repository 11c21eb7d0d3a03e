"""Errors behind a transaction-pooling pooler (PgBouncer ``pool_mode = transaction`` without
``max_prepared_statements``, Supabase's pooler on port 6543): a prepared statement that meets
another server connection, two workers whose statement names collide, a statement timeout the
pooler refuses at connect, a session-level SET that another client inherits, and a cached
statement that a migration made stale.

Every ``url`` here points at the pooler, not at PostgreSQL. The ``fixed_*`` functions use
``make_pooler_engine`` (examples/pgbouncer.py). Run ``main`` on a fresh database: the wrong
patterns leave prepared statements on the pooler's server connections, so a later pattern on
the same database may meet them (``already exists``) before its own error.

Run: DATABASE_URL=postgresql+asyncpg://user@pgbouncer-host:6432/db python -m examples.errors.poolers
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from sqlalchemy import String, insert, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.errors import Outcome, capture, pair, report, run_python
from examples.pgbouncer import make_pooler_engine

# psycopg prepares a statement the 6th time a connection runs it (prepare_threshold=5);
# asyncpg (through SQLAlchemy) prepares every statement the first time.
RUNS_UNTIL_PREPARED = 6
QUERY = text("SELECT CAST(:n AS int)")


async def _statement_meets_another_server_connection(engine: AsyncEngine) -> int:
    """Client A prepares a statement; client B's transaction takes that server connection; A's
    next transaction gets another one, where A's statement does not exist.

    The pooler lends its most recently used free server connection first (PgBouncer: LIFO), so
    this order happens on every run; in production, concurrency produces it at random."""
    try:
        async with engine.connect() as client_a, engine.connect() as client_b:
            for number in range(RUNS_UNTIL_PREPARED):
                async with client_a.begin():
                    await client_a.execute(QUERY, {"n": number})
            async with client_b.begin():
                await client_b.execute(text("SELECT 1"))  # B now holds A's server connection
                async with client_a.begin():
                    return int((await client_a.execute(QUERY, {"n": 7})).scalar_one())
    finally:
        await engine.dispose()


async def wrong_statement_cache(url: str) -> int:
    # The default engine: asyncpg/SQLAlchemy cache prepared statements per connection, psycopg
    # prepares a query it has run more than 5 times.
    return await _statement_meets_another_server_connection(create_async_engine(url))


async def fixed_statement_cache(url: str) -> int:
    return await _statement_meets_another_server_connection(make_pooler_engine(url))


_WORKER = """
import asyncio, json, sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from examples.pgbouncer import make_pooler_engine


async def work(url, connect_args):
    if connect_args is None:
        engine = make_pooler_engine(url)
    else:
        engine = create_async_engine(url, connect_args=connect_args)
    query = text("SELECT CAST(:n AS int)")
    total = 0
    try:
        for number in range(6):
            async with engine.begin() as conn:
                total += (await conn.execute(query, {"n": number})).scalar_one()
    finally:
        await engine.dispose()
    return total


try:
    result = {"value": asyncio.run(work(sys.argv[1], json.loads(sys.argv[2])))}
except Exception as exc:
    orig = getattr(exc, "orig", None)  # what a SQLAlchemy error wraps
    result = {
        "error": [type(exc).__module__, type(exc).__qualname__],
        "message": str(exc),
        "cause": [type(orig).__module__, type(orig).__qualname__] if orig is not None else None,
    }
print(json.dumps(result))
"""


def _exception_class(module: str, qualname: str) -> type[BaseException]:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise TypeError(f"{module}.{qualname} is not an exception class")
    return found


async def run_worker(url: str, connect_args: dict[str, Any] | None) -> Outcome:
    """One worker process (a gunicorn/uvicorn worker, or the app after a restart): its own
    engine, six transactions of the same query. ``connect_args=None``: make_pooler_engine."""
    data = await run_python(_WORKER, url, json.dumps(connect_args))
    if "error" in data:
        cause = _exception_class(*data["cause"]) if data["cause"] else None
        return Outcome(error=_exception_class(*data["error"]), message=data["message"], cause=cause)
    return Outcome(value=data["value"])


async def wrong_second_worker(url: str) -> list[Outcome]:
    # Each process names its statements from the same start (asyncpg __asyncpg_stmt_1__,
    # psycopg _pg3_0): the second meets the first one's statements on the server connection.
    return [await run_worker(url, {}), await run_worker(url, {})]


async def fixed_second_worker(url: str) -> list[Outcome]:
    return [await run_worker(url, None), await run_worker(url, None)]


# What users pass to set a timeout at connect, as they would with a direct connection.
STARTUP_TIMEOUT: dict[str, dict[str, Any]] = {
    "asyncpg": {"server_settings": {"statement_timeout": "30000"}},
    "psycopg": {"options": "-c statement_timeout=30000"},
}


async def show_setting(engine: AsyncEngine, name: str) -> str:
    """The value of setting ``name`` in a transaction of a new engine, which is then disposed."""
    if not name.isidentifier():
        raise ValueError(f"not a setting name: {name!r}")
    try:
        async with engine.begin() as conn:
            return str((await conn.execute(text(f"SHOW {name}"))).scalar_one())
    finally:
        await engine.dispose()


async def wrong_startup_statement_timeout(url: str) -> str:
    driver = make_url(url).get_driver_name()
    return await show_setting(
        create_async_engine(url, connect_args=STARTUP_TIMEOUT[driver]), "statement_timeout"
    )


async def fixed_startup_statement_timeout(url: str) -> str:
    # SET LOCAL per transaction (make_pooler_engine's "begin" event).
    return await show_setting(make_pooler_engine(url, statement_timeout=30), "statement_timeout")


async def _other_client_after(url: str, setting: str) -> str:
    """A report job runs ``setting`` in its transaction; then another client (the web app,
    which sets no timeout of its own) runs a half-second statement on the server connection
    the job used. Returns the statement timeout the web app's transaction ran with."""
    job = make_pooler_engine(url, statement_timeout=None)
    web = make_pooler_engine(url, statement_timeout=None)
    try:
        async with job.begin() as conn:
            await conn.execute(text(setting))
        async with web.begin() as conn:
            timeout = str((await conn.execute(text("SHOW statement_timeout"))).scalar_one())
            await conn.execute(text("SELECT pg_sleep(0.5)"))
        return timeout
    finally:
        async with job.begin() as conn:
            # A leaked setting stays on that server connection until someone resets it.
            await conn.execute(text("RESET statement_timeout"))
        await job.dispose()
        await web.dispose()


async def wrong_session_set(url: str) -> str:
    # A session-level SET outlives the transaction: it stays on the server connection.
    return await _other_client_after(url, "SET statement_timeout = 250")


async def fixed_session_set(url: str) -> str:
    # SET LOCAL (or set_config(..., true)) ends with the transaction.
    return await _other_client_after(url, "SET LOCAL statement_timeout = 250")


class PoolerBase(DeclarativeBase):
    pass


class Product(PoolerBase):
    __tablename__ = "err_pooler_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


async def _query_across_migration(app: AsyncEngine, url: str) -> list[str]:
    """The app runs a query; a migration (another process) widens a column; the app runs it
    again on the same server connection."""
    admin = make_pooler_engine(url, statement_timeout=None)  # the migration's own client
    query = select(Product.name).order_by(Product.id)
    try:
        async with admin.begin() as conn:
            await conn.run_sync(PoolerBase.metadata.create_all)
            await conn.execute(insert(Product), [{"id": 1, "name": "lamp"}])
        for _ in range(RUNS_UNTIL_PREPARED):
            async with app.begin() as conn:
                await conn.execute(query)
        async with admin.begin() as conn:
            await conn.execute(
                text("ALTER TABLE err_pooler_products ALTER COLUMN name TYPE varchar(50)")
            )
        async with app.begin() as conn:
            return list((await conn.execute(query)).scalars())
    finally:
        await app.dispose()
        async with admin.begin() as conn:
            await conn.run_sync(PoolerBase.metadata.drop_all)
        await admin.dispose()


async def wrong_cached_statement_after_migration(url: str) -> list[str]:
    return await _query_across_migration(create_async_engine(url), url)


async def fixed_cached_statement_after_migration(url: str) -> list[str]:
    return await _query_across_migration(make_pooler_engine(url), url)


async def main(url: str) -> None:
    if make_url(url).get_backend_name() != "postgresql":
        print(
            "examples.errors.poolers needs PostgreSQL through a transaction pooler: set "
            "DATABASE_URL=postgresql+asyncpg://user@host:6432/db (or postgresql+psycopg://)"
        )
        return
    await pair("statement_cache", wrong_statement_cache(url), fixed_statement_cache(url))
    report("wrong_second_worker", (await wrong_second_worker(url))[1])
    report("fixed_second_worker", (await fixed_second_worker(url))[1])
    await pair(
        "startup_statement_timeout",
        wrong_startup_statement_timeout(url),
        fixed_startup_statement_timeout(url),
    )
    await pair("session_set", wrong_session_set(url), fixed_session_set(url))
    report(
        "wrong_cached_statement_after_migration",
        await capture(wrong_cached_statement_after_migration(url)),
    )
    print(
        "fixed_cached_statement_after_migration: returned",
        await fixed_cached_statement_after_migration(url),
    )


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
