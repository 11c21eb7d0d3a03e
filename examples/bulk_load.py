"""Load many rows at once: ORM bulk INSERT, PostgreSQL COPY, and upserts per dialect.

One ``session.execute(insert(Model), list_of_dicts)`` replaces thousands of ``session.add()``
calls: SQLAlchemy sends multi-row INSERTs ("insertmanyvalues", 1,000 rows a statement) instead
of one statement per object. On PostgreSQL, COPY is faster still; SQLAlchemy has no COPY API,
so it goes through the session's raw driver connection (asyncpg's ``copy_records_to_table``,
psycopg's ``cursor.copy()``), in the session's transaction.
benchmarks/bulk_insert.py and benchmarks/upsert.py measure every path here.

Run: python -m examples.bulk_load   (SQLite; set DATABASE_URL for PostgreSQL or MariaDB)
"""

# region: bulk_insert
from collections.abc import Iterable, Mapping

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import User


def user_rows(rows: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """Check every row before anything is written: an email and a name, nothing else."""
    checked: list[dict[str, str]] = []
    for number, row in enumerate(rows):
        if set(row) != {"email", "name"}:
            raise ValueError(f"row {number}: expected keys email and name, got {sorted(row)}")
        email, name = row["email"], row["name"]
        if not isinstance(email, str) or not 3 <= len(email) <= 255 or "@" not in email:
            raise ValueError(f"row {number}: not an email address: {email!r}")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ValueError(f"row {number}: name must be 1-100 characters")
        checked.append({"email": email, "name": name})
    return checked


async def insert_users(session: AsyncSession, rows: Iterable[Mapping[str, str]]) -> int:
    """Insert rows without creating ORM objects: the fastest path through the ORM."""
    batch = user_rows(rows)
    if batch:  # an empty list would run one INSERT ... DEFAULT VALUES (a NOT NULL error)
        await session.execute(insert(User), batch)
    return len(batch)


async def insert_users_returning(
    session: AsyncSession, rows: Iterable[Mapping[str, str]]
) -> list[User]:
    """Insert rows and get ORM objects back (ids, server defaults) from RETURNING."""
    batch = user_rows(rows)
    if not batch:
        return []
    result = await session.scalars(insert(User).returning(User), batch)
    return list(result.all())


# endregion: bulk_insert


# region: copy
from typing import Any


async def copy_users(session: AsyncSession, rows: Iterable[Mapping[str, str]]) -> int:
    """PostgreSQL COPY through asyncpg or psycopg: the fastest load, in the session's transaction.

    Raises NotImplementedError on any other database: use insert_users() there.
    """
    conn = await session.connection()  # the session's own connection and transaction
    driver = conn.dialect.driver
    if conn.dialect.name != "postgresql" or driver not in ("asyncpg", "psycopg"):
        raise NotImplementedError(
            f"COPY needs PostgreSQL through asyncpg or psycopg, this session uses "
            f"{conn.dialect.name}+{driver}: use insert_users() instead"
        )
    batch = user_rows(rows)
    if not batch:
        return 0
    records = [(row["email"], row["name"]) for row in batch]
    raw = await conn.get_raw_connection()
    driver_conn: Any = raw.driver_connection  # the driver's own connection, under the adapter
    if driver == "asyncpg":
        if not driver_conn.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs; a COPY
            # sent first, straight to asyncpg, would commit on its own. Open the transaction.
            await conn.exec_driver_sql("SELECT 1")
        status: str = await driver_conn.copy_records_to_table(
            "users",
            records=records,
            columns=["email", "name"],  # omitted columns (id, created_at): server defaults
        )
        return int(status.split()[-1])  # the command tag, e.g. "COPY 100000"
    # psycopg: COPY through a cursor; psycopg itself sends BEGIN before its first command.
    async with driver_conn.cursor() as cursor:
        async with cursor.copy("COPY users (email, name) FROM STDIN") as copy:
            for record in records:
                await copy.write_row(record)
        return int(cursor.rowcount)


# endregion: copy


# region: upsert
from sqlalchemy import Insert

# Each dialect has its own insert() construct, carrying its own conflict clause.
from sqlalchemy.dialects import mysql, postgresql, sqlite


def upsert_users_statement(dialect_name: str) -> Insert:
    """INSERT ... on conflict with users.email (unique): update the name. One per dialect."""
    if dialect_name == "postgresql":
        pg = postgresql.insert(User)
        # excluded: the row that was proposed for insertion
        return pg.on_conflict_do_update(
            index_elements=[User.email], set_={"name": pg.excluded.name}
        )
    if dialect_name == "sqlite":
        lite = sqlite.insert(User)
        return lite.on_conflict_do_update(
            index_elements=[User.email], set_={"name": lite.excluded.name}
        )
    # MySQL and MariaDB (a mariadb+aiomysql:// URL's dialect is named "mariadb"): any unique
    # key conflict triggers the update.
    if dialect_name in ("mysql", "mariadb"):
        my = mysql.insert(User)
        return my.on_duplicate_key_update(name=my.inserted.name)
    raise NotImplementedError(f"no upsert for dialect {dialect_name!r}")


async def upsert_users(session: AsyncSession, rows: Iterable[Mapping[str, str]]) -> list[User]:
    """Insert new emails, rename existing ones; returns the ORM objects of every row given.

    RETURNING needs PostgreSQL, SQLite >= 3.35 or MariaDB >= 10.5 (MySQL has none).
    """
    batch = user_rows(rows)
    emails = [row["email"] for row in batch]
    if len(set(emails)) != len(emails):
        # PostgreSQL refuses a statement that updates one row twice; decide which row wins first.
        raise ValueError("duplicate emails in one upsert: keep one row per email")
    if not batch:
        return []
    stmt = upsert_users_statement(session.get_bind().dialect.name).returning(User)
    # populate_existing: objects already in this session take the upserted values, not stale ones
    result = await session.scalars(stmt, batch, execution_options={"populate_existing": True})
    return list(result.all())


# endregion: upsert


async def main(url: str) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from examples.quickstart import create_tables, drop_tables, make_engine

    engine = make_engine(url)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    await create_tables(engine)
    try:
        rows = [{"email": f"user{i}@example.com", "name": f"User {i}"} for i in range(1000)]
        async with Session() as session, session.begin():
            print(f"bulk insert: {await insert_users(session, rows[:500])} rows")
            back = await insert_users_returning(session, rows[500:600])
            print(f"bulk insert with RETURNING: {len(back)} objects, first id {back[0].id}")
            if engine.dialect.name == "postgresql":
                print(f"COPY: {await copy_users(session, rows[600:])} rows")
            else:
                loaded = await insert_users(session, rows[600:])
                print(f"COPY is PostgreSQL's; bulk insert: {loaded}")
        async with Session() as session, session.begin():
            changed = [
                {"email": f"user{i}@example.com", "name": "Renamed"} for i in range(995, 1005)
            ]
            upserted = await upsert_users(session, changed)
            renamed = await session.scalar(
                select(func.count()).select_from(User).where(User.name == "Renamed")
            )
            total = await session.scalar(select(func.count()).select_from(User))
            print(f"upsert: {len(upserted)} objects back, {renamed} renamed, {total} users in all")
    finally:
        await drop_tables(engine)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
