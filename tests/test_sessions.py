"""examples/sessions.py on every lane: transactions, detached objects, tasks, scoped sessions."""

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import URL, event, func, inspect, select
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlalchemy.pool import QueuePool

from examples import sessions
from examples.models import Post, User
from examples.quickstart import create_tables, make_engine
from tools.statements import count_statements

PEOPLE = [("ada@example.com", "Ada"), ("grace@example.com", "Grace")]


@pytest.fixture
async def app_engine(db_url: URL) -> AsyncIterator[AsyncEngine]:
    """The engine an application would make (examples/quickstart.py), on a fresh database."""
    engine = make_engine(db_url.render_as_string(hide_password=False))
    await create_tables(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def Session(app_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(app_engine, expire_on_commit=False)


async def count_users(Session: async_sessionmaker[AsyncSession]) -> int:
    async with Session() as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


def inserts(statements: list[str]) -> int:
    return sum(s.lstrip().upper().startswith("INSERT") for s in statements)


# --- one unit of work per block ---------------------------------------------------------


async def test_block_commits_on_success(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    with count_statements(app_engine) as log:
        users = await sessions.register_users(Session, PEOPLE)
    assert inserts(log.statements) == 2
    assert [u.name for u in users] == ["Ada", "Grace"]
    assert all(inspect(u).detached for u in users)  # the session closed with the block
    assert await count_users(Session) == 2


async def test_failure_half_way_commits_nothing(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    people = [*PEOPLE, ("ada@example.com", "Ada twice")]
    with count_statements(app_engine) as log, pytest.raises(IntegrityError):
        await sessions.register_users(Session, people)
    assert inserts(log.statements) == 3  # two INSERTs went through before the third failed
    assert await count_users(Session) == 0  # ...and the rollback took them back


async def test_invalid_input_half_way_commits_nothing(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    people = [*PEOPLE, ("not-an-email", "Nobody")]
    with count_statements(app_engine) as log, pytest.raises(ValueError, match="not an email"):
        await sessions.register_users(Session, people)
    assert inserts(log.statements) == 2
    assert await count_users(Session) == 0


async def test_commit_inside_the_block_breaks_all_or_nothing(
    Session: async_sessionmaker[AsyncSession],
) -> None:
    """Wrong way: commit() inside session.begin() commits half, then the block fails."""

    async def commit_inside() -> None:
        async with Session() as session, session.begin():
            session.add(User(email="ada@example.com", name="Ada"))
            await session.commit()
            session.add(User(email="grace@example.com", name="Grace"))

    with pytest.raises(InvalidRequestError) as excinfo:
        await commit_inside()
    assert str(excinfo.value) == (
        "Can't operate on closed transaction inside context manager.  Please complete the "
        "context manager before emitting further commands."
    )
    async with Session() as session:
        assert list(await session.scalars(select(User.name))) == ["Ada"]  # Grace is lost


async def test_empty_input_is_rejected(Session: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ValueError, match="people must not be empty"):
        await sessions.register_users(Session, [])


# --- what a detached object offers ------------------------------------------------------


async def test_loaded_attributes_stay_readable_without_io(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    ada, _ = await sessions.register_users(Session, PEOPLE)
    with count_statements(app_engine) as log:
        assert (ada.id, ada.email, ada.name) == (1, "ada@example.com", "Ada")
    assert log.count == 0


async def test_unloaded_relationship_on_detached_object_raises(
    Session: async_sessionmaker[AsyncSession],
) -> None:
    ada, _ = await sessions.register_users(Session, PEOPLE)
    # The shared models say lazy="raise": that error comes first, attached or not.
    with pytest.raises(InvalidRequestError) as excinfo:
        ada.posts  # noqa: B018
    assert str(excinfo.value) == "'User.posts' is not available due to lazy='raise'"

    # With a lazy loader (the default lazy="select", here switched on by lazyload()), the
    # detached object has no session to load with.
    async with Session() as session:
        user = await session.scalar(select(User).options(lazyload(User.posts)))
    assert user is not None
    with pytest.raises(DetachedInstanceError) as detached:
        user.posts  # noqa: B018
    assert re.fullmatch(
        r"Parent instance <User at 0x[0-9a-f]+> is not bound to a Session; lazy load "
        r"operation of attribute 'posts' cannot proceed \(Background on this error at: "
        r"https://sqlalche\.me/e/2[01]/bhk3\)",
        str(detached.value),
    )


async def test_expire_on_commit_true_leaves_nothing_readable(app_engine: AsyncEngine) -> None:
    """Why the examples set expire_on_commit=False: the default expires everything at commit."""
    Session = async_sessionmaker(app_engine)  # expire_on_commit=True
    ada, _ = await sessions.register_users(Session, PEOPLE)
    with pytest.raises(DetachedInstanceError) as excinfo:
        ada.name  # noqa: B018
    assert re.fullmatch(
        r"Instance <User at 0x[0-9a-f]+> is not bound to a Session; attribute refresh "
        r"operation cannot proceed \(Background on this error at: "
        r"https://sqlalche\.me/e/2[01]/bhk3\)",
        str(excinfo.value),
    )


async def test_eager_loaded_relationship_is_usable_after_the_block(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    ada, _ = await sessions.register_users(Session, PEOPLE)
    async with Session() as session, session.begin():
        session.add_all([Post(title="One", author_id=ada.id), Post(title="Two", author_id=ada.id)])
    with count_statements(app_engine) as log:
        user = await sessions.get_user_with_posts(Session, ada.id)
    assert log.count == 2  # the user, then its posts (selectinload)
    assert user is not None
    with count_statements(app_engine) as log:
        assert sorted(p.title for p in user.posts) == ["One", "Two"]
    assert log.count == 0
    assert await sessions.get_user_with_posts(Session, 999) is None


# --- one session per concurrent task ----------------------------------------------------


async def test_twenty_tasks_each_with_its_own_session(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    in_use = 0
    peak = 0

    def checkout(*args: object) -> None:
        nonlocal in_use, peak
        in_use += 1
        peak = max(peak, in_use)

    def checkin(*args: object) -> None:
        nonlocal in_use
        in_use -= 1

    pool = app_engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        people = [(f"user{n}@example.com", f"User {n}") for n in range(20)]
        ids = await sessions.register_concurrently(Session, people)
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert sorted(ids) == list(range(1, 21))
    assert await count_users(Session) == 20
    assert peak > 1  # the tasks really overlapped, each on its own connection
    assert peak <= 15  # pool_size 5 + max_overflow 10: the other tasks waited for a connection
    assert in_use == 0


# --- async_scoped_session ---------------------------------------------------------------


async def test_scoped_remove_leaves_the_registry_empty(
    Session: async_sessionmaker[AsyncSession],
) -> None:
    users = await sessions.register_users(
        Session, [(f"user{n}@example.com", "Old") for n in range(10)]
    )
    Scoped = sessions.make_scoped(Session)
    done = await asyncio.gather(*(sessions.handle_rename(Scoped, u.id, "New") for u in users))
    assert done == [True] * 10
    assert Scoped.registry.registry == {}
    async with Session() as session:
        names = set(await session.scalars(select(User.name)))
    assert names == {"New"}
    assert await sessions.handle_rename(Scoped, 999, "x") is False
    assert Scoped.registry.registry == {}


async def test_scoped_without_remove_keeps_a_session_per_finished_task(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    """The seed guide's pattern: Scoped() then commit, never remove()."""
    Scoped = sessions.make_scoped(Session)

    async def leaky(n: int) -> None:
        session = Scoped()
        session.add(User(email=f"user{n}@example.com", name="Leaky"))
        await session.commit()

    tasks = [asyncio.create_task(leaky(n)) for n in range(10)]
    await asyncio.gather(*tasks)
    registry = Scoped.registry.registry
    assert len(registry) == 10
    assert set(registry) == set(tasks)  # finished tasks, each kept alive with its session
    assert all(task.done() for task in registry)
    assert isinstance(app_engine.sync_engine.pool, QueuePool)
    assert app_engine.sync_engine.pool.checkedout() == 0  # commit released the connections
    for session in registry.values():
        await session.close()
    registry.clear()


async def test_scoped_reader_without_remove_keeps_its_connection(
    Session: async_sessionmaker[AsyncSession], app_engine: AsyncEngine
) -> None:
    Scoped = sessions.make_scoped(Session)

    async def read_only() -> None:
        await Scoped().scalar(select(func.count()).select_from(User))  # no commit, no remove

    await asyncio.gather(*(read_only() for _ in range(3)))
    pool = app_engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    # Each forgotten session still holds its connection in an open transaction.
    assert pool.checkedout() == 3
    for session in Scoped.registry.registry.values():
        await session.close()
    assert pool.checkedout() == 0


async def test_scoped_session_differs_in_child_tasks(
    Session: async_sessionmaker[AsyncSession],
) -> None:
    """Why explicit sessions are preferred: a task started by gather gets another session."""
    Scoped = sessions.make_scoped(Session)

    async def parent() -> None:
        mine = Scoped()
        mine.add(User(email="ada@example.com", name="Ada"))

        async def child() -> AsyncSession:
            theirs = Scoped()
            await theirs.commit()  # commits its own session: nothing of the parent's
            return theirs

        (from_gather,) = await asyncio.gather(child())
        from_task = await asyncio.create_task(child())
        for theirs in (from_gather, from_task):
            assert theirs is not mine
            assert len(theirs.new) == 0  # the child cannot see, flush or commit the parent's work
            await theirs.close()
        assert len(mine.new) == 1
        assert await count_users(Session) == 0  # the children's commits sent nothing of it
        await Scoped.remove()

    await asyncio.create_task(parent())
    assert len(Scoped.registry.registry) == 2  # the children's entries: nobody removed them
    Scoped.registry.registry.clear()


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await sessions.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "registered Ada (1) and Grace (2)" in out
    assert "duplicate email: rolled back, Alan saved: False" in out
    assert "detached Ada with posts loaded: ['Notes']" in out
    assert "registered 20 users from 20 concurrent tasks" in out
    assert "scoped sessions left in the registry: 0" in out
