"""Errors from drivers and URLs: a sync driver in an async engine, the ``postgres://`` scheme,
greenlet not installed (SQLAlchemy 2.1), and a pooled connection the server has dropped.

Run: python -m examples.errors.drivers
"""

# Each region carries its own imports so that it can be copied alone.

import asyncio

from sqlalchemy import NullPool, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from examples.errors import Outcome, capture, capture_call, report, run_python


def wrong_sync_driver_url(url: str) -> AsyncEngine:
    # "postgresql://...", "mysql://...", "sqlite:///...": no driver named, so the dialect's
    # default driver loads, and it is a sync one (or not installed at all).
    plain = make_url(url).set(drivername=make_url(url).get_backend_name())
    return create_async_engine(plain)


def wrong_postgres_scheme(url: str) -> AsyncEngine:
    # Heroku, Render, Fly and others hand out DATABASE_URL as "postgres://...".
    return create_async_engine(url)


# region: fix-database-url
from sqlalchemy import URL, make_url

# The async driver for URLs that name none (or a sync one); "mariadb" is its own dialect name.
ASYNC_DRIVERS = {
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
    "sqlite": "aiosqlite",
}
ASYNC_CAPABLE = {"asyncpg", "psycopg", "aiomysql", "asyncmy", "aiosqlite"}


def async_url(raw: str) -> URL:
    """DATABASE_URL as given (postgres://, postgresql://, mysql://...) -> an async driver URL.

    An async driver the URL already names (postgresql+psycopg://) is kept."""
    url = make_url(raw)
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":  # the old scheme name: SQLAlchemy only knows "postgresql"
        backend = "postgresql"
    if backend not in ASYNC_DRIVERS:
        raise ValueError(f"no async driver configured for {backend!r} URLs")
    if driver not in ASYNC_CAPABLE:
        driver = ASYNC_DRIVERS[backend]
    return url.set(drivername=f"{backend}+{driver}")


# endregion: fix-database-url


async def ping(engine: AsyncEngine) -> int:
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())
    finally:
        await engine.dispose()


_CHILD = """
import sys
if sys.argv[2] == "block":
    class _NoGreenlet:  # as if greenlet were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "greenlet" or name.startswith("greenlet."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, _NoGreenlet())
import asyncio, json

def connect(url):
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine  # 2.1 fails here

    async def ping():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:  # 2.0 fails here
                return (await conn.execute(text("SELECT 1"))).scalar_one()
        finally:
            await engine.dispose()
    return asyncio.run(ping())

try:
    result = {"error": "no error", "message": "", "value": connect(sys.argv[1])}
except Exception as exc:
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    result = {"error": name, "message": str(exc), "value": None}
print(json.dumps(result))
"""


async def _child(url: str, mode: str) -> Outcome:
    data = await run_python(_CHILD, url, mode)
    errors: dict[str, type[Exception]] = {
        "builtins.ImportError": ImportError,
        "builtins.ValueError": ValueError,
    }
    if data["error"] != "no error" and data["error"] not in errors:
        raise AssertionError(f"unexpected outcome: {data}")
    return Outcome(error=errors.get(data["error"]), message=data["message"], value=data["value"])


async def wrong_without_greenlet(url: str) -> Outcome:
    """Connect in an interpreter where greenlet cannot be imported (``pip install sqlalchemy``
    on 2.1, or a platform without a greenlet wheel)."""
    return await _child(url, "block")


async def fixed_with_greenlet(url: str) -> Outcome:
    """The same code with greenlet importable (``pip install "sqlalchemy[asyncio]"``)."""
    return await _child(url, "allow")


# Keyed by dialect name: a mariadb+aiomysql:// URL's dialect is "mariadb", not "mysql".
BACKEND_ID = {
    "postgresql": "SELECT pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
    "mariadb": "SELECT CONNECTION_ID()",
}
KILL = {
    "postgresql": "SELECT pg_terminate_backend(:id)",
    "mysql": "KILL :id",
    "mariadb": "KILL :id",
}


async def drop_pooled_connection(engine: AsyncEngine) -> None:
    """Leave one connection in the pool, then have the server end it (a restart, a failover,
    an idle timeout, a proxy). SQLite has no server: nothing happens there."""
    if engine.dialect.name not in BACKEND_ID:
        return
    async with engine.connect() as conn:
        backend_id = (await conn.execute(text(BACKEND_ID[engine.dialect.name]))).scalar_one()
    admin = create_async_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(KILL[engine.dialect.name]), {"id": backend_id})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # let the client side notice the closed socket


async def wrong_no_pre_ping(url: str) -> int:
    engine = create_async_engine(url)
    await drop_pooled_connection(engine)
    return await ping(engine)  # checks out the dead connection and fails on first use


# region: fix-pre-ping
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_pinging_engine(url: str) -> AsyncEngine:
    # Test each connection at checkout; a dead one is replaced before your query uses it.
    return create_async_engine(url, pool_pre_ping=True)


# endregion: fix-pre-ping


async def fixed_pre_ping(url: str) -> int:
    engine = make_pinging_engine(url)
    await drop_pooled_connection(engine)
    return await ping(engine)


async def main(url: str) -> None:
    outcome = capture_call(wrong_sync_driver_url, url)
    report("wrong_sync_driver_url", outcome)
    bare = make_url(url).set(drivername=make_url(url).get_backend_name())
    print("fixed (async_url):", await ping(create_async_engine(async_url(str(bare)))))
    heroku_style = "postgres://scott:tiger@db.example.com:5432/app"
    report("wrong_postgres_scheme", capture_call(wrong_postgres_scheme, heroku_style))
    fixed = async_url(heroku_style).render_as_string(hide_password=False)
    print("fixed (async_url):", fixed)
    report("wrong_without_greenlet", await wrong_without_greenlet(url))
    report("fixed_with_greenlet", await fixed_with_greenlet(url))
    report("wrong_no_pre_ping", await capture(wrong_no_pre_ping(url)))
    print("fixed_pre_ping:", await fixed_pre_ping(url))


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
