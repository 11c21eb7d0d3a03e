"""Raw SQL with text(): bound parameters, typed result columns, expanding IN lists.

Values always travel as bound parameters (``:name``), never formatted into the SQL string:
then a quote in user input is just a character, and SQL injection cannot happen.

Run: python -m examples.raw_sql
"""

# region: text_params
import datetime
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import DateTime, Integer, String, bindparam, column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import User


async def ids_named(session: AsyncSession, name: str) -> list[int]:
    # :name is a bound parameter: the driver sends the value apart from the SQL text.
    result = await session.execute(
        text("SELECT id FROM users WHERE name = :name ORDER BY id"), {"name": name}
    )
    return [row.id for row in result]


# endregion: text_params


# region: typed_columns
MAX_IDS = 1000


class Signup(NamedTuple):
    id: int
    name: str
    created_at: datetime.datetime


def _check_ids(ids: Sequence[int]) -> list[int]:
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS} ids per call, got {len(ids)}")
    return list(ids)


async def signups(session: AsyncSession, ids: Sequence[int]) -> list[Signup]:
    stmt = (
        text("SELECT id, name, created_at FROM users WHERE id IN :ids ORDER BY id")
        # expanding=True: the list becomes IN (?, ?, ...), one bound parameter per value.
        .bindparams(bindparam("ids", expanding=True))
        # Typed columns: results go through each type's conversion (on SQLite, created_at
        # would otherwise come back as a str).
        .columns(
            column("id", Integer),
            column("name", String),
            column("created_at", DateTime(timezone=True)),
        )
    )
    result = await session.execute(stmt, {"ids": _check_ids(ids)})
    return [Signup(*row) for row in result]


async def users_from_sql(session: AsyncSession, ids: Sequence[int]) -> Sequence[User]:
    # Columns named after the entity's: the rows become User objects in the identity map.
    stmt = (
        text("SELECT id, email, name, created_at FROM users WHERE id IN :ids ORDER BY id")
        .bindparams(bindparam("ids", expanding=True))
        .columns(User.id, User.email, User.name, User.created_at)
    )
    result = await session.scalars(select(User).from_statement(stmt), {"ids": _check_ids(ids)})
    return result.all()


# endregion: typed_columns


async def main(url: str) -> None:
    from sqlalchemy import func

    from examples.run import example_database

    async with example_database(url) as Session:
        hostile = "x'; DROP TABLE users; --"
        async with Session() as session, session.begin():
            session.add_all(
                [
                    User(email="ada@example.com", name="Ada"),
                    User(email="bobby@example.com", name=hostile),
                ]
            )
        async with Session() as session:
            # region: usage
            print(f"Ada: {await ids_named(session, 'Ada')}")
            print(f"hostile name matched literally: {await ids_named(session, hostile)}")
            rows = await signups(session, [1, 2, 3])
            print(f"signups: {[(row.name, type(row.created_at).__name__) for row in rows]}")
            users = await users_from_sql(session, [1])
            print(f"as User objects: {[user.email for user in users]}")
            # endregion: usage
            left = await session.scalar(select(func.count()).select_from(User))
            print(f"users table intact: {left} rows")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
