"""examples/loading.py on every lane: SQL statements per loading strategy, and the failures.

Statement counts are exact: N users with M posts each, loaded by each strategy.
"""

import gc
import re
import warnings

import pytest
import sqlalchemy
from sqlalchemy import URL, insert, select
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import joinedload

from examples import loading
from examples.loading import Author, Book, LegacyBase
from examples.models import Post, User
from tests.conftest import Lane, make_test_engine
from tools.statements import count_statements

SA20 = sqlalchemy.__version__.startswith("2.0.")
# 2.0 says await_only(), 2.1 says await_().
MISSING_GREENLET = (
    r"greenlet_spawn has not been called; can't call await_(only)?\(\) here\. "
    r"Was IO attempted in an unexpected place\?"
)
LAZY_RAISE = "'User.posts' is not available due to lazy='raise'"


async def add_users(session: AsyncSession, users: int, posts_each: int) -> None:
    """``users`` users with ``posts_each`` posts each, flushed, then forgotten by the session."""
    session.add_all(
        User(
            email=f"u{u}@example.com",
            name=f"user {u:04}",
            posts=[Post(title=f"post {u}.{p}") for p in range(posts_each)],
        )
        for u in range(users)
    )
    await session.flush()
    session.expunge_all()  # the strategies below must load from the database


@pytest.mark.parametrize("users", [1, 7, 40])
async def test_selectinload_is_two_statements_for_any_number_of_users(
    session: AsyncSession, engine: AsyncEngine, users: int
) -> None:
    await add_users(session, users, posts_each=3)
    with count_statements(engine) as log:
        loaded = await loading.users_with_posts(session)
        titles = [post.title for user in loaded for post in user.posts]
    assert log.count == 2
    assert "IN (" in log.statements[-1]
    assert len(loaded) == users
    assert len(titles) == users * 3


async def test_selectinload_adds_one_statement_per_500_parents(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    await session.execute(
        insert(User), [{"email": f"u{n}@example.com", "name": f"u{n}"} for n in range(501)]
    )
    with count_statements(engine) as log:
        loaded = await loading.users_with_posts(session)
    assert len(loaded) == 501
    assert log.count == 3  # users, then posts for the first 500, then for the last one


@pytest.mark.parametrize("users", [1, 7, 40])
async def test_joinedload_many_to_one_is_one_statement(
    session: AsyncSession, engine: AsyncEngine, users: int
) -> None:
    await add_users(session, users, posts_each=2)
    with count_statements(engine) as log:
        posts = await loading.posts_with_authors(session)
        authors = {post.author.name for post in posts}
    assert log.count == 1
    assert "JOIN users" in log.statements[0]
    assert len(posts) == users * 2
    assert len(authors) == users


@pytest.mark.parametrize("users", [1, 7, 40])
async def test_joinedload_collection_with_unique_is_one_statement(
    session: AsyncSession, engine: AsyncEngine, users: int
) -> None:
    await add_users(session, users, posts_each=3)
    with count_statements(engine) as log:
        loaded = await loading.users_with_posts_joined(session)
    assert log.count == 1
    assert [len(user.posts) for user in loaded] == [3] * users


async def test_joinedload_collection_without_unique_is_refused(session: AsyncSession) -> None:
    await add_users(session, 2, posts_each=2)
    result = await session.scalars(select(User).options(joinedload(User.posts)))
    with pytest.raises(InvalidRequestError) as excinfo:
        result.all()
    assert str(excinfo.value) == (
        "The unique() method must be invoked on this Result, as it contains results that "
        "include joined eager loads against collections"
    )


@pytest.mark.parametrize("users", [1, 7, 40])
async def test_awaitable_attrs_with_lazyload_is_one_plus_n_statements(
    session: AsyncSession, engine: AsyncEngine, users: int
) -> None:
    await add_users(session, users, posts_each=2)
    with count_statements(engine) as log:
        counts = await loading.post_counts_one_by_one(session)
    assert log.count == 1 + users
    assert set(counts.values()) == {2}


async def test_awaitable_attrs_without_lazyload_hits_lazy_raise(session: AsyncSession) -> None:
    await add_users(session, 1, posts_each=2)
    user = (await session.scalars(select(User))).one()
    with pytest.raises(InvalidRequestError, match=re.escape(LAZY_RAISE)):
        await user.awaitable_attrs.posts


async def test_awaitable_attrs_on_loaded_relationship_sends_nothing(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    await add_users(session, 3, posts_each=2)
    users = await loading.users_with_posts(session)
    with count_statements(engine) as log:
        assert [len(await user.awaitable_attrs.posts) for user in users] == [2, 2, 2]
    assert log.count == 0


async def test_unloaded_relationship_raises_lazy_raise(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    await add_users(session, 1, posts_each=2)
    user = (await session.scalars(select(User))).one()
    with count_statements(engine) as log, pytest.raises(InvalidRequestError) as excinfo:
        user.posts  # noqa: B018
    assert str(excinfo.value) == LAZY_RAISE
    assert log.count == 0  # it fails before any IO


async def test_refresh_loads_one_relationship_of_an_object_in_hand(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    await add_users(session, 3, posts_each=2)
    user = (await session.scalars(select(User).order_by(User.id).limit(1))).one()
    with count_statements(engine) as log:
        posts = await loading.load_posts(session, user)
    assert log.count == 2  # the user's row (refresh checks it still exists), then its posts
    assert [post.title for post in posts] == ["post 0.0", "post 0.1"]


async def _legacy_engine(db_url: URL) -> AsyncEngine:
    engine = make_test_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(LegacyBase.metadata.create_all)
    async with AsyncSession(engine) as session, session.begin():
        session.add(Author(name="Le Guin", books=[Book(title="The Lathe of Heaven")]))
    return engine


async def test_raiseload_star_turns_hidden_lazy_loads_into_errors(db_url: URL) -> None:
    engine = await _legacy_engine(db_url)
    try:
        async with AsyncSession(engine) as session:
            authors = await loading.authors_with_books(session)
            book = authors[0].books[0]  # loaded by selectinload
            with count_statements(engine) as log, pytest.raises(InvalidRequestError) as excinfo:
                book.author  # noqa: B018 - not loaded by this query
            assert str(excinfo.value) == "'Book.author' is not available due to lazy='raise'"
            assert log.count == 0
    finally:
        await engine.dispose()


async def test_default_lazy_load_fails_with_missing_greenlet(db_url: URL, lane: Lane) -> None:
    """What lazy="raise" and raiseload() prevent: implicit IO from a plain attribute access."""
    engine = await _legacy_engine(db_url)
    try:
        async with AsyncSession(engine) as session:
            author = (await session.scalars(select(Author))).one()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with pytest.raises((MissingGreenlet, StatementError)) as excinfo:
                    author.books  # noqa: B018
                error_type, message = type(excinfo.value), str(excinfo.value)
                orig_type = type(getattr(excinfo.value, "orig", None))
                del excinfo  # its traceback keeps the driver's abandoned coroutine alive
                gc.collect()
        assert re.search(MISSING_GREENLET, message)
        # The class depends on where the driver first awaits: asyncpg at execute
        # (MissingGreenlet); aiomysql, and aiosqlite and psycopg on 2.1, when the cursor is
        # created, which SQLAlchemy wraps in StatementError with the MissingGreenlet as .orig.
        if lane.driver == "asyncpg" or (lane.driver in ("aiosqlite", "psycopg") and SA20):
            assert error_type is MissingGreenlet
        else:
            assert error_type is StatementError
            assert orig_type is MissingGreenlet
            assert message.startswith("(sqlalchemy.exc.MissingGreenlet) greenlet_spawn")
        # On 2.1 + aiosqlite the driver's cursor() coroutine is created and then abandoned.
        unawaited = [str(w.message) for w in caught if w.category is RuntimeWarning]
        if lane.backend == "sqlite" and not SA20:
            assert unawaited == ["coroutine 'Connection.cursor' was never awaited"]
        else:
            assert unawaited == []
    finally:
        await engine.dispose()


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await loading.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "selectinload: {'Ada': ['Ada #1', 'Ada #2'], 'Grace': ['Grace #1', 'Grace #2']}" in out
    assert "joinedload + unique(): [('Ada', 2), ('Grace', 2)]" in out
    assert f"unloaded: {LAZY_RAISE}" in out
    assert "refresh: ['Ada #1', 'Ada #2']" in out
    assert "awaitable_attrs: {'Ada': 2, 'Grace': 2}" in out
    assert "raiseload: 'Book.author' is not available due to lazy='raise'" in out
