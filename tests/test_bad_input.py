"""Bad input on every lane: SQL injection strings, unknown and out-of-range ids, unicode, NUL
bytes, over-long strings, hostile search terms and cursors. Each outcome is the database's real
behaviour, and no failure leaves a half-written unit of work behind."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import URL, func, inspect, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples import crud, pagination, queries
from examples.models import Base, Post, User
from examples.production import make_production_engine
from tests.conftest import Lane
from tools.statements import count_statements

INJECTIONS = [
    "Robert'); DROP TABLE users;--",
    "' OR '1'='1",
    "' OR 1=1 --",
    "1; DELETE FROM users",
    '"; DROP TABLE posts; --',
    "admin'--",
    "\\'; DROP TABLE users; --",  # backslash-quote: MySQL's string escape
    "x' UNION SELECT email, name FROM users --",
    "%' OR name LIKE '%",
    "' OR SLEEP(5) --",
    "'; SELECT pg_sleep(5); --",
    "`users`; TRUNCATE users",
]
TABLES = {"users", "posts", "tags", "post_tags", "audit_events"}


@contextlib.asynccontextmanager
async def fresh(db_url: URL) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    engine = make_production_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine, async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def stored_names(engine: AsyncEngine) -> list[str]:
    """What a new connection reads back, in insertion order."""
    async with engine.connect() as conn:
        return list((await conn.scalars(select(User.name).order_by(User.id))).all())


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


# --- SQL injection -------------------------------------------------------------------------


async def test_injection_strings_are_stored_and_matched_literally(db_url: URL) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session, session.begin():
            for i, name in enumerate(INJECTIONS):
                await crud.create_user(session, f"user{i}@example.com", name)
            await crud.create_user(session, "o'reilly@example.com", "Tim")

        assert await stored_names(engine) == [*INJECTIONS, "Tim"]
        async with Session() as session:
            for i, name in enumerate(INJECTIONS):
                orm = (await session.scalars(select(User).where(User.name == name))).all()
                assert [user.email for user in orm] == [f"user{i}@example.com"]
                raw = await session.scalars(
                    text("SELECT email FROM users WHERE name = :name"), {"name": name}
                )
                assert raw.all() == [f"user{i}@example.com"]
                # LIKE search: wildcards in the input are escaped, so only literal matches.
                expected = sorted(n for n in INJECTIONS if name.lower() in n.lower())
                found = await queries.search_users(session, name, limit=100)
                assert sorted(user.name for user in found) == expected
                assert (
                    await queries.find_posts(session, queries.PostFilter(title_contains=name)) == []
                )

            tim = await crud.get_user_by_email(session, "O'Reilly@example.com")
            assert tim is not None
            assert tim.name == "Tim"
            assert await crud.get_user_by_email(session, "x' OR '1'='1@example.com") is None
            assert await crud.get_user_by_email(session, "a@b.com' OR 1=1 --") is None

        assert await table_names(engine) >= TABLES
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(User)) == len(INJECTIONS) + 1


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.mark.parametrize(
    ("created_at", "post_id", "reason"),
    [
        ("2026-01-01' OR '1'='1", 1, "bad timestamp"),
        ("2026-01-01T00:00:00", "1 OR 1=1", "bad id"),
        ("2026-01-01T00:00:00", -1, "bad id"),
        ("2026-01-01T00:00:00", 2**31, "bad id"),  # beyond INTEGER: PostgreSQL would refuse it
    ],
)
async def test_tampered_cursor_is_rejected_before_any_sql(
    session: AsyncSession, engine: AsyncEngine, created_at: str, post_id: object, reason: str
) -> None:
    cursor = b64(json.dumps({"created_at": created_at, "id": post_id}).encode())
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match=f"^invalid cursor: {reason}$"),
    ):
        await pagination.posts_after(session, cursor)
    assert log.statements == []


async def test_cursor_values_reach_the_database_only_as_typed_parameters(
    session: AsyncSession,
) -> None:
    # Python's fromisoformat() accepts a trailing NUL; what is sent is a datetime, not the text.
    cursor = b64(json.dumps({"created_at": "2026-01-01T00:00:00+00:00\x00", "id": 5}).encode())
    assert pagination.decode_cursor(cursor) == (
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        5,
    )
    page = await pagination.posts_after(session, cursor)
    assert page.items == []


# --- ids -----------------------------------------------------------------------------------


async def test_unknown_ids_are_none_and_out_of_range_ids_differ_per_dialect(
    db_url: URL, lane: Lane
) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session:
            for unknown in (0, -1, 987_654, 2**31 - 1):
                assert await crud.get_user(session, unknown) is None
                assert await crud.rename_user(session, unknown, "x") is None
                assert await crud.delete_user(session, unknown) is False

        # Beyond the INTEGER column's range: crud answers "no such user" without asking.
        async with Session() as session:
            with count_statements(engine) as log:
                for impossible in (2**31, 2**63, True):
                    assert await crud.get_user(session, impossible) is None
                    assert await crud.delete_user(session, impossible) is False
            assert log.statements == []

        # What the unvalidated call does, per dialect. On PostgreSQL asyncpg refuses the value
        # before sending it (it knows the parameter is an int4); psycopg sends it and the
        # server refuses it.
        async with Session() as session:
            if lane.backend == "postgresql":
                with pytest.raises(DBAPIError) as caught:
                    await session.get(User, 2**31)
                assert_int_out_of_range(caught.value, lane, 2**31)
            else:
                assert await session.get(User, 2**31) is None
        async with Session() as session:
            if lane.backend == "sqlite":
                # Not even a DBAPIError: the sqlite3 module refuses the Python int itself.
                with pytest.raises(OverflowError, match="Python int too large to convert"):
                    await session.get(User, 2**63)
            elif lane.backend == "postgresql":
                with pytest.raises(DBAPIError) as caught:
                    await session.get(User, 2**63)
                assert_int_out_of_range(caught.value, lane, 2**63)
            else:
                assert await session.get(User, 2**63) is None
        assert await stored_names(engine) == []


def assert_int_out_of_range(error: DBAPIError, lane: Lane, value: int) -> None:
    """PostgreSQL's answer to an id beyond INTEGER, through each driver."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if lane.driver == "asyncpg":  # refused by asyncpg itself, before sending
        message = f"invalid input for query argument $1: {value} (value out of int32 range)"
        assert message in str(error)
        assert sqlstate == "22000"
    else:  # psycopg sends it; the server refuses it
        assert type(error) is DataError
        assert "(psycopg.errors.NumericValueOutOfRange) integer out of range" in str(error)
        assert sqlstate == "22003"


# --- unicode -------------------------------------------------------------------------------

UNICODE_NAMES = [
    "👩‍💻 Ada 🚀",  # emoji, one of them a ZWJ sequence
    "עַדָה לאבלייס",  # Hebrew with niqqud: right-to-left, combining marks
    "أدا لوفليس",  # Arabic
    "Ade\u0301le",  # e + COMBINING ACUTE ACCENT (decomposed)
    "Ad\u00e8le",  # è precomposed: a different string, kept apart
    "Z\u0337\u0322a\u0338l\u0335g\u0336o\u0334",  # stacked combining marks
    "艾达·洛夫莱斯",
    "\U0001d504\U0001d521\U0001d51e",  # mathematical fraktur: outside the BMP
    "\u202eevil\u202c",  # RIGHT-TO-LEFT OVERRIDE
    "zero\u200bwidth",
    "tab\there",
    "😀" * 100,  # exactly String(100): the limit counts characters, not bytes
]


async def test_unicode_round_trips_exactly(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session, session.begin():
            for i, name in enumerate(UNICODE_NAMES):
                await crud.create_user(session, f"user{i}@example.com", name)
            await crud.create_user(session, "Ünï@Exämple.com", "Ünï")

        assert await stored_names(engine) == [*UNICODE_NAMES, "Ünï"]
        async with Session() as session:
            user = await crud.get_user_by_email(session, "ünï@exämple.com")
            assert user is not None
            assert user.email == "ünï@exämple.com"  # crud lowercases; non-ASCII too


async def test_string_comparison_follows_the_collation(db_url: URL, lane: Lane) -> None:
    """Round trips are exact everywhere; equality is not: MariaDB's utf8mb4_unicode_ci compares
    case- and accent-insensitively and gives every emoji outside the BMP the same weight."""
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session, session.begin():
            await crud.create_user(session, "adele@example.com", "Ad\u00e8le")
            await crud.create_user(session, "grin@example.com", "😁")

        async def named(name: str) -> list[str]:
            async with Session() as session:
                return list(await session.scalars(select(User.name).where(User.name == name)))

        if lane.backend == "mysql":
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT @@collation_database")) == (
                    "utf8mb4_unicode_ci"
                )
            assert await named("ADELE") == ["Ad\u00e8le"]
            assert await named("😀") == ["😁"]
            assert await named("Ade\u0301le") == ["Ad\u00e8le"]  # decomposed == precomposed
            with pytest.raises(IntegrityError, match="Duplicate entry"):
                async with Session() as session, session.begin():
                    await crud.create_user(session, "ádele@example.com", "accented email")
        else:
            assert await named("ADELE") == []
            assert await named("😀") == []
            assert await named("Ade\u0301le") == []
            async with Session() as session, session.begin():  # a different email here
                await crud.create_user(session, "ádele@example.com", "accented email")


async def test_case_insensitive_search_of_non_ascii_text_depends_on_the_database(
    db_url: URL, lane: Lane
) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session, session.begin():
            await crud.create_user(session, "ecole@example.com", "ÉCOLE")
        async with engine.connect() as conn:
            folds = await conn.scalar(text("SELECT lower('É') = 'é'"))
        if lane.backend == "sqlite":
            assert not folds  # SQLite's lower() folds ASCII only
        elif lane.backend == "mysql":
            assert folds
        # PostgreSQL: lower() folds non-ASCII unless the database's LC_CTYPE is C.
        async with Session() as session:
            found = [user.name for user in await queries.search_users(session, "école")]
            assert found == (["ÉCOLE"] if folds else [])
            assert [user.name for user in await queries.search_users(session, "ÉCOLE")] == ["ÉCOLE"]


# --- NUL bytes and over-long values: nothing half-written ----------------------------------


async def first_row_then(Session: async_sessionmaker[AsyncSession], bad: User) -> None:
    """One unit of work: a good row is INSERTed, then ``bad``, which skipped crud's checks."""
    async with Session() as session, session.begin():
        session.add(User(email="ok@example.com", name="first row"))
        await session.flush()  # the first INSERT has run
        session.add(bad)
        await session.flush()


async def test_nul_byte_is_refused_by_crud_before_any_sql(db_url: URL) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session:
            with count_statements(engine) as log, pytest.raises(ValueError, match="NUL"):
                await crud.create_user(session, "nul@example.com", "Ada\x00Lovelace")
        assert log.statements == []
        assert await stored_names(engine) == []


async def test_nul_byte_without_validation_per_dialect(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):

        async def two_rows() -> None:
            await first_row_then(Session, User(email="nul@example.com", name="Ada\x00Lovelace"))

        if lane.backend == "postgresql":
            with pytest.raises(DBAPIError) as caught:
                await two_rows()
            sqlstate = getattr(caught.value.orig, "sqlstate", None)
            if lane.driver == "asyncpg":  # sent; the server refuses it
                assert 'invalid byte sequence for encoding "UTF8": 0x00' in str(caught.value)
                assert sqlstate == "22021"
            else:  # psycopg refuses it before sending: no SQLSTATE
                assert type(caught.value) is DataError
                assert (
                    "(psycopg.DataError) PostgreSQL text fields cannot contain NUL (0x00) bytes"
                    in str(caught.value)
                )
                assert sqlstate is None
            assert await stored_names(engine) == []  # the first row went with the second
        else:  # MariaDB and SQLite store it, and give it back unchanged
            await two_rows()
            assert await stored_names(engine) == ["first row", "Ada\x00Lovelace"]


async def test_over_long_name_is_refused_by_crud_before_any_sql(db_url: URL) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):
        async with Session() as session:
            with count_statements(engine) as log, pytest.raises(ValueError, match="1-100"):
                await crud.create_user(session, "long@example.com", "x" * 101)
            with count_statements(engine) as log2, pytest.raises(ValueError, match="not an email"):
                await crud.create_user(session, "x" * 250 + "@example.com", "Ada")
        assert log.statements == log2.statements == []
        assert await stored_names(engine) == []


async def test_over_long_name_without_validation_per_dialect(db_url: URL, lane: Lane) -> None:
    async with asyncio.timeout(30), fresh(db_url) as (engine, Session):

        async def two_rows() -> None:
            await first_row_then(Session, User(email="long@example.com", name="x" * 101))

        if lane.backend == "postgresql":
            with pytest.raises(DBAPIError) as caught:
                await two_rows()
            assert "value too long for type character varying(100)" in str(caught.value)
            assert getattr(caught.value.orig, "sqlstate", None) == "22001"
            assert await stored_names(engine) == []
        elif lane.backend == "mysql":
            async with engine.connect() as conn:  # without strict mode it would truncate
                assert "STRICT_TRANS_TABLES" in str(await conn.scalar(text("SELECT @@sql_mode")))
            with pytest.raises(DataError) as caught:
                await two_rows()
            assert caught.value.orig is not None
            assert caught.value.orig.args == (1406, "Data too long for column 'name' at row 1")
            assert await stored_names(engine) == []
            # Wrong: a session without strict mode cuts the value to fit, with only a warning.
            async with engine.begin() as conn:
                await conn.execute(text("SET SESSION sql_mode = ''"))
                await conn.execute(
                    text("INSERT INTO users (email, name) VALUES (:email, :name)"),
                    {"email": "lax@example.com", "name": "x" * 101},
                )
                await conn.execute(text("SET SESSION sql_mode = DEFAULT"))
            assert await stored_names(engine) == ["x" * 100]
        else:  # SQLite ignores VARCHAR lengths: the whole value is stored
            await two_rows()
            assert await stored_names(engine) == ["first row", "x" * 101]


async def test_over_long_title_in_a_search_filter(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    with count_statements(engine) as log, pytest.raises(ValueError, match="1-100 characters"):
        await queries.find_posts(session, queries.PostFilter(title_contains="%" * 101))
    assert log.statements == []
    session.add(Post(title="100%", author=User(email="a@example.com", name="Ada")))
    await session.flush()
    found = await queries.find_posts(session, queries.PostFilter(title_contains="%"))
    assert [post.title for post in found] == ["100%"]
    assert await queries.find_posts(session, queries.PostFilter(title_contains="_")) == []
