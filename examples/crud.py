"""Create, read, update, delete with an AsyncSession; validated input, typed results.

Run: python -m examples.crud
"""

from examples.models import User  # the models SKILL.md shows

# isort: split
# region: crud
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

MAX_NAME = 100  # matches User.name = String(100)
MAX_ID = 2**31 - 1  # User.id is an INTEGER: PostgreSQL rejects a larger parameter outright


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"name must be 1-{MAX_NAME} characters")
    if "\x00" in name:  # PostgreSQL refuses NUL in text; MariaDB and SQLite would store it
        raise ValueError("name must not contain NUL characters")
    return name


def _is_possible_id(user_id: int) -> bool:
    return not isinstance(user_id, bool) and 1 <= user_id <= MAX_ID


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254:
        raise ValueError(f"not an email address: {email!r}")
    return email


async def create_user(session: AsyncSession, email: str, name: str) -> User:
    user = User(email=_clean_email(email), name=_clean_name(name))
    session.add(user)
    await session.flush()  # sends the INSERT: user.id is set, the caller still decides to commit
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    if not _is_possible_id(user_id):
        return None  # no row can have it; asking would be a database error on PostgreSQL
    return await session.get(User, user_id)  # identity map first, then one SELECT


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == _clean_email(email)))
    return result.scalar_one_or_none()


async def rename_user(session: AsyncSession, user_id: int, name: str) -> User | None:
    user = await get_user(session, user_id)
    if user is None:
        return None
    user.name = _clean_name(name)  # the unit of work sends the UPDATE at flush/commit
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user_id: int) -> bool:
    user = await get_user(session, user_id)
    if user is None:
        return False
    await session.delete(user)  # the "delete" cascade deletes the user's posts too
    await session.flush()
    return True
# endregion: crud


# region: bulk
async def rename_many(session: AsyncSession, old: str, new: str) -> int:
    """One UPDATE statement for every matching row; returns how many rows matched."""
    result = await session.execute(
        update(User).where(User.name == old).values(name=_clean_name(new))
    )
    # session.execute() is typed as returning Result; UPDATE/DELETE give a CursorResult,
    # which is the type that has rowcount.
    return cast("CursorResult[Any]", result).rowcount


async def delete_by_domain(session: AsyncSession, domain: str) -> int:
    """One DELETE statement; rows removed in bulk skip ORM cascades (the FK's ON DELETE runs)."""
    result = await session.execute(
        delete(User).where(User.email.endswith("@" + domain, autoescape=True))
    )
    return cast("CursorResult[Any]", result).rowcount
# endregion: bulk


async def main(url: str) -> None:
    from examples.run import example_database

    async with example_database(url) as Session:
        # region: usage
        async with Session() as session, session.begin():  # commits at the end, or rolls back
            ada = await create_user(session, "ada@example.com", "Ada")
            await create_user(session, "grace@example.com", "Grace")
        async with Session() as session, session.begin():
            await rename_user(session, ada.id, "Ada Lovelace")
            renamed = await rename_many(session, "Grace", "Grace Hopper")
        async with Session() as session:
            found = await get_user(session, ada.id)
            print(f"get: {found and found.name}; bulk-renamed {renamed} row(s)")
        # endregion: usage
        async with Session() as session, session.begin():
            print(f"deleted: {await delete_user(session, ada.id)}")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
