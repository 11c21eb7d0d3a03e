"""Errors that depend on the database: code that passes on SQLite and fails on PostgreSQL or
MariaDB (or the other way round, silently stores the wrong thing).

SQLite accepts almost anything: strings in integer columns, strings longer than the column,
negative OFFSETs. asyncpg sends typed parameters and PostgreSQL checks them; MariaDB needs
VARCHAR lengths and has no UPDATE ... RETURNING. Test on the database you deploy to.

Run: python -m examples.errors.dialects
"""

# Each region carries its own imports so that it can be copied alone.

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import DateTime, Integer, String, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
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


async def seed(Session: async_sessionmaker[AsyncSession]) -> None:
    async with Session() as session:
        session.add_all([Event(code="A"), Event(code="B"), Event(code="C")])
        await session.commit()


async def main(url: str) -> None:
    db = await open_database(url, DialectBase.metadata)

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
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
