"""Set up async SQLAlchemy: engine, session factory, tables, shutdown.

Run: python -m examples.quickstart   (SQLite; set DATABASE_URL for another database)
"""

from examples.models import Base, User  # the models SKILL.md shows

# isort: split
# region: setup
from typing import Any

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(url: str | URL) -> AsyncEngine:
    # pool_pre_ping: a connection the server dropped is replaced at checkout, not failed.
    engine = create_async_engine(url, pool_pre_ping=True)
    set_connection_defaults(engine)
    return engine


def set_connection_defaults(engine: AsyncEngine) -> None:
    """Settings every new connection needs, where the database's own default is wrong."""
    backend = engine.dialect.name  # "mariadb" for mariadb:// URLs

    # Events go on the sync engine; the listener is sync code (the driver call is adapted).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if backend == "sqlite":
            # Off by default on every connection: foreign keys and ON DELETE CASCADE
            # would be silently ignored.
            cursor.execute("PRAGMA foreign_keys = ON")
        elif backend in ("mysql", "mariadb"):
            # NOW() and DATETIME follow the session time zone, which is the server's: pin UTC.
            cursor.execute("SET time_zone = '+00:00'")
        cursor.close()


# endregion: setup


async def create_tables(engine: AsyncEngine) -> None:
    # metadata.create_all is sync code; run_sync runs it on the async connection.
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


# region: lifecycle
async def main(url: str) -> None:
    engine = make_engine(url)  # one engine per process, made at startup
    # expire_on_commit=False: after commit, attributes stay readable. With the default (True),
    # reading user.name after commit would need a refresh, i.e. IO, which raises MissingGreenlet.
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with Session() as session, session.begin():  # COMMIT at the end, or ROLLBACK
            user = User(email="ada@example.com", name="Ada")
            session.add(user)
        print(f"created user {user.id}: {user.name}")  # still loaded: no IO after commit
    finally:
        # At shutdown, in the event loop that used the engine: close the pooled connections.
        await engine.dispose()
# endregion: lifecycle


async def demo(url: str) -> None:
    """main() on the examples' tables, made first and dropped afterwards (an application's
    schema comes from its migrations: references/alembic.md)."""
    engine = make_engine(url)
    await create_tables(engine)
    try:
        await main(url)
    finally:
        await drop_tables(engine)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(demo)
