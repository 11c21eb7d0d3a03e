"""examples/raw_sql.py on every lane: bound parameters take hostile input literally, typed
columns convert results, expanding IN lists; and the f-string SQL that lets input become SQL."""

import datetime
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy import URL, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, InternalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples import raw_sql
from examples.models import Base, User
from tests.conftest import Lane, make_test_engine
from tools.statements import count_statements

HOSTILE = "x'; DROP TABLE users; --"


async def add_users(session: AsyncSession) -> dict[str, int]:
    users = [
        User(email="ada@example.com", name="Ada"),
        User(email="bobby@example.com", name=HOSTILE),
        User(email="conan@example.com", name="O'Brien"),
    ]
    session.add_all(users)
    await session.flush()
    return {user.name: user.id for user in users}


async def test_bound_parameters_take_input_literally(session: AsyncSession) -> None:
    ids = await add_users(session)
    assert await raw_sql.ids_named(session, HOSTILE) == [ids[HOSTILE]]
    assert await raw_sql.ids_named(session, "O'Brien") == [ids["O'Brien"]]
    assert await raw_sql.ids_named(session, "x") == []
    assert await session.scalar(select(func.count()).select_from(User)) == 3  # table intact


@pytest.fixture
async def committed(db_url: URL) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database with committed users: the f-string tests run real SQL."""
    engine = make_test_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with async_sessionmaker(engine)() as session, session.begin():
            await add_users(session)
        yield engine
    finally:
        await engine.dispose()


async def wrong_way_ids_named(session: AsyncSession, name: str) -> list[int]:
    """User input formatted into the SQL string: the input becomes SQL."""
    result = await session.execute(text(f"SELECT id FROM users WHERE name = '{name}'"))
    return [row.id for row in result]


async def test_wrong_way_fstring_runs_the_input_as_sql(committed: AsyncEngine, lane: Lane) -> None:
    async with async_sessionmaker(committed)() as session:
        # The quote ends the string literal; the rest of the input is parsed as SQL.
        if lane.backend == "sqlite":
            with pytest.raises(ProgrammingError, match="You can only execute one statement"):
                await wrong_way_ids_named(session, HOSTILE)
        elif lane.driver == "asyncpg":
            with pytest.raises(
                DBAPIError, match="cannot insert multiple commands into a prepared statement"
            ):
                await wrong_way_ids_named(session, HOSTILE)
        elif lane.driver == "psycopg":
            # psycopg sends a statement without parameters as a simple query, which may hold
            # several statements: the DROP TABLE ran, and only the foreign key stopped it.
            with pytest.raises(
                InternalError, match="cannot drop table users because other objects depend on it"
            ) as caught:
                await wrong_way_ids_named(session, HOSTILE)
            assert getattr(caught.value.orig, "sqlstate", None) == "2BP01"
        else:
            # aiomysql runs several statements per call: the DROP TABLE was executed, and
            # only the foreign key from posts stopped it. The driver raises its own error
            # (unwrapped) while it reads the second statement's result.
            with pytest.raises(Exception, match="Cannot delete or update a parent row") as info:
                await wrong_way_ids_named(session, HOSTILE)
            assert type(info.value).__module__ == "pymysql.err"
            assert info.value.args[0] == 1451
        await session.rollback()

        with pytest.raises(DBAPIError, match=r"(?i)syntax"):
            await wrong_way_ids_named(session, "O'Brien")  # an honest name breaks it too
        await session.rollback()

        # One statement is enough to read every row: the condition is now always true.
        assert len(await wrong_way_ids_named(session, "x' OR 'a'='a")) == 3
        assert await raw_sql.ids_named(session, "x' OR 'a'='a") == []
        await session.rollback()

        # A table that nothing references is not protected by a foreign key.
        drop_audit = "x'; DROP TABLE audit_events; --"
        if lane.driver == "psycopg":
            # No error at all: the table is gone, inside the transaction (PostgreSQL's DDL is
            # transactional: the rollback below brings it back; a commit would not).
            assert await wrong_way_ids_named(session, drop_audit) == []
            assert await session.scalar(text("SELECT to_regclass('audit_events')")) is None
        elif lane.backend == "mysql":
            # The DROP runs (DDL commits at once, no rollback brings it back); only the third
            # "statement", the leftover --', is a syntax error.
            with pytest.raises(Exception, match=r"1064.*near '--''") as info:
                await wrong_way_ids_named(session, drop_audit)
            assert type(info.value).__module__ == "pymysql.err"
        else:
            with pytest.raises(DBAPIError, match=r"one statement|multiple commands"):
                await wrong_way_ids_named(session, drop_audit)
        await session.rollback()

    async with committed.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert "users" in tables
    assert ("audit_events" in tables) is (lane.backend != "mysql")  # dropped by user input


async def test_typed_columns_convert_results(session: AsyncSession, lane: Lane) -> None:
    ids = await add_users(session)
    rows = await raw_sql.signups(session, [ids["Ada"], ids["O'Brien"]])
    assert [(row.id, row.name) for row in rows] == [
        (ids["Ada"], "Ada"),
        (ids["O'Brien"], "O'Brien"),
    ]
    assert all(isinstance(row.created_at, datetime.datetime) for row in rows)

    untyped = await session.scalar(
        text("SELECT created_at FROM users WHERE id = :id"), {"id": ids["Ada"]}
    )
    if lane.backend == "sqlite":
        assert isinstance(untyped, str)  # SQLite has no datetime type: text comes back as text
    else:
        assert isinstance(untyped, datetime.datetime)


async def test_expanding_in_list(session: AsyncSession, engine: AsyncEngine) -> None:
    ids = await add_users(session)
    wanted = [ids[HOSTILE], ids["Ada"], 987654]
    with count_statements(engine) as log:
        rows = await raw_sql.signups(session, wanted)
    assert log.count == 1
    assert [row.id for row in rows] == sorted([ids[HOSTILE], ids["Ada"]])
    assert await raw_sql.signups(session, []) == []  # an empty list is valid SQL too


async def test_too_many_ids_is_rejected_before_any_sql(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match=r"^at most 1000 ids per call, got 1001$"),
    ):
        await raw_sql.signups(session, list(range(1001)))
    assert log.statements == []


async def test_from_statement_gives_identity_mapped_users(session: AsyncSession) -> None:
    ids = await add_users(session)
    ada = await session.get(User, ids["Ada"])
    users = await raw_sql.users_from_sql(session, [ids["Ada"], ids["O'Brien"]])
    assert users[0] is ada  # the same object the session already holds
    assert [user.name for user in users] == ["Ada", "O'Brien"]
    assert isinstance(users[1].created_at, datetime.datetime)


async def test_text_sees_pending_objects_on_21_only(session: AsyncSession) -> None:
    session.add(User(email="new@example.com", name="Pending"))
    found = await raw_sql.ids_named(session, "Pending")
    if sqlalchemy.__version__.startswith("2.0."):
        assert found == []  # 2.0 does not autoflush before text(): flush first
        await session.flush()
        assert len(await raw_sql.ids_named(session, "Pending")) == 1
    else:
        assert len(found) == 1  # 2.1 autoflushes before every execute, text() included


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await raw_sql.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "Ada: [1]" in out
    assert "hostile name matched literally: [2]" in out
    assert "signups: [('Ada', 'datetime'), (\"x'; DROP TABLE users; --\", 'datetime')]" in out
    assert "as User objects: ['ada@example.com']" in out
    assert "users table intact: 2 rows" in out
