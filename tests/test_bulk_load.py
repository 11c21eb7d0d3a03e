"""examples/bulk_load.py on every lane: ORM bulk insert, COPY (PostgreSQL only), upserts."""

import contextlib
import re
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples import bulk_load
from examples.models import Base, User
from tests.conftest import Lane
from tools.statements import count_statements


def _rows(start: int, stop: int, name: str = "User") -> list[dict[str, str]]:
    return [{"email": f"user{i}@example.com", "name": f"{name} {i}"} for i in range(start, stop)]


async def _count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


def _inserts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("INSERT")]


async def test_bulk_insert_sends_one_executemany_and_no_objects(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    with count_statements(engine) as log:
        assert await bulk_load.insert_users(session, _rows(0, 2500)) == 2500
    assert len(_inserts(log.statements)) == 1  # one executemany call for 2,500 rows
    assert len(session.identity_map) == 0  # no ORM objects were made
    assert await _count(session) == 2500


async def test_bulk_insert_returning_gives_objects_in_batches_of_1000(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    with count_statements(engine) as log:
        users = await bulk_load.insert_users_returning(session, _rows(0, 2500))
    # insertmanyvalues: multi-row INSERT ... RETURNING, 1,000 rows a statement
    assert len(_inserts(log.statements)) == 3
    assert len(users) == 2500
    assert all(isinstance(u.id, int) and u.created_at is not None for u in users)
    assert {u.email for u in users} == {row["email"] for row in _rows(0, 2500)}
    assert users[0] in session  # real ORM objects, in the identity map


async def test_empty_input_sends_nothing(session: AsyncSession, engine: AsyncEngine) -> None:
    with count_statements(engine) as log:
        assert await bulk_load.insert_users(session, []) == 0
        assert await bulk_load.insert_users_returning(session, []) == []
        assert await bulk_load.upsert_users(session, []) == []
    assert log.count == 0


async def test_execute_with_an_empty_list_inserts_a_row_of_defaults(
    session: AsyncSession, lane: Lane
) -> None:
    """Why insert_users() checks for an empty batch: [] means "one row, no values"."""
    error: type[DBAPIError] = OperationalError if lane.backend == "mysql" else IntegrityError
    message = {
        "postgresql": r'null value in column "email" of relation "users" violates not-null',
        "sqlite": r"NOT NULL constraint failed: users\.email",
        "mysql": r"1364, \"Field 'email' doesn't have a default value\"",
    }[lane.backend]
    with pytest.raises(error, match=message) as caught:
        await session.execute(insert(User), [])
    assert re.search(r"INSERT INTO users (DEFAULT VALUES|\(\) VALUES \(\))", str(caught.value))
    await session.rollback()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"email": "x@example.com"}, r"row 1: expected keys email and name, got \['email'\]"),
        (
            {"email": "x@example.com", "name": "X", "id": 7},
            r"row 1: expected keys email and name, got \['email', 'id', 'name'\]",
        ),
        ({"email": "no-at-sign", "name": "X"}, r"row 1: not an email address: 'no-at-sign'"),
        ({"email": 42, "name": "X"}, r"row 1: not an email address: 42"),
        ({"email": "x@example.com", "name": ""}, r"row 1: name must be 1-100 characters"),
        ({"email": "x@example.com", "name": "n" * 101}, r"row 1: name must be 1-100 characters"),
    ],
)
async def test_bad_rows_are_rejected_before_any_write(
    session: AsyncSession, engine: AsyncEngine, lane: Lane, bad: dict[str, Any], message: str
) -> None:
    rows = [{"email": "ok@example.com", "name": "Ok"}, bad]
    loaders = [bulk_load.insert_users, bulk_load.insert_users_returning, bulk_load.upsert_users]
    if lane.backend == "postgresql":
        loaders.append(bulk_load.copy_users)
    for load in loaders:
        with count_statements(engine) as log, pytest.raises(ValueError, match=message):
            await load(session, rows)
        assert _inserts(log.statements) == []
    assert await _count(session) == 0


async def test_copy_loads_rows_inside_the_session_transaction(
    session: AsyncSession, lane: Lane
) -> None:
    if lane.backend != "postgresql":
        with pytest.raises(NotImplementedError) as caught:
            await bulk_load.copy_users(session, _rows(0, 10))
        dialect = session.get_bind().dialect
        assert str(caught.value) == (
            f"COPY needs PostgreSQL through asyncpg or psycopg, this session uses "
            f"{dialect.name}+{dialect.driver}: use insert_users() instead"
        )
        assert await _count(session) == 0
        return

    assert await bulk_load.copy_users(session, _rows(0, 3000)) == 3000
    users = (await session.scalars(select(User).order_by(User.id))).all()
    assert [u.email for u in users] == [row["email"] for row in _rows(0, 3000)]
    # COPY left id and created_at to their server defaults (the sequence, now())
    assert [u.id for u in users] == list(range(users[0].id, users[0].id + 3000))
    assert all(u.created_at is not None for u in users)
    assert await bulk_load.copy_users(session, []) == 0
    # Same transaction as the session: rolling the session back removes the copied rows.
    await session.rollback()
    assert await _count(session) == 0


async def driver_in_transaction(session: AsyncSession, lane: Lane) -> bool:
    """What the driver itself says: is its connection inside a transaction (BEGIN sent)?"""
    raw = await (await session.connection()).get_raw_connection()
    driver_connection: Any = raw.driver_connection
    if lane.driver == "asyncpg":
        return bool(driver_connection.is_in_transaction())
    status = driver_connection.info.transaction_status  # psycopg
    return bool(status == psycopg.pq.TransactionStatus.INTRANS)


class Abort(Exception):
    """Raised inside ``session.begin()`` to make the session roll back."""


@pytest.mark.lanes("postgresql")  # COPY is PostgreSQL's
@pytest.mark.parametrize("copy_first", [True, False], ids=["copy-first", "copy-after-a-select"])
@pytest.mark.parametrize("ending", ["rollback", "commit"])
async def test_copy_commits_or_rolls_back_with_the_session(
    lane: Lane, copy_first: bool, ending: str
) -> None:
    """A fresh session (not the rolled-back fixture): COPY may be its transaction's first
    statement, and neither driver has sent BEGIN before the first statement."""
    async with lane.database_with(Base.metadata) as db:
        aborted = pytest.raises(Abort) if ending == "rollback" else contextlib.nullcontext()
        with aborted:
            async with db.Session() as session, session.begin():
                if copy_first:
                    assert not await driver_in_transaction(session, lane)  # no BEGIN yet
                else:
                    assert await _count(session) == 0
                assert await bulk_load.copy_users(session, _rows(0, 2)) == 2
                assert await driver_in_transaction(session, lane)
                if ending == "rollback":
                    raise Abort
        async with db.Session() as session:
            assert await _count(session) == (0 if ending == "rollback" else 2)


@pytest.mark.lanes("postgresql+asyncpg")
async def test_asyncpg_copy_sent_first_escapes_the_session_transaction(lane: Lane) -> None:
    """Why copy_users() runs a statement first on asyncpg: without it, a COPY that is the
    transaction's first statement commits on its own, whatever the session does."""
    async with lane.database_with(Base.metadata) as db:

        async def copy_first_then_fail() -> None:
            async with db.Session() as session, session.begin():
                raw = await (await session.connection()).get_raw_connection()
                asyncpg_conn: Any = raw.driver_connection
                await asyncpg_conn.copy_records_to_table(
                    "users", records=[("a@example.com", "A")], columns=["email", "name"]
                )
                assert not asyncpg_conn.is_in_transaction()  # SQLAlchemy sent no BEGIN yet
                raise Abort

        with pytest.raises(Abort):
            await copy_first_then_fail()
        async with db.Session() as session:
            assert await _count(session) == 1  # the rollback did not remove it


async def test_upsert_inserts_new_and_updates_existing_objects(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    await bulk_load.insert_users(session, _rows(0, 4, "Old"))
    existing = (await session.scalars(select(User).order_by(User.id))).all()

    incoming = _rows(2, 6, "New")  # users 2 and 3 exist: renamed; 4 and 5 are new
    with count_statements(engine) as log:
        upserted = await bulk_load.upsert_users(session, incoming)
    assert len(_inserts(log.statements)) == 1

    assert sorted(u.email for u in upserted) == sorted(row["email"] for row in incoming)
    assert {u.name for u in upserted} == {"New 2", "New 3", "New 4", "New 5"}
    # populate_existing refreshed the objects this session already held
    assert [u.name for u in existing] == ["Old 0", "Old 1", "New 2", "New 3"]
    assert existing[2] in upserted
    assert await _count(session) == 6


async def test_without_populate_existing_objects_in_the_session_stay_stale(
    session: AsyncSession,
) -> None:
    """Why upsert_users() passes populate_existing: the identity map wins over RETURNING."""
    await bulk_load.insert_users(session, _rows(0, 1, "Old"))
    user = await session.scalar(select(User))
    assert user is not None
    stmt = bulk_load.upsert_users_statement(session.get_bind().dialect.name)
    returned = (await session.scalars(stmt.returning(User), _rows(0, 1, "New"))).all()
    assert returned == [user]
    assert user.name == "Old 0"  # stale: the database says "New 0"
    await session.refresh(user)
    assert user.name == "New 0"


async def test_upsert_in_batches_of_1000(session: AsyncSession, engine: AsyncEngine) -> None:
    await bulk_load.insert_users(session, _rows(0, 1250))
    with count_statements(engine) as log:
        upserted = await bulk_load.upsert_users(session, _rows(0, 2500, "New"))
    assert len(_inserts(log.statements)) == 3
    assert len(upserted) == 2500
    assert await _count(session) == 2500
    renamed = select(func.count()).select_from(User).where(User.name.startswith("New"))
    assert await session.scalar(renamed) == 2500


async def test_upsert_refuses_duplicate_keys_in_one_call(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    rows = [{"email": "a@example.com", "name": "First"}, {"email": "a@example.com", "name": "Two"}]
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match="duplicate emails in one upsert: keep one row per email"),
    ):
        await bulk_load.upsert_users(session, rows)
    assert log.count == 0


async def test_what_each_database_does_with_duplicate_keys_in_one_upsert(
    session: AsyncSession, lane: Lane
) -> None:
    """The reason for the check above: PostgreSQL fails, the others let the last row win."""
    stmt = bulk_load.upsert_users_statement(session.get_bind().dialect.name)
    rows = [{"email": "a@example.com", "name": "First"}, {"email": "a@example.com", "name": "Two"}]
    if lane.backend == "postgresql":
        with pytest.raises(
            DBAPIError, match="ON CONFLICT DO UPDATE command cannot affect row a second time"
        ):
            await session.execute(stmt.returning(User.id), rows)
        await session.rollback()
        assert await _count(session) == 0
    else:
        await session.execute(stmt.returning(User.id), rows)
        assert await session.scalar(select(User.name)) == "Two"


def test_upsert_statement_for_an_unknown_dialect() -> None:
    with pytest.raises(NotImplementedError, match="no upsert for dialect 'oracle'"):
        bulk_load.upsert_users_statement("oracle")


async def test_main_runs(db_url: URL, lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await bulk_load.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "bulk insert: 500 rows\nbulk insert with RETURNING: 100 objects, first id 501\n" in out
    if lane.backend == "postgresql":
        assert "COPY: 400 rows\n" in out
    else:
        assert "COPY is PostgreSQL's; bulk insert: 400\n" in out
    assert "upsert: 10 objects back, 10 renamed, 1005 users in all\n" in out
