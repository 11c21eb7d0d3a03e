"""Errors from locking and concurrency control: a versioned row saved by another transaction
after this session loaded it (StaleDataError on UPDATE and on DELETE), ``FOR UPDATE SKIP
LOCKED`` written into raw SQL that SQLite cannot parse, and ``with_for_update()`` on a query
whose eager load is an outer join (PostgreSQL). Each pair shows the mistake and the fix.

The version conflicts are choreographed with asyncio.Event so that the other transaction
commits exactly between this one's SELECT and its write.

Run: python -m examples.errors.locking
"""

# Each region carries its own imports so that it can be copied alone.

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from examples.crud import create_user
from examples.errors import Database, open_database, pair
from examples.locking import Document, LockingBase, apply_with_retry
from examples.models import Base, Post, User

Change = Callable[[AsyncSession, Document], Awaitable[None]]


async def seed(db: Database) -> None:
    """Ada with two posts, Grace with none (so an outer join has a NULL side)."""
    async with db.Session() as session, session.begin():
        ada = await create_user(session, "ada@example.com", "Ada")
        await create_user(session, "grace@example.com", "Grace")
        session.add_all(
            [Post(title="Notes", author_id=ada.id), Post(title="Engine", author_id=ada.id)]
        )


async def new_document(Session: async_sessionmaker[AsyncSession]) -> int:
    """A committed document (version 1) of its own for one pattern."""
    async with Session() as session, session.begin():
        document = Document(title="Draft", body="")
        session.add(document)
        await session.flush()
        return document.id


async def save_elsewhere(Session: async_sessionmaker[AsyncSession], document_id: int) -> None:
    """Another request saves the document: its version goes up by one."""
    async with Session() as session, session.begin():
        (await session.get_one(Document, document_id)).body += "theirs\n"


async def wrong_concurrent_edit(Session: async_sessionmaker[AsyncSession]) -> str:
    document_id = await new_document(Session)
    async with Session() as session, session.begin():
        document = await session.get_one(Document, document_id)  # version 1
        await save_elsewhere(Session, document_id)  # now version 2
        document.body += "mine\n"
    return document.body  # the commit's UPDATE ... WHERE version = 1 matched 0 rows


def first_attempt_meets_a_save(
    Session: async_sessionmaker[AsyncSession], document_id: int, change: Change
) -> Change:
    """``change``, but on its first run another transaction saves the row in between."""
    runs = 0

    async def changed_meanwhile(session: AsyncSession, document: Document) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await save_elsewhere(Session, document_id)
        await change(session, document)

    return changed_meanwhile


async def fixed_concurrent_edit(Session: async_sessionmaker[AsyncSession]) -> str:
    document_id = await new_document(Session)

    async def append_mine(session: AsyncSession, document: Document) -> None:
        document.body += "mine\n"

    change = first_attempt_meets_a_save(Session, document_id, append_mine)
    document = await apply_with_retry(Session, Document, document_id, change)
    return document.body  # both lines: the retry reloaded the saved row and appended again


async def wrong_delete_after_concurrent_edit(Session: async_sessionmaker[AsyncSession]) -> str:
    document_id = await new_document(Session)
    async with Session() as session, session.begin():
        document = await session.get_one(Document, document_id)  # version 1
        await save_elsewhere(Session, document_id)  # now version 2
        await session.delete(document)
    return "deleted"  # the commit's DELETE ... WHERE version = 1 matched 0 rows


async def fixed_delete_after_concurrent_edit(Session: async_sessionmaker[AsyncSession]) -> bool:
    document_id = await new_document(Session)

    async def remove(session: AsyncSession, document: Document) -> None:
        await session.delete(document)

    change = first_attempt_meets_a_save(Session, document_id, remove)
    await apply_with_retry(Session, Document, document_id, change)
    async with Session() as session:
        return await session.get(Document, document_id) is None  # gone, at its newest version


async def wrong_for_update_in_raw_sql(session: AsyncSession) -> list[int]:
    # PostgreSQL and MariaDB 10.6+ run this; SQLite's parser stops at FOR.
    rows = await session.execute(
        text("SELECT id FROM users ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED")
    )
    return [row.id for row in rows]


# region: fix-for-update-in-raw-sql
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_for_update_in_raw_sql(session: AsyncSession) -> list[int]:
    # Each dialect renders its own lock clause: FOR UPDATE SKIP LOCKED on PostgreSQL and
    # MariaDB, nothing on SQLite (no row locks: its engine needs BEGIN IMMEDIATE instead).
    stmt = select(User.id).order_by(User.id).limit(2).with_for_update(skip_locked=True)
    return list(await session.scalars(stmt))


# endregion: fix-for-update-in-raw-sql


async def wrong_lock_with_outer_join(session: AsyncSession) -> list[str]:
    # joinedload(User.posts) is a LEFT OUTER JOIN: PostgreSQL will not lock its NULL side.
    stmt = select(User).options(joinedload(User.posts)).order_by(User.id).with_for_update()
    users = (await session.scalars(stmt)).unique()
    return [user.name for user in users]


# region: fix-lock-with-outer-join
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload


async def fixed_lock_with_outer_join(session: AsyncSession) -> list[str]:
    # of=User: lock the users rows only (PostgreSQL: FOR UPDATE OF users). MariaDB has no
    # OF clause and gets FOR UPDATE, which it allows with an outer join; SQLite gets nothing.
    stmt = select(User).options(joinedload(User.posts)).order_by(User.id).with_for_update(of=User)
    users = (await session.scalars(stmt)).unique()
    return [user.name for user in users]


# endregion: fix-lock-with-outer-join


async def in_transaction(
    Session: async_sessionmaker[AsyncSession], pattern: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    """Run a pattern that takes a session inside a transaction of its own (locks need one)."""
    async with Session() as session, session.begin():
        return await pattern(session)


async def main(url: str) -> None:
    db = await open_database(url, Base.metadata, LockingBase.metadata)
    try:
        await seed(db)
        S = db.Session
        await pair("concurrent_edit", wrong_concurrent_edit(S), fixed_concurrent_edit(S))
        await pair(
            "delete_after_concurrent_edit",
            wrong_delete_after_concurrent_edit(S),
            fixed_delete_after_concurrent_edit(S),
        )
        await pair(
            "for_update_in_raw_sql",
            in_transaction(S, wrong_for_update_in_raw_sql),
            in_transaction(S, fixed_for_update_in_raw_sql),
        )
        await pair(
            "lock_with_outer_join",
            in_transaction(S, wrong_lock_with_outer_join),
            in_transaction(S, fixed_lock_with_outer_join),
        )
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
