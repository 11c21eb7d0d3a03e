"""Testing async SQLAlchemy code with pytest-asyncio 1.x: one engine per run, one rolled-back
transaction per test, factories for test data, several databases.

The pieces, each a region that references/testing.md shows:

* ``make_test_engine``: an engine whose SQLite connections honour BEGIN and SAVEPOINT, so the
  rollback below undoes everything there too (pysqlite/aiosqlite otherwise commit behind it);
* ``rollback_session``: a session joined to an outer transaction on one connection; the code
  under test may call ``commit()`` (it releases a savepoint) and the outer rollback undoes it all;
* ``make_user``/``make_post``: factories with valid defaults that a test overrides field by field;
* ``fixtures``: the conftest.py that wires them to pytest, one run per database URL;
* ``example_tests``: two tests using them (tests/test_testing_recipe.py runs them with that
  conftest.py in a pytest of their own).

This project's own tests/conftest.py uses ``make_test_engine`` and ``rollback_session``.

Run: python -m examples.testing_recipe
"""

from examples.quickstart import set_connection_defaults  # shown in SKILL.md

# isort: split
# region: test_engine
from sqlalchemy import URL, Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_test_engine(url: str | URL) -> AsyncEngine:
    engine = create_async_engine(url)
    set_connection_defaults(engine)  # the same per-connection settings as production
    if engine.dialect.name == "sqlite":
        # The sqlite3 driver starts transactions lazily (only before INSERT/UPDATE/DELETE) and a
        # SAVEPOINT outside one becomes a transaction of its own: a test's commit() would really
        # commit. Take transaction control away from the driver and emit BEGIN ourselves.
        @event.listens_for(engine.sync_engine, "connect")
        def _no_driver_transactions(dbapi_connection: object, record: object) -> None:
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


# endregion: test_engine


# region: rollback_session
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession


@contextlib.asynccontextmanager
async def rollback_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work, its own commits included, is undone when the block ends."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        # create_savepoint: the session's commit()/rollback() act on a SAVEPOINT inside `outer`,
        # so code under test can commit (and roll back) as it does in production.
        session = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


# endregion: rollback_session


# region: factories
import itertools
from typing import Any

from examples.models import Post, User

_sequence = itertools.count(1)


async def make_user(session: AsyncSession, **overrides: Any) -> User:
    """A valid, flushed User (it has an id); pass only the fields the test is about."""
    n = next(_sequence)
    fields: dict[str, Any] = {"email": f"user{n}@example.com", "name": f"User {n}"}
    user = User(**(fields | overrides))  # an unknown field name raises TypeError
    session.add(user)
    await session.flush()
    return user


async def make_post(session: AsyncSession, author: User | None = None, **overrides: Any) -> Post:
    """A flushed Post; creates its author unless the test passes one."""
    if author is None:
        author = await make_user(session)
    # tags=[]: a new object's collection is then loaded, so reading post.tags does no IO.
    fields: dict[str, Any] = {"title": f"Post {next(_sequence)}", "tags": []}
    post = Post(author=author, **(fields | overrides))
    session.add(post)
    await session.flush()
    return post


# endregion: factories


# region: fixtures
# conftest.py
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples.models import Base
from examples.testing_recipe import make_test_engine, rollback_session  # the functions above

# One run of every test per database: TEST_DATABASE_URLS="postgresql+asyncpg://...,..." names
# empty databases the tests may create tables in; "sqlite" means a file in a temp dir.
DATABASE_URLS = os.environ.get("TEST_DATABASE_URLS", "sqlite").split(",")


@pytest.fixture(scope="session", params=DATABASE_URLS)
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    url: str = request.param
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = make_test_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
        await engine.dispose()  # in the loop that made the connections


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with rollback_session(engine) as session:
        yield session


# endregion: fixtures


# region: example_tests
# test_posts.py
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import User
from examples.testing_recipe import make_post  # the factories above


async def test_a_post_gets_an_id(session: AsyncSession) -> None:
    post = await make_post(session, title="Hello")
    await session.commit()  # as the code under test would: it releases a savepoint
    assert post.id is not None
    assert post.author.name.startswith("User ")


async def test_each_test_starts_empty(session: AsyncSession) -> None:
    assert await session.scalar(select(func.count()).select_from(User)) == 0


# endregion: example_tests


async def main(url: str) -> None:
    engine = make_test_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        # region: usage
        async with rollback_session(engine) as session:
            post = await make_post(session, title="Hello")
            await session.commit()  # releases the savepoint: the outer transaction goes on
            print(f"inside the test: post {post.id} by {post.author.email}")
        async with engine.connect() as conn:
            users = await conn.scalar(select(func.count()).select_from(User))
            print(f"after the test: {users} users")  # 0: the outer rollback undid the commit
        # endregion: usage
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
