"""An engine for PostgreSQL behind a transaction-pooling pooler: PgBouncer with
``pool_mode = transaction``, Supabase's pooler on port 6543, other managed poolers.

Such a pooler lends a server connection to a client for one transaction, then to another client.
What a driver leaves in the server session stays with that server connection, not with the client:

* prepared statements: the client's next transaction may run where its statement does not exist,
  or where another client already prepared one of the same name;
* startup settings (asyncpg ``server_settings``, libpq ``options``) are refused at connect;
* a session-level ``SET``, ``LISTEN`` or advisory lock applies to whichever client gets that
  server connection next.

``make_pooler_engine`` turns statement preparation off in each driver and sets the statement
timeout per transaction. ``set_database_statement_timeout`` is the alternative that costs no
statement per transaction; ``try_lock_for_transaction`` is the advisory lock that works here.

Run: DATABASE_URL=postgresql+asyncpg://user@pgbouncer-host:6432/db python -m examples.pgbouncer
"""

# region: pooler-connect-args
from typing import Any

# Behind a transaction pooler no prepared statement may outlive its transaction: the next one may
# run on another server connection, and the names a driver picks collide between clients.
POOLER_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    "asyncpg": {
        "statement_cache_size": 0,  # asyncpg >= 0.31: unnamed statements only
        "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg layer: reuse none
    },
    "psycopg": {"prepare_threshold": None},  # psycopg 3: never prepare
}
# endregion: pooler-connect-args


# region: set-local-timeout
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine


def set_local_statement_timeout(engine: AsyncEngine, seconds: float) -> None:
    """Start every transaction with its own statement timeout, which ends with it.

    A pooler refuses the timeout as a startup setting, and a session-level SET would stay on the
    server connection for whichever client gets it next."""
    if seconds <= 0:
        raise ValueError("statement timeout must be > 0 seconds")
    milliseconds = str(round(seconds * 1000))

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        # set_config(name, value, is_local=true) is SET LOCAL with a bound value.
        conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": milliseconds}
        )


# endregion: set-local-timeout


# region: pooler-engine
from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_pooler_engine(
    url: str | URL,
    *,
    statement_timeout: float | None = 30.0,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
) -> AsyncEngine:
    """PostgreSQL through a transaction-pooling pooler, on asyncpg or psycopg.

    ``statement_timeout=None``: the database's or role's default applies (ALTER ... SET)."""
    url = make_url(url)
    driver = url.get_driver_name()
    if url.get_backend_name() != "postgresql" or driver not in POOLER_CONNECT_ARGS:
        raise ValueError(
            f"need a postgresql+asyncpg:// or postgresql+psycopg:// URL, not {url.drivername}://"
        )
    if pool_size < 1 or max_overflow < 0 or pool_timeout <= 0:
        raise ValueError("need pool_size >= 1, max_overflow >= 0, pool_timeout > 0")
    if statement_timeout is not None and statement_timeout <= 0:
        raise ValueError("statement_timeout must be > 0 seconds, or None")
    engine = create_async_engine(
        url,
        # A pool in the app is fine: between transactions its connections hold no server state.
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=dict(POOLER_CONNECT_ARGS[driver]),
    )
    if statement_timeout is not None:
        set_local_statement_timeout(engine, statement_timeout)
    return engine


# endregion: pooler-engine


# region: database-timeout
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def set_database_statement_timeout(conn: AsyncConnection, seconds: float) -> None:
    """Make ``seconds`` the statement timeout of every new session on this database.

    Run it once (a migration), not per connection. Sessions the pooler already holds keep
    their old value until it replaces them."""
    if seconds <= 0:
        raise ValueError("statement timeout must be > 0 seconds")
    database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
    name = conn.dialect.identifier_preparer.quote(database)
    # ALTER ... SET takes no bound parameters: the value is a validated number.
    milliseconds = round(seconds * 1000)
    await conn.execute(text(f"ALTER DATABASE {name} SET statement_timeout = {milliseconds}"))


# endregion: database-timeout


# region: advisory-xact-lock
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

BIGINT = range(-(2**63), 2**63)


async def try_lock_for_transaction(session: AsyncSession, key: int) -> bool:
    """Take advisory lock ``key`` until this transaction ends; False if another holds it.

    Not pg_advisory_lock(): a session-level lock stays on the server connection, and the next
    client that gets that connection holds it too."""
    if key not in BIGINT:
        raise ValueError("an advisory lock key is a 64-bit integer")
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))


# endregion: advisory-xact-lock


import asyncio


async def main(url: str) -> None:
    if make_url(url).get_backend_name() != "postgresql":
        print(
            "examples.pgbouncer needs PostgreSQL through a transaction pooler: set "
            "DATABASE_URL=postgresql+asyncpg://user@host:6432/db (or postgresql+psycopg://)"
        )
        return
    engine = make_pooler_engine(url, statement_timeout=5)

    async def one_task(number: int) -> int:
        # One connection per task; each transaction may run on another server connection.
        async with engine.begin() as conn:
            return int(await conn.scalar(text("SELECT CAST(:n AS int)"), {"n": number}))

    try:
        results = await asyncio.gather(*(one_task(n) for n in range(50)))
        async with engine.begin() as conn:
            timeout = await conn.scalar(text("SHOW statement_timeout"))
        print(f"50 concurrent transactions through the pooler: {len(results)} succeeded")
        print(f"statement_timeout inside each transaction: {timeout}")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
