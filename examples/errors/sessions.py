"""Errors from the session's lifecycle: transactions, identity, results, the connection pool.

A session is a unit of work with one transaction at a time. After a failed flush it must be
rolled back before anything else; ``session.begin()`` blocks own the commit; an object belongs
to one session; results are read once; and a session that is never closed keeps its pooled
connection until the garbage collector finds it. Each pair shows the mistake and the fix.

Run: python -m examples.errors.sessions
"""

# Each region carries its own imports so that it can be copied alone.

import sqlite3
from typing import Any, cast

import aiomysql
import asyncpg
import psycopg
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import joinedload, selectinload

from examples.errors import Database, capture, open_database, pair, report
from examples.models import Base, Post, User


async def seed(db: Database) -> None:
    """Two users named Ada (so a lookup by name is not unique), Grace with one post."""
    async with db.Session() as session:
        session.add_all(
            [
                User(email="ada@example.com", name="Ada"),
                User(email="ada.l@example.com", name="Ada"),
                User(email="grace@example.com", name="Grace", posts=[Post(title="COBOL")]),
            ]
        )
        await session.commit()


async def new_user(Session: async_sessionmaker[AsyncSession], email: str) -> int:
    """A committed user of its own for a pattern that deletes or changes rows."""
    async with Session() as session:
        user = User(email=email, name="Temp")
        session.add(user)
        await session.commit()
        return user.id


async def wrong_continue_after_integrity_error(session: AsyncSession) -> int | None:
    session.add(User(email="ada@example.com", name="Copy"))  # the email is unique
    try:  # noqa: SIM105 (the except block is the point)
        await session.flush()
    except IntegrityError:
        pass  # the transaction is dead: everything after this raises PendingRollbackError
    count: int | None = await session.scalar(select(func.count()).select_from(User))
    return count


# region: fix-pending-rollback
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_continue_after_integrity_error(session: AsyncSession) -> int | None:
    session.add(User(email="ada@example.com", name="Copy"))
    try:
        await session.flush()
    except IntegrityError:
        # Ends the failed transaction (and discards its other unsaved work): usable again.
        await session.rollback()
    count: int | None = await session.scalar(select(func.count()).select_from(User))
    return count


# endregion: fix-pending-rollback


async def wrong_begin_after_autobegin(Session: async_sessionmaker[AsyncSession]) -> str:
    async with Session() as session:
        user = await session.get_one(User, 1)  # any statement starts ("autobegins") a transaction
        async with session.begin():  # a second one: InvalidRequestError
            return user.name


# region: fix-begin-after-autobegin
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def fixed_begin_after_autobegin(Session: async_sessionmaker[AsyncSession]) -> str:
    # Open the transaction block first, then do everything inside it.
    async with Session.begin() as session:  # commits at the end, rolls back on error
        user = await session.get_one(User, 1)
        return user.name


# endregion: fix-begin-after-autobegin


async def wrong_commit_inside_begin(Session: async_sessionmaker[AsyncSession]) -> list[str]:
    async with Session() as session, session.begin():
        first = await session.get_one(User, 1)
        await session.commit()  # the block owns the transaction: this ends it early...
        second = await session.get_one(User, 2)  # ...so the next statement raises
        return [first.name, second.name]


# region: fix-commit-inside-begin
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def fixed_commit_inside_begin(Session: async_sessionmaker[AsyncSession]) -> list[str]:
    async with Session() as session, session.begin():  # commits once, when the block ends
        first = await session.get_one(User, 1)
        await session.flush()  # need the SQL sent now (e.g. to get an id)? flush, not commit
        second = await session.get_one(User, 2)
        return [first.name, second.name]


# endregion: fix-commit-inside-begin


async def wrong_add_to_second_session(Session: async_sessionmaker[AsyncSession]) -> str:
    async with Session() as first, Session() as second:
        user = await first.get_one(User, 1)
        second.add(user)  # it still belongs to the first session
        return user.name


# region: fix-add-to-second-session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def fixed_add_to_second_session(Session: async_sessionmaker[AsyncSession]) -> str:
    async with Session() as first, Session() as second:
        user = await first.get_one(User, 1)
        # merge() copies its state onto second's own instance for that row (loaded if needed).
        mine = await second.merge(user)
        return mine.name


# endregion: fix-add-to-second-session


async def wrong_refresh_before_flush(session: AsyncSession) -> int:
    user = User(email="pending@example.com", name="Pending")
    session.add(user)  # pending: no row exists yet
    await session.refresh(user)  # InvalidRequestError: nothing to refresh from
    return user.id


# region: fix-refresh-before-flush
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_refresh_before_flush(session: AsyncSession) -> int:
    user = User(email="pending@example.com", name="Pending")
    session.add(user)
    await session.flush()  # INSERT: the row exists, user.id and server defaults are loaded
    await session.refresh(user)  # (only needed for values the flush did not bring back)
    return user.id


# endregion: fix-refresh-before-flush


async def wrong_update_deleted_row(Session: async_sessionmaker[AsyncSession]) -> str:
    user_id = await new_user(Session, "stale.update@example.com")
    async with Session() as mine, Session() as theirs:
        user = await mine.get_one(User, user_id)
        await theirs.execute(delete(User).where(User.id == user_id))  # another request
        await theirs.commit()
        user.name = "Renamed"
        await mine.commit()  # UPDATE ... WHERE id = ? matches 0 rows: StaleDataError
        return user.name


# region: fix-update-deleted-row
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession


async def rename_if_exists(session: AsyncSession, user_id: int, name: str) -> bool:
    # One UPDATE statement; rowcount says whether the row was still there.
    result = await session.execute(update(User).where(User.id == user_id).values(name=name))
    return cast("CursorResult[Any]", result).rowcount == 1


# endregion: fix-update-deleted-row


async def fixed_update_deleted_row(Session: async_sessionmaker[AsyncSession]) -> bool:
    user_id = await new_user(Session, "stale.update@example.com")
    async with Session() as mine, Session() as theirs:
        await mine.get_one(User, user_id)
        await theirs.execute(delete(User).where(User.id == user_id))
        await theirs.commit()
        renamed = await rename_if_exists(mine, user_id, "Renamed")  # False: a 404, not a crash
        await mine.commit()
        return renamed


async def wrong_refresh_deleted_row(Session: async_sessionmaker[AsyncSession]) -> str:
    user_id = await new_user(Session, "stale.refresh@example.com")
    async with Session() as mine, Session() as theirs:
        user = await mine.get_one(User, user_id)
        await mine.commit()  # expire_on_commit=False: user keeps its loaded values
        await theirs.execute(delete(User).where(User.id == user_id))
        await theirs.commit()
        await mine.refresh(user)  # the row is gone: InvalidRequestError
        return user.name


# region: fix-refresh-deleted-row
from sqlalchemy.ext.asyncio import AsyncSession


async def reload_user(session: AsyncSession, user_id: int) -> User | None:
    # populate_existing: SELECT again even though the object is in the session; None if gone.
    return await session.get(User, user_id, populate_existing=True)


# endregion: fix-refresh-deleted-row


async def fixed_refresh_deleted_row(Session: async_sessionmaker[AsyncSession]) -> str | None:
    user_id = await new_user(Session, "stale.refresh@example.com")
    async with Session() as mine, Session() as theirs:
        await mine.get_one(User, user_id)
        await mine.commit()
        await theirs.execute(delete(User).where(User.id == user_id))
        await theirs.commit()
        user = await reload_user(mine, user_id)
        return None if user is None else user.name


async def wrong_scalar_one_no_row(session: AsyncSession) -> User:
    stmt = select(User).where(User.email == "nobody@example.com")
    return (await session.execute(stmt)).scalar_one()  # NoResultFound


async def wrong_scalar_one_many_rows(session: AsyncSession) -> User:
    stmt = select(User).where(User.name == "Ada")  # two users are called Ada
    return (await session.execute(stmt)).scalar_one()  # MultipleResultsFound


# region: fix-scalar-one
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    # A unique key: zero or one row. None is an answer (a 404), not an exception.
    stmt = select(User).where(User.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def first_by_name(session: AsyncSession, name: str) -> User | None:
    # Not unique: say which one you want (ORDER BY) and fetch one row (LIMIT 1).
    stmt = select(User).where(User.name == name).order_by(User.id).limit(1)
    user: User | None = await session.scalar(stmt)
    return user


# endregion: fix-scalar-one


async def wrong_joinedload_collection(session: AsyncSession) -> list[User]:
    result = await session.execute(select(User).options(joinedload(User.posts)))
    return list(result.scalars())  # one row per post: InvalidRequestError asks for unique()


# region: fix-joinedload-collection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def users_with_posts(session: AsyncSession) -> list[User]:
    # selectinload: a second SELECT ... WHERE author_id IN (...), no duplicate parent rows.
    result = await session.execute(select(User).options(selectinload(User.posts)))
    return list(result.scalars())


async def users_with_posts_joined(session: AsyncSession) -> list[User]:
    # joinedload of a collection repeats each user per post: unique() folds them back.
    result = await session.execute(select(User).options(joinedload(User.posts)))
    return list(result.unique().scalars())


# endregion: fix-joinedload-collection


async def wrong_rows_from_update(session: AsyncSession) -> list[int]:
    result = await session.execute(update(User).where(User.name == "Nobody").values(name="X"))
    return list(result.scalars())  # an UPDATE without RETURNING has no rows to read


# region: fix-rows-from-update
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession


async def rename_all(session: AsyncSession, old: str, new: str) -> int:
    result = await session.execute(update(User).where(User.name == old).values(name=new))
    return cast("CursorResult[Any]", result).rowcount  # how many rows matched


# endregion: fix-rows-from-update


async def wrong_session_left_open(url: str) -> int | None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    Session = async_sessionmaker(engine)
    leaked = Session()  # never closed: keeps its connection checked out
    try:
        await leaked.execute(select(1))
        async with Session() as session:  # the next request waits pool_timeout, then fails
            count: int | None = await session.scalar(select(func.count()).select_from(User))
            return count
    finally:
        await leaked.close()  # (cleanup for this demonstration)
        await engine.dispose()


# region: fix-session-left-open
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


async def fixed_session_left_open(url: str) -> int | None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    Session = async_sessionmaker(engine)
    try:
        async with Session() as first:  # closing the session returns its connection
            await first.execute(select(1))
        async with Session() as session:  # so one connection serves request after request
            count: int | None = await session.scalar(select(func.count()).select_from(User))
            return count
    finally:
        await engine.dispose()


# endregion: fix-session-left-open


async def wrong_session_never_closed(Session: async_sessionmaker[AsyncSession]) -> int | None:
    session = Session()
    count: int | None = await session.scalar(select(func.count()).select_from(User))
    return count
    # never closed: the garbage collector finds its connection still checked out


# region: fix-session-never-closed
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def fixed_session_never_closed(Session: async_sessionmaker[AsyncSession]) -> int | None:
    async with Session() as session:  # closed (and its connection returned) on every path
        count: int | None = await session.scalar(select(func.count()).select_from(User))
        return count


# endregion: fix-session-never-closed


# What each driver raises for a duplicate key, before SQLAlchemy wraps it.
DRIVER_INTEGRITY_ERROR: dict[str, type[Exception]] = {
    "asyncpg": asyncpg.UniqueViolationError,
    "psycopg": psycopg.errors.UniqueViolation,
    "aiosqlite": sqlite3.IntegrityError,
    "aiomysql": aiomysql.IntegrityError,
}


async def wrong_catch_driver_exception(session: AsyncSession) -> str:
    driver_error = DRIVER_INTEGRITY_ERROR[session.get_bind().dialect.driver]
    session.add(User(email="ada@example.com", name="Copy"))
    try:
        await session.flush()
    except driver_error:  # e.g. asyncpg.UniqueViolationError: never raised as such
        await session.rollback()
        return "email taken"
    return "created"


# region: fix-catch-driver-exception
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_catch_driver_exception(session: AsyncSession) -> str:
    session.add(User(email="ada@example.com", name="Copy"))
    try:
        await session.flush()
    except IntegrityError as exc:  # SQLAlchemy's class, whatever the driver
        await session.rollback()
        # exc.orig is the driver's error (for its codes); its class differs by driver/version.
        return f"email taken ({type(exc.orig).__name__})"
    return "created"


# endregion: fix-catch-driver-exception


async def wrong_get_options_ignored(session: AsyncSession) -> list[str]:
    grace = await session.scalar(select(User).where(User.name == "Grace"))  # posts not loaded
    assert grace is not None
    # Already in the session's identity map: get() returns that object as it is; the loader
    # option is not applied.
    user = await session.get(User, grace.id, options=[selectinload(User.posts)])
    assert user is grace
    return [post.title for post in user.posts]  # 'User.posts' is not available ...


# region: fix-get-populate-existing
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def fixed_get_populate_existing(session: AsyncSession) -> list[str]:
    grace = await session.scalar(select(User).where(User.name == "Grace"))
    assert grace is not None
    # populate_existing: load the row again and apply the options to the object in hand.
    user = await session.get(
        User, grace.id, options=[selectinload(User.posts)], populate_existing=True
    )
    assert user is grace
    return [post.title for post in user.posts]


# endregion: fix-get-populate-existing


async def main(url: str) -> None:
    db = await open_database(url, Base.metadata)
    try:
        await seed(db)
        async with db.Session() as one, db.Session() as two:
            await pair(
                "continue_after_integrity_error",
                wrong_continue_after_integrity_error(one),
                fixed_continue_after_integrity_error(two),
            )
        S = db.Session
        await pair(
            "begin_after_autobegin", wrong_begin_after_autobegin(S), fixed_begin_after_autobegin(S)
        )
        await pair(
            "commit_inside_begin", wrong_commit_inside_begin(S), fixed_commit_inside_begin(S)
        )
        await pair(
            "add_to_second_session", wrong_add_to_second_session(S), fixed_add_to_second_session(S)
        )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "refresh_before_flush",
                wrong_refresh_before_flush(one),
                fixed_refresh_before_flush(two),
            )
        await pair("update_deleted_row", wrong_update_deleted_row(S), fixed_update_deleted_row(S))
        await pair(
            "refresh_deleted_row", wrong_refresh_deleted_row(S), fixed_refresh_deleted_row(S)
        )
        async with db.Session() as session:
            report("wrong_scalar_one_no_row", await capture(wrong_scalar_one_no_row(session)))
            report("wrong_scalar_one_many_rows", await capture(wrong_scalar_one_many_rows(session)))
            print("find_by_email:", await find_by_email(session, "nobody@example.com"))
            first = await first_by_name(session, "Ada")
            print("first_by_name:", first and first.email)
            outcome = await capture(wrong_joinedload_collection(session))
            report("wrong_joinedload_collection", outcome)
            print("users_with_posts:", len(await users_with_posts(session)))
            print("users_with_posts_joined:", len(await users_with_posts_joined(session)))
            report("wrong_rows_from_update", await capture(wrong_rows_from_update(session)))
            print("rename_all:", await rename_all(session, "Nobody", "X"))
        await pair("session_left_open", wrong_session_left_open(url), fixed_session_left_open(url))
        outcome = await capture(wrong_session_never_closed(S))
        report("wrong_session_never_closed", outcome)
        print("  warned:", outcome.warnings[0][:80] if outcome.warnings else "nothing")
        print("fixed_session_never_closed:", await fixed_session_never_closed(S))
        async with db.Session() as one, db.Session() as two:
            await pair(
                "get_options_ignored",
                wrong_get_options_ignored(one),
                fixed_get_populate_existing(two),
            )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "catch_driver_exception",
                wrong_catch_driver_exception(one),
                fixed_catch_driver_exception(two),
            )
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
