"""Errors that depend on the database: code that passes on SQLite and fails on PostgreSQL or
MariaDB (or the other way round, silently stores the wrong thing).

SQLite accepts almost anything: strings in integer columns, strings longer than the column,
negative OFFSETs. asyncpg sends typed parameters and PostgreSQL checks them; MariaDB needs
VARCHAR lengths and has no UPDATE ... RETURNING; MySQL has no RETURNING at all (reproduced on
MariaDB, see ``without_insert_returning``). Test on the database you deploy to.

Run: python -m examples.errors.dialects
"""

# Each region carries its own imports so that it can be copied alone.

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import DateTime, Integer, String, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.errors import capture, open_database, report
from examples.models import UTCDateTime

# isort: split
# region: models
import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CODE_LENGTH = 5


class DialectBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Event(DialectBase):
    __tablename__ = "err_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # TIMESTAMP WITHOUT TIME ZONE on PostgreSQL; DATETIME on MariaDB/SQLite (no offset stored).
    naive_at: Mapped[datetime.datetime | None] = mapped_column(DateTime())
    # The models' UTCDateTime: TIMESTAMPTZ on PostgreSQL, UTC wall-clock DATETIME elsewhere.
    happened_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    seen: Mapped[int] = mapped_column(default=0)


# endregion: models


class NoLengthBase(DeclarativeBase):
    pass


class Untyped(NoLengthBase):
    __tablename__ = "err_untyped"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]  # plain str: String() with no length, VARCHAR on the DDL


async def wrong_varchar_without_length(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(NoLengthBase.metadata.create_all)
    async with engine.begin() as conn:  # (cleanup where it worked)
        await conn.run_sync(NoLengthBase.metadata.drop_all)


# region: fix-varchar-length
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class SizedBase(DeclarativeBase):
    # Every Mapped[str] becomes VARCHAR(255) unless the column says otherwise.
    type_annotation_map = {str: String(255)}


class Sized(SizedBase):
    __tablename__ = "err_sized"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]


# endregion: fix-varchar-length


async def fixed_varchar_length(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(SizedBase.metadata.create_all)
    async with engine.begin() as conn:
        await conn.run_sync(SizedBase.metadata.drop_all)


AWARE = datetime.datetime(
    2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
)


async def wrong_aware_datetime_in_naive_column(session: AsyncSession) -> datetime.datetime | None:
    event = Event(naive_at=AWARE)  # 03:04:05+02:00 into a column without time zone
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event.naive_at


# region: fix-aware-datetime
import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def record_event(session: AsyncSession, when: datetime.datetime) -> datetime.datetime | None:
    if when.tzinfo is None:
        raise ValueError("pass an aware datetime, e.g. datetime.datetime.now(datetime.UTC)")
    # Event.happened_at is a UTCDateTime column (the models' type): the same instant comes
    # back, aware and in UTC, from every database.
    event = Event(happened_at=when)
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event.happened_at


# endregion: fix-aware-datetime


async def wrong_string_for_integer(session: AsyncSession, raw_id: str) -> int:
    # raw_id straight from a URL path or a form: "1", not 1
    stmt = text("SELECT count(*) FROM err_events WHERE id = :id")
    return int((await session.execute(stmt, {"id": raw_id})).scalar_one())


# region: fix-string-for-integer
from sqlalchemy import Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession


async def count_events(session: AsyncSession, raw_id: str) -> int:
    try:
        event_id = int(raw_id)  # convert (and validate) at the edge, not in the database
    except ValueError:
        raise ValueError(f"not an id: {raw_id!r}") from None
    stmt = text("SELECT count(*) FROM err_events WHERE id = :id").bindparams(
        bindparam("id", type_=Integer)
    )
    return int((await session.execute(stmt, {"id": event_id})).scalar_one())


# endregion: fix-string-for-integer


async def wrong_string_too_long(session: AsyncSession) -> str | None:
    event = Event(code="TOO-LONG-CODE")  # 13 characters into String(5)
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event.code


# region: fix-string-too-long
from sqlalchemy.ext.asyncio import AsyncSession


async def add_event_with_code(session: AsyncSession, code: str) -> str | None:
    # The model declares code = String(CODE_LENGTH): check the same limit before the INSERT.
    if not 1 <= len(code) <= CODE_LENGTH:
        raise ValueError(f"code must be 1-{CODE_LENGTH} characters")
    event = Event(code=code)
    session.add(event)
    await session.flush()
    return event.code


# endregion: fix-string-too-long


async def wrong_update_returning(session: AsyncSession) -> list[int]:
    stmt = update(Event).where(Event.seen == 0).values(seen=1).returning(Event.id)
    return list((await session.execute(stmt)).scalars())


# region: fix-update-returning
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession


async def mark_seen(session: AsyncSession) -> list[int]:
    # Portable: lock and read the ids, then update exactly those rows (MariaDB has
    # INSERT/DELETE ... RETURNING but no UPDATE ... RETURNING).
    ids = list(await session.scalars(select(Event.id).where(Event.seen == 0).with_for_update()))
    if ids:
        await session.execute(update(Event).where(Event.id.in_(ids)).values(seen=1))
    return ids


# endregion: fix-update-returning


async def wrong_negative_offset(session: AsyncSession, page: int) -> list[int]:
    size = 5
    stmt = select(Event.id).order_by(Event.id).limit(size).offset((page - 1) * size)
    return list((await session.execute(stmt)).scalars())  # page=0: OFFSET -5


# region: fix-negative-offset
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def event_page(session: AsyncSession, page: int, size: int = 5) -> list[int]:
    if page < 1 or not 1 <= size <= 100:
        raise ValueError("page must be >= 1 and size 1-100")
    stmt = select(Event.id).order_by(Event.id).limit(size).offset((page - 1) * size)
    return list((await session.execute(stmt)).scalars())


# endregion: fix-negative-offset


# MySQL has no RETURNING (MariaDB has INSERT ... RETURNING since 10.5, SQLite since 3.35). No
# MySQL server is in this project's test lanes: the tests reproduce MySQL's code path on MariaDB
# with ``without_insert_returning()``.


async def without_insert_returning(engine: AsyncEngine) -> None:
    """Make SQLAlchemy treat this MariaDB server as MySQL: no INSERT or DELETE ... RETURNING.

    SQLAlchemy's MySQL dialect decides on the engine's first connection: ``insert_returning``
    only for MariaDB >= 10.5, ``delete_returning`` only for MariaDB >= 10.0.5, both False for
    MySQL. Clearing them afterwards (before the first INSERT) makes the ORM and SQLAlchemy's
    checks take MySQL's path. The server itself still accepts RETURNING written by hand.
    """
    if engine.dialect.name not in ("mysql", "mariadb"):
        raise ValueError(f"a MariaDB engine is needed, not {engine.dialect.name}")
    async with engine.connect():
        pass  # the first connection sets the dialect's flags from the server version
    engine.dialect.insert_returning = False
    engine.dialect.delete_returning = False


class MemberWithoutEagerDefaults(DialectBase):
    __tablename__ = "err_members_lazy"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())


async def wrong_server_default_without_returning(session: AsyncSession, email: str) -> "MemberOut":
    # What a FastAPI endpoint does: add, commit, build the response from the object.
    member = MemberWithoutEagerDefaults(email=email)
    session.add(member)
    await session.commit()
    return MemberOut.model_validate(member)  # reads created_at: on MySQL, a SELECT


# region: fix-server-default-without-returning
import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class EagerDefaultsBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}
    # Every class fetches its server defaults (created_at) right after its INSERT: through
    # RETURNING on PostgreSQL, SQLite >= 3.35 and MariaDB >= 10.5, a SELECT on MySQL.
    __mapper_args__: Any = {"eager_defaults": True}


class Member(EagerDefaultsBase):
    __tablename__ = "err_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    created_at: datetime.datetime


async def fixed_server_default_without_returning(session: AsyncSession, email: str) -> MemberOut:
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    member = Member(email=email)
    session.add(member)
    await session.commit()
    return MemberOut.model_validate(member)  # created_at is loaded: no IO here


# endregion: fix-server-default-without-returning


async def wrong_bulk_insert_returning(session: AsyncSession, emails: list[str]) -> list[Member]:
    stmt = insert(Member).returning(Member)
    return list(await session.scalars(stmt, [{"email": email} for email in emails]))


# region: fix-bulk-insert-returning
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession


async def fixed_bulk_insert_returning(session: AsyncSession, emails: list[str]) -> list[Member]:
    if not emails or any("@" not in email for email in emails):
        raise ValueError("need a non-empty list of email addresses")
    # No RETURNING, so it runs on MySQL too; then one SELECT by the unique key reads the rows
    # (ids, server defaults) back.
    await session.execute(insert(Member), [{"email": email} for email in emails])
    rows = await session.scalars(select(Member).where(Member.email.in_(emails)).order_by(Member.id))
    return list(rows)


# endregion: fix-bulk-insert-returning


async def seed(Session: async_sessionmaker[AsyncSession]) -> None:
    async with Session() as session:
        session.add_all([Event(code="A"), Event(code="B"), Event(code="C")])
        await session.commit()


async def as_mysql(url: str) -> None:
    """The RETURNING pairs again on a MariaDB engine that takes MySQL's path."""
    engine = create_async_engine(url)
    await without_insert_returning(engine)
    calls: list[tuple[str, Callable[[AsyncSession, Any], Awaitable[Any]], Any]] = [
        (
            "wrong_server_default_without_returning",
            wrong_server_default_without_returning,
            "e@x.org",
        ),
        (
            "fixed_server_default_without_returning",
            fixed_server_default_without_returning,
            "f@x.org",
        ),
        ("wrong_bulk_insert_returning", wrong_bulk_insert_returning, ["g@x.org"]),
        ("fixed_bulk_insert_returning", fixed_bulk_insert_returning, ["h@x.org"]),
    ]
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            for label, function, argument in calls:
                report(f"{label} (as MySQL)", await capture(function(session, argument)))
                await session.rollback()
    finally:
        await engine.dispose()


async def main(url: str) -> None:
    db = await open_database(url, DialectBase.metadata, EagerDefaultsBase.metadata)

    async def each(label: str, function: Callable[..., Awaitable[Any]], *args: Any) -> None:
        async with db.Session() as session:  # one session at a time: SQLite has one writer
            report(label, await capture(function(session, *args)))

    try:
        await seed(db.Session)
        report(
            "wrong_varchar_without_length", await capture(wrong_varchar_without_length(db.engine))
        )
        report("fixed_varchar_length", await capture(fixed_varchar_length(db.engine)))
        await each("wrong_aware_datetime_in_naive_column", wrong_aware_datetime_in_naive_column)
        await each("record_event", record_event, AWARE)
        await each("wrong_string_for_integer", wrong_string_for_integer, "1")
        await each("count_events", count_events, "1")
        await each("wrong_string_too_long", wrong_string_too_long)
        await each("add_event_with_code", add_event_with_code, "OK-1")
        await each("add_event_with_code (too long)", add_event_with_code, "TOO-LONG-CODE")
        await each("wrong_update_returning", wrong_update_returning)
        await each("mark_seen", mark_seen)
        await each("wrong_negative_offset", wrong_negative_offset, 0)
        await each("event_page", event_page, 1)
        await each("event_page (page 0)", event_page, 0)
        await each(
            "wrong_server_default_without_returning",
            wrong_server_default_without_returning,
            "a@example.com",
        )
        await each(
            "fixed_server_default_without_returning",
            fixed_server_default_without_returning,
            "b@example.com",
        )
        await each("wrong_bulk_insert_returning", wrong_bulk_insert_returning, ["c@example.com"])
        await each("fixed_bulk_insert_returning", fixed_bulk_insert_returning, ["d@example.com"])
        if db.dialect in ("mysql", "mariadb"):  # the same calls on MySQL's path (no RETURNING)
            await as_mysql(url)
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
