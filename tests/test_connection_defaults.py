"""make_engine()'s per-connection settings (examples/quickstart.py), proven where each matters:

* SQLite ignores foreign keys unless every connection turns them on: ON DELETE CASCADE (and
  the models' passive_deletes, which relies on it) does nothing without the pragma;
* MariaDB's NOW() and DATETIME follow the session time zone, which is the server's: a server
  outside UTC shifts every server-default timestamp unless the session pins UTC;
* the models' UTCDateTime gives aware UTC datetimes back on every database, and refuses naive
  ones before any SQL;
* MariaDB outside strict mode (``sql_mode=''``, as older or hand-configured servers run) cuts a
  value that is too long and stores it, with only a warning, unless the session turns strict
  mode on.

Each setting is checked on all three engine factories (quickstart, production, testing) and
the wrong way (a bare create_async_engine) is shown failing where the problem exists.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import URL, delete, func, insert, select, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples import crud
from examples.models import AuditEvent, Base, Post, User
from examples.production import make_production_engine
from examples.quickstart import make_engine
from examples.testing_recipe import make_test_engine
from tests.conftest import Lane

FACTORIES: dict[str, Callable[[URL], AsyncEngine]] = {
    "quickstart": make_engine,
    "production": make_production_engine,
    "testing": make_test_engine,
}

# A server whose time zone is not UTC (no DST, so the offset is the same all year).
FAR_ZONE = {"postgresql": "Asia/Tokyo", "mysql": "+09:00"}


@pytest.fixture
async def tables(db_url: URL) -> AsyncIterator[URL]:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield db_url
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
    finally:
        await engine.dispose()


async def _author_with_post_and_event(Session: async_sessionmaker[AsyncSession]) -> int:
    async with Session() as session, session.begin():
        user = User(email="ada@example.com", name="Ada")
        user.posts.append(Post(title="Notes"))
        user.events.add(AuditEvent(action="signed_up"))
        session.add(user)
    return user.id


async def _children(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        posts = await conn.scalar(select(func.count()).select_from(Post))
        events = await conn.scalar(select(func.count()).select_from(AuditEvent))
    return int(posts or 0), int(events or 0)


# --- SQLite foreign keys -------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
async def test_every_engine_factory_turns_foreign_keys_on(tables: URL, factory: str) -> None:
    engine = FACTORIES[factory](tables)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            # A post whose author does not exist is refused, on every database.
            with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
                await conn.execute(insert(Post).values(title="x", author_id=999))
    finally:
        await engine.dispose()


async def test_bulk_delete_runs_the_foreign_keys_on_delete_cascade(tables: URL) -> None:
    """crud.delete_by_domain() is one DELETE: the database's ON DELETE CASCADE removes posts."""
    engine = make_engine(tables)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        await _author_with_post_and_event(Session)
        async with Session() as session, session.begin():
            assert await crud.delete_by_domain(session, "example.com") == 1
        assert await _children(engine) == (0, 0)
    finally:
        await engine.dispose()


async def test_deleting_a_user_removes_its_write_only_events(tables: URL) -> None:
    """passive_deletes=True: the ORM sends one DELETE for the user; the FK removes its events."""
    engine = make_engine(tables)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        user_id = await _author_with_post_and_event(Session)
        async with Session() as session, session.begin():
            assert await crud.delete_user(session, user_id)
        assert await _children(engine) == (0, 0)
    finally:
        await engine.dispose()


@pytest.mark.lanes("sqlite")  # the other databases enforce foreign keys on every connection
async def test_without_the_pragma_sqlite_ignores_foreign_keys(tables: URL) -> None:
    bare = create_async_engine(tables)  # the wrong way: no connect-time setting
    Session = async_sessionmaker(bare, expire_on_commit=False)
    try:
        await _author_with_post_and_event(Session)
        async with Session() as session, session.begin():
            await session.execute(delete(User))  # as crud.delete_by_domain() does
        assert await _children(bare) == (1, 1)  # orphans: the cascade never ran
        async with bare.begin() as conn:  # and a dangling reference is accepted
            await conn.execute(insert(Post).values(title="x", author_id=999))
    finally:
        await bare.dispose()


# --- time zones ----------------------------------------------------------------------------


def _far_server(url: URL, lane: Lane) -> URL:
    """The same database, reached as if the server's own time zone were FAR_ZONE."""
    if lane.backend == "mysql":
        # aiomysql runs init_command as the connection opens, like a server default would.
        return url.update_query_dict({"init_command": f"SET time_zone = '{FAR_ZONE['mysql']}'"})
    return url


@pytest.fixture
async def far_zone_tables(tables: URL, lane: Lane) -> URL:
    if lane.backend == "postgresql":
        admin = create_async_engine(tables, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                zone = FAR_ZONE["postgresql"]
                database = tables.database
                await conn.execute(text(f"ALTER DATABASE {database} SET timezone TO '{zone}'"))
        finally:
            await admin.dispose()
    return _far_server(tables, lane)


async def _created_at(engine: AsyncEngine) -> datetime.datetime:
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session() as session, session.begin():
        user = User(email="tz@example.com", name="Tz")
        session.add(user)
    return user.created_at  # the server's NOW(), fetched with the INSERT


def _off_by(when: datetime.datetime) -> datetime.timedelta:
    return when - datetime.datetime.now(datetime.UTC)


@pytest.mark.parametrize("factory", FACTORIES)
async def test_server_default_timestamps_are_the_utc_instant_on_a_far_server(
    far_zone_tables: URL, factory: str
) -> None:
    engine = FACTORIES[factory](far_zone_tables)
    try:
        created_at = await _created_at(engine)
        assert created_at.tzinfo is datetime.UTC
        assert abs(_off_by(created_at)) < datetime.timedelta(minutes=5)
    finally:
        await engine.dispose()


@pytest.mark.lanes("mysql")  # PostgreSQL's TIMESTAMPTZ is an instant; SQLite's clock is UTC
async def test_without_the_session_time_zone_mariadb_shifts_server_default_timestamps(
    far_zone_tables: URL,
) -> None:
    bare = create_async_engine(far_zone_tables)  # the wrong way: the server's time zone
    try:
        created_at = await _created_at(bare)
        # NOW() gave +09:00 wall-clock time; DATETIME kept no offset; read back as UTC: 9 h off.
        assert abs(_off_by(created_at) - datetime.timedelta(hours=9)) < datetime.timedelta(
            minutes=5
        )
    finally:
        await bare.dispose()


async def test_aware_datetimes_round_trip_as_the_same_instant_in_utc(session: AsyncSession) -> None:
    sao_paulo = datetime.timezone(datetime.timedelta(hours=-3))
    when = datetime.datetime(2026, 12, 7, 9, 30, tzinfo=sao_paulo)
    user = User(email="ada@example.com", name="Ada", created_at=when)
    session.add(user)
    await session.flush()
    session.expunge_all()
    loaded = await session.scalar(select(User.created_at))
    assert loaded == when
    assert loaded is not None
    assert loaded.tzinfo is datetime.UTC
    assert loaded.hour == 12  # 09:30 at -03:00 is 12:30 UTC


async def test_a_naive_datetime_is_refused_before_any_write(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    naive = datetime.datetime(2026, 12, 7, 9, 30)
    session.add(User(email="ada@example.com", name="Ada", created_at=naive))
    with pytest.raises(StatementError, match=r"naive datetime 2026-12-07 09:30:00: pass an aware"):
        await session.flush()
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(User)) == 0


# --- MariaDB strict mode -------------------------------------------------------------------


def _lax_server(url: URL) -> URL:
    """The same database, reached as if the server ran with sql_mode='' (no strict mode)."""
    return url.update_query_dict({"init_command": "SET SESSION sql_mode = ''"})


async def _store_long_name(engine: AsyncEngine) -> str | None:
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session() as session, session.begin():
        session.add(User(email="long@example.com", name="n" * 150))  # name is String(100)
    async with Session() as session:
        name: str | None = await session.scalar(
            select(User.name).where(User.email == "long@example.com")
        )
        return name


@pytest.mark.lanes("mysql")  # PostgreSQL always refuses; SQLite stores the whole value
async def test_without_strict_mode_mariadb_silently_cuts_a_long_value(tables: URL) -> None:
    bare = create_async_engine(_lax_server(tables))  # the wrong way: the server's sql_mode
    try:
        assert await _store_long_name(bare) == "n" * 100  # 50 characters lost, no error
    finally:
        await bare.dispose()


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.lanes("mysql")
async def test_every_engine_factory_turns_strict_mode_on(tables: URL, factory: str) -> None:
    engine = FACTORIES[factory](_lax_server(tables))
    try:
        async with engine.connect() as conn:
            assert "STRICT_TRANS_TABLES" in str(await conn.scalar(text("SELECT @@sql_mode")))
        with pytest.raises(DataError, match=r"Data too long for column 'name'"):
            await _store_long_name(engine)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(User)) == 0
    finally:
        await engine.dispose()
