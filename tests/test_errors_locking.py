"""examples/errors/locking.py on every lane: version conflicts raise exactly the StaleDataError
references/errors.md quotes and the retry completes them; raw FOR UPDATE fails on SQLite only;
FOR UPDATE with an outer-join eager load fails on PostgreSQL only; each fix works everywhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy import String
from sqlalchemy.exc import DBAPIError, NotSupportedError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.exc import StaleDataError

from examples.errors import Database, capture
from examples.errors import locking as m
from examples.locking import LockingBase
from examples.models import Base
from tests.conftest import Lane
from tools.statements import count_statements
from tools.versions import ASYNCPG_ERRORS_BY_SQLSTATE

STALE_UPDATE = "UPDATE statement on table 'documents' expected to update 1 row(s); 0 were matched."
STALE_DELETE = (
    "DELETE statement on table 'documents' expected to delete 1 row(s); 0 were matched.  "
    "Please set confirm_deleted_rows=False within the mapper configuration to prevent this "
    "warning."
)


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(Base.metadata, LockingBase.metadata) as database:
        await m.seed(database)
        yield database


async def test_concurrent_edit(db: Database) -> None:
    outcome = await capture(m.wrong_concurrent_edit(db.Session))
    assert outcome.error is StaleDataError
    assert outcome.message == STALE_UPDATE
    assert await m.fixed_concurrent_edit(db.Session) == "theirs\nmine\n"


async def test_delete_after_concurrent_edit(db: Database) -> None:
    outcome = await capture(m.wrong_delete_after_concurrent_edit(db.Session))
    assert outcome.error is StaleDataError
    assert outcome.message == STALE_DELETE
    assert await m.fixed_delete_after_concurrent_edit(db.Session) is True


class QuietBase(DeclarativeBase):
    pass


class QuietDocument(QuietBase):
    """A versioned model with the DELETE message's advice applied."""

    __tablename__ = "quiet_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column()
    __mapper_args__ = {"version_id_col": version, "confirm_deleted_rows": False}


async def test_confirm_deleted_rows_false_only_hides_the_conflict(db: Database) -> None:
    """The DELETE message suggests confirm_deleted_rows=False: the stale delete then 'succeeds',
    deletes nothing, and the other transaction's save stays."""
    async with db.engine.begin() as conn:
        await conn.run_sync(QuietBase.metadata.create_all)
    try:
        async with db.Session() as session, session.begin():
            session.add(QuietDocument(id=1, title="Draft"))
        async with db.Session() as mine:
            stale = await mine.get_one(QuietDocument, 1)
            async with db.Session() as other, other.begin():
                (await other.get_one(QuietDocument, 1)).title = "theirs"
            await mine.delete(stale)
            await mine.commit()  # no error, no warning
        async with db.Session() as session:
            kept = await session.get_one(QuietDocument, 1)
            assert (kept.title, kept.version) == ("theirs", 2)
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(QuietBase.metadata.drop_all)


async def test_for_update_in_raw_sql(db: Database, lane: Lane) -> None:
    outcome = await capture(m.in_transaction(db.Session, m.wrong_for_update_in_raw_sql))
    if lane.backend == "sqlite":
        assert outcome.error is OperationalError
        assert re.match(
            r"\(sqlite3\.OperationalError\) near \"FOR\": syntax error\n"
            r"\[SQL: SELECT id FROM users ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED\]",
            outcome.message,
        ), outcome.message
    else:  # PostgreSQL and MariaDB 10.6+ have SKIP LOCKED
        assert outcome.value == [1, 2]
    with count_statements(db.engine) as log:
        assert await m.in_transaction(db.Session, m.fixed_for_update_in_raw_sql) == [1, 2]
    [statement] = log.selects
    lock = "" if lane.backend == "sqlite" else " FOR UPDATE SKIP LOCKED"
    assert re.search(r"LIMIT \S+( OFFSET \S+)?" + re.escape(lock) + "$", statement), statement


async def test_lock_with_outer_join(db: Database, lane: Lane) -> None:
    outcome = await capture(m.in_transaction(db.Session, m.wrong_lock_with_outer_join))
    if lane.driver == "asyncpg":
        # Up to 2.0.58/2.1.9 a plain DBAPIError; then NotSupportedError (SQLSTATE 0A000). 2.0
        # also quotes asyncpg's own class.
        assert outcome.error is (NotSupportedError if ASYNCPG_ERRORS_BY_SQLSTATE else DBAPIError)
        assert re.match(
            r"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.(Error|NotSupportedError)\) "
            r"(<class 'asyncpg\.exceptions\.FeatureNotSupportedError'>: )?"
            r"FOR UPDATE cannot be applied to the nullable side of an outer join",
            outcome.message,
        ), outcome.message
    elif lane.driver == "psycopg":
        assert outcome.error is NotSupportedError
        assert outcome.message.startswith(
            "(psycopg.errors.FeatureNotSupported) FOR UPDATE cannot be applied to the nullable "
            "side of an outer join"
        ), outcome.message
    else:  # MariaDB locks through outer joins; SQLite has no lock clause
        assert outcome.value == ["Ada", "Grace"]
    with count_statements(db.engine) as log:
        assert await m.in_transaction(db.Session, m.fixed_lock_with_outer_join) == [
            "Ada",
            "Grace",
        ]
    [statement] = log.selects
    lock = {"sqlite": "", "postgresql": " FOR UPDATE OF users", "mysql": " FOR UPDATE"}
    assert statement.endswith("ORDER BY users.id" + lock[lane.backend]), statement


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert f"wrong_concurrent_edit: raised sqlalchemy.orm.exc.StaleDataError: {STALE_UPDATE}" in out
    assert "fixed_concurrent_edit: returned 'theirs\\nmine\\n'" in out
    assert "fixed_delete_after_concurrent_edit: returned True" in out
    assert "fixed_for_update_in_raw_sql: returned [1, 2]" in out
    assert "fixed_lock_with_outer_join: returned ['Ada', 'Grace']" in out
