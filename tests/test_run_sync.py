"""examples/run_sync.py on every lane: sync-only code through AsyncConnection.run_sync and
AsyncSession.run_sync, with exact statement counts; a lazy load works inside run_sync and raises
MissingGreenlet outside."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import URL, func, select
from sqlalchemy.exc import MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_engine

from examples import run_sync
from examples.errors import capture
from examples.errors.dialects import without_insert_returning
from examples.run_sync import Author, Book
from tests.conftest import Lane
from tools.statements import count_statements


@pytest.fixture
async def library(db_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await run_sync.create_library_tables(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def Session(library: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(library, expire_on_commit=False)


async def test_connection_run_sync_runs_ddl_and_inspect(library: AsyncEngine) -> None:
    assert await run_sync.column_names(library, "rs_books") == ["id", "title", "author_id"]
    assert await run_sync.column_names(library, "rs_authors") == ["id", "name"]
    with pytest.raises(ValueError, match="no table named 'nope'"):
        await run_sync.column_names(library, "nope")


async def test_session_run_sync_runs_legacy_code(
    library: AsyncEngine, Session: async_sessionmaker[AsyncSession], lane: Lane
) -> None:
    with count_statements(library) as log:
        async with Session() as session, session.begin():
            added = await run_sync.add_books_async(session, "Le Guin", ["Earthsea", "Lavinia"])
    assert added == 2
    # SELECT the author (none), INSERT the author, INSERT both books.
    # PostgreSQL and MariaDB insert both books in one statement; SQLite sends one per book.
    assert log.count == (4 if lane.backend == "sqlite" else 3)
    assert [s.split()[0] for s in log.statements[:2]] == ["SELECT", "INSERT"]
    with count_statements(library) as log:
        async with Session() as session, session.begin():
            added = await run_sync.add_books_async(
                session, "Le Guin", ["Earthsea", "The Dispossessed", "The Dispossessed"]
            )
    assert added == 1  # Earthsea is there; the repeated title counts once
    # SELECT the author, lazy-load author.books (inside run_sync: allowed), INSERT one book.
    assert log.count == 3
    assert [s.split()[0] for s in log.statements] == ["SELECT", "SELECT", "INSERT"]
    async with Session() as session:
        titles = list(await session.scalars(select(Book.title).order_by(Book.id)))
    assert titles == ["Earthsea", "Lavinia", "The Dispossessed"]


@pytest.mark.lanes("mysql")
async def test_without_returning_each_book_is_its_own_insert(
    library: AsyncEngine, Session: async_sessionmaker[AsyncSession]
) -> None:
    """MySQL's path (no RETURNING; reproduced on MariaDB): each new book's id comes back from
    an INSERT of its own."""
    await without_insert_returning(library)
    with count_statements(library) as log:
        async with Session() as session, session.begin():
            await run_sync.add_books_async(session, "Le Guin", ["Earthsea", "Lavinia"])
    assert [" ".join(s.split()[:3]) for s in log.statements] == [
        "SELECT rs_authors.id AS",
        "INSERT INTO rs_authors",
        "INSERT INTO rs_books",
        "INSERT INTO rs_books",
    ]


@pytest.mark.parametrize(
    ("author", "titles"),
    [("", ["A"]), ("  ", ["A"]), ("Lem", []), ("Lem", ["Solaris", " "])],
)
async def test_add_books_rejects_bad_input_before_any_sql(
    library: AsyncEngine,
    Session: async_sessionmaker[AsyncSession],
    author: str,
    titles: list[str],
) -> None:
    with count_statements(library) as log:
        async with Session() as session:
            with pytest.raises(ValueError, match="need an author name"):
                await run_sync.add_books_async(session, author, titles)
    assert log.count == 0
    async with Session() as session:
        assert await session.scalar(select(func.count()).select_from(Author)) == 0


async def _three_authors(Session: async_sessionmaker[AsyncSession]) -> None:
    async with Session() as session, session.begin():
        session.add_all(
            [
                Author(name="Le Guin", books=[Book(title="Earthsea"), Book(title="Lavinia")]),
                Author(name="Lem", books=[Book(title="Solaris")]),
                Author(name="Tolstoy"),
            ]
        )


async def test_lazy_load_inside_run_sync_is_one_select_per_parent(
    library: AsyncEngine, Session: async_sessionmaker[AsyncSession]
) -> None:
    await _three_authors(Session)
    with count_statements(library) as log:
        async with Session() as session:
            counts = await run_sync.book_counts(session)
    assert counts == {"Le Guin": 2, "Lem": 1, "Tolstoy": 0}
    assert log.count == 1 + 3  # the authors, then one lazy load per author: N+1


async def test_the_same_lazy_load_outside_run_sync_raises(
    library: AsyncEngine, Session: async_sessionmaker[AsyncSession], lane: Lane
) -> None:
    await _three_authors(Session)

    async def count_in_async_code() -> dict[str, int]:
        async with Session() as session:
            authors = (await session.scalars(select(Author).order_by(Author.name))).all()
            return {author.name: len(author.books) for author in authors}

    outcome = await capture(count_in_async_code())
    # MissingGreenlet itself, or wrapped in a StatementError whose .orig it is (which drivers
    # wrap it: references/errors.md); the same text either way.
    assert outcome.error is MissingGreenlet or (
        outcome.error is StatementError and outcome.cause is MissingGreenlet
    ), outcome
    assert re.search(
        r"greenlet_spawn has not been called; can't call await_(only)?\(\) here", outcome.message
    ), outcome.message


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await run_sync.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "rs_books columns: ['id', 'title', 'author_id']" in out
    assert "added 4 books" in out
    assert "books per author: {'Le Guin': 3, 'Lem': 1}" in out
