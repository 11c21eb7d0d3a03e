"""In-memory SQLite for tests and demos: which URL and pool give one database, and what breaks.

SQLite keeps a ``:memory:`` database inside one DBAPI connection: a second connection opens a
second, empty database. For ``sqlite+aiosqlite://`` SQLAlchemy (2.0 and 2.1) therefore picks
``StaticPool``: one connection for the whole engine. So everything works until something adds
a connection: ``poolclass=NullPool``/``AsyncAdaptedQueuePool``, a second engine on the same URL,
or ``engine.dispose()``; then the tables are gone ("no such table":
examples/errors/sqlite_memory.py).

* ``memory-engine``: one connection, one database: for tests that run one session at a time.
  Concurrent sessions share that connection and its transaction (tests/test_in_memory_sqlite.py
  shows one session's ROLLBACK discarding another's work).
* ``shared-memory-engine``: SQLite's shared cache: a named in-memory database that several
  connections open, each with its own transaction. It lives while one connection to it is open.

For tests that run sessions concurrently, use a SQLite file in a temp dir (references/testing.md).

Run: python -m examples.in_memory_sqlite
"""

# region: memory-engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def make_memory_engine() -> AsyncEngine:
    """One in-memory database for the life of this engine: every session gets its connection."""
    # StaticPool (one connection, reused) is already the default for this URL; stating it keeps
    # it if pool arguments are added. aiosqlite needs no check_same_thread=False.
    return create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)


# endregion: memory-engine


# region: shared-memory-engine
import re

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


def make_shared_memory_engine(name: str) -> AsyncEngine:
    """A named in-memory database that every connection of this engine (and of any engine of
    this process using the same name) opens, each connection with its own transaction."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
        raise ValueError("name: 1-64 letters, digits or underscores")
    url = f"sqlite+aiosqlite:///file:{name}?mode=memory&cache=shared&uri=true"
    # Name the pool: with mode=memory SQLAlchemy would pick StaticPool (one connection), and
    # 2.1 warns that this choice is deprecated.
    return create_async_engine(url, poolclass=AsyncAdaptedQueuePool)


# endregion: shared-memory-engine


async def main(url: str) -> None:
    """Demo on in-memory databases; ``url`` is unused (the point is that there is no file)."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from examples.models import Base, User  # SKILL.md's models

    # region: usage
    engine = make_memory_engine()
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session() as session, session.begin():
        session.add(User(email="ada@example.com", name="Ada"))
    async with Session() as session:  # the same connection, so the same database
        print("memory engine:", await session.scalar(select(func.count()).select_from(User)))
    await engine.dispose()  # closes the one connection: that database is gone

    shared = make_shared_memory_engine("demo")
    SharedSession = async_sessionmaker(shared, expire_on_commit=False)
    async with shared.connect() as keepalive:  # the database lives while one connection is open
        async with shared.begin() as conn:  # a second connection to the same database
            await conn.run_sync(Base.metadata.create_all)
        async with SharedSession() as session, session.begin():
            session.add(User(email="grace@example.com", name="Grace"))
        users = await keepalive.scalar(select(func.count()).select_from(User))
        print("shared cache, read on the other connection:", users)
    await shared.dispose()  # no connection left open: that database is gone too
    # endregion: usage


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
