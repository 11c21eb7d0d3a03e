"""Set up async SQLAlchemy: engine, session factory, tables, shutdown.

Run: python -m examples.quickstart   (SQLite; set DATABASE_URL for another database)
"""

# region: setup
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from examples.models import Base, User


def make_engine(url: str) -> AsyncEngine:
    # pool_pre_ping: a connection the server dropped is replaced at checkout, not failed.
    return create_async_engine(url, pool_pre_ping=True)


async def create_tables(engine: AsyncEngine) -> None:
    # metadata.create_all is sync code; run_sync runs it on the async connection.
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
# endregion: setup


# region: lifecycle
async def main(url: str) -> None:
    engine = make_engine(url)
    # expire_on_commit=False: after commit, attributes stay readable. With the default (True),
    # reading user.name after commit would need a refresh, i.e. IO, which raises MissingGreenlet.
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        await create_tables(engine)
        async with Session() as session:
            user = User(email="ada@example.com", name="Ada")
            session.add(user)
            await session.commit()
        print(f"created user {user.id}: {user.name}")  # still loaded: no IO after commit
    finally:
        await drop_tables(engine)
        # dispose() closes pooled connections; without it asyncpg/aiomysql may complain
        # about connections garbage-collected after the event loop closed.
        await engine.dispose()
# endregion: lifecycle


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
