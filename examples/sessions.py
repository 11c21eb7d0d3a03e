"""Session lifecycle: one unit of work per block, what survives it, one session per task.

Illustrates ``async with Session() as session, session.begin():`` (commit on success, rollback
on any exception, so a failure half-way writes nothing), what a detached object still offers
after the block (loaded attributes with expire_on_commit=False; nothing that needs a load), one
session per concurrent task under ``asyncio.gather``, ``async_scoped_session`` with the
``remove()`` it needs, and why sessions passed explicitly are the better default.

Run: python -m examples.sessions
"""

# region: unit_of_work
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from examples.crud import create_user
from examples.models import User


async def register_users(
    Session: async_sessionmaker[AsyncSession], people: list[tuple[str, str]]
) -> list[User]:
    """Create every (email, name) or none of them."""
    if not people:
        raise ValueError("people must not be empty")
    # begin(): COMMIT when the block ends normally, ROLLBACK when anything raises inside it,
    # such as an IntegrityError from one INSERT after others have already been sent.
    async with Session() as session, session.begin():
        users = [await create_user(session, email, name) for email, name in people]
    # The session is closed: the users are detached. With expire_on_commit=False their
    # loaded attributes (id, email, name) stay readable without any IO.
    return users


# endregion: unit_of_work


# region: return_loaded
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from examples.models import User


async def get_user_with_posts(
    Session: async_sessionmaker[AsyncSession], user_id: int
) -> User | None:
    async with Session() as session:
        # Load here everything the caller will touch: once the block ends the user is
        # detached, and a relationship that was not loaded can no longer be.
        # (In a session that may already hold this user, add populate_existing=True: get()
        # returns an object it already has as it is, ignoring the options.)
        return await session.get(User, user_id, options=[selectinload(User.posts)])


# endregion: return_loaded


# region: per_task
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from examples.crud import create_user


async def register_concurrently(
    Session: async_sessionmaker[AsyncSession], people: list[tuple[str, str]]
) -> list[int]:
    """One task, one session, one transaction per person: the tasks share only the engine."""

    async def register(email: str, name: str) -> int:
        # An AsyncSession is not safe for concurrent use: each task opens its own from the
        # sessionmaker; the engine's pool hands each one its own connection.
        async with Session() as session, session.begin():
            user = await create_user(session, email, name)
        return user.id

    return await asyncio.gather(*(register(email, name) for email, name in people))


# endregion: per_task


# region: scoped
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session, async_sessionmaker

from examples.crud import rename_user


def make_scoped(Session: async_sessionmaker[AsyncSession]) -> async_scoped_session[AsyncSession]:
    # One session per asyncio task, found through the registry instead of passed along.
    return async_scoped_session(Session, scopefunc=asyncio.current_task)


async def handle_rename(
    Scoped: async_scoped_session[AsyncSession], user_id: int, name: str
) -> bool:
    try:
        session = Scoped()  # this task's session: made on the first call, the same one after
        renamed = await rename_user(session, user_id, name)
        await session.commit()
        return renamed is not None
    finally:
        # Closes this task's session and drops it from the registry. Without it the registry
        # keeps every finished task and its session (and a connection, if one was in use).
        await Scoped.remove()


# endregion: scoped


async def main(url: str) -> None:
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from examples.models import Post
    from examples.run import example_database

    async with example_database(url) as Session:
        ada, grace = await register_users(
            Session, [("ada@example.com", "Ada"), ("grace@example.com", "Grace")]
        )
        print(f"registered {ada.name} ({ada.id}) and {grace.name} ({grace.id})")
        try:
            await register_users(
                Session, [("alan@example.com", "Alan"), ("ada@example.com", "Ada again")]
            )
        except IntegrityError:
            async with Session() as session:
                alan = await session.scalar(select(User).where(User.name == "Alan"))
            print(f"duplicate email: rolled back, Alan saved: {alan is not None}")

        async with Session() as session, session.begin():
            session.add(Post(title="Notes", author_id=ada.id))
        user = await get_user_with_posts(Session, ada.id)
        assert user is not None
        print(f"detached {user.name} with posts loaded: {[p.title for p in user.posts]}")

        ids = await register_concurrently(
            Session, [(f"user{n}@example.com", f"User {n}") for n in range(20)]
        )
        print(f"registered {len(ids)} users from {len(ids)} concurrent tasks")

        Scoped = make_scoped(Session)
        await asyncio.gather(*(handle_rename(Scoped, i, f"Renamed {i}") for i in ids[:5]))
        print(f"scoped sessions left in the registry: {len(Scoped.registry.registry)}")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
