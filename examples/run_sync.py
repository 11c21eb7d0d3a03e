"""run_sync: call sync-only SQLAlchemy code from async code.

``AsyncConnection.run_sync(fn)`` calls ``fn`` with a sync ``Connection``: DDL
(``metadata.create_all``) and ``inspect()``, which have no async twin. ``AsyncSession.run_sync(fn)``
calls ``fn`` with the sync ``Session`` the AsyncSession wraps: code written for ``Session``
(legacy functions, ``session.query``, libraries that take a Session) runs unchanged.

Inside ``fn`` implicit IO works: a lazy load that raises MissingGreenlet in async code loads here,
because ``fn`` runs in the greenlet whose driver calls are awaited. It still costs one SELECT per
lazy load: N+1 is as slow as in sync code. ``fn`` must be a plain ``def``: run_sync does not
await what it returns.

Run: python -m examples.run_sync   (SQLite; set DATABASE_URL for another database)
"""

# region: models
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class LibraryBase(DeclarativeBase):
    pass


class Author(LibraryBase):
    """A model from sync code: relationships keep the default lazy="select"."""

    __tablename__ = "rs_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author", order_by="Book.id")


class Book(LibraryBase):
    __tablename__ = "rs_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("rs_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


# endregion: models


# region: connection-run-sync
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine


async def create_library_tables(engine: AsyncEngine) -> None:
    # create_all is sync: run_sync passes it a sync Connection and awaits its IO.
    async with engine.begin() as conn:
        await conn.run_sync(LibraryBase.metadata.create_all)


async def column_names(engine: AsyncEngine, table_name: str) -> list[str]:
    """The columns of a table, read with inspect(), which only works on a sync Connection."""

    def read(sync_conn: Connection) -> list[str] | None:
        inspector = inspect(sync_conn)
        if not inspector.has_table(table_name):
            return None
        return [column["name"] for column in inspector.get_columns(table_name)]

    async with engine.connect() as conn:
        names = await conn.run_sync(read)
    if names is None:
        raise ValueError(f"no table named {table_name!r}")
    return names


# endregion: connection-run-sync


# region: session-run-sync
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


def add_books(session: Session, author_name: str, titles: list[str]) -> int:
    """Sync code written for Session (session.query, lazy loads), kept as it is."""
    author = session.query(Author).filter_by(name=author_name).one_or_none()
    if author is None:
        author = Author(name=author_name)
        session.add(author)
    have = {book.title for book in author.books}  # a lazy load: one SELECT, allowed here
    new = [title for title in dict.fromkeys(titles) if title not in have]
    author.books.extend(Book(title=title) for title in new)
    session.flush()
    return len(new)


async def add_books_async(session: AsyncSession, author_name: str, titles: list[str]) -> int:
    """The async caller: validates, then runs the sync function on the session's connection."""
    if not author_name.strip() or not titles or any(not t.strip() for t in titles):
        raise ValueError("need an author name and at least one non-empty title")
    # run_sync(fn, *args) calls fn(sync_session, *args) where its IO can be awaited.
    return await session.run_sync(add_books, author_name, titles)


# endregion: session-run-sync


# region: lazy-inside-run-sync
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


async def book_counts(session: AsyncSession) -> dict[str, int]:
    def count(sync_session: Session) -> dict[str, int]:
        authors = sync_session.scalars(select(Author).order_by(Author.name)).all()
        # author.books lazy-loads: it works inside run_sync, one SELECT per author (N+1).
        return {author.name: len(author.books) for author in authors}

    return await session.run_sync(count)


# endregion: lazy-inside-run-sync


async def main(url: str) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(url)
    try:
        await create_library_tables(engine)
        print(f"rs_books columns: {await column_names(engine, 'rs_books')}")
        Session = async_sessionmaker(engine, expire_on_commit=False)
        async with Session() as session, session.begin():
            added = await add_books_async(session, "Le Guin", ["Earthsea", "The Dispossessed"])
            added += await add_books_async(session, "Le Guin", ["Earthsea", "Lavinia"])
            added += await add_books_async(session, "Lem", ["Solaris"])
        print(f"added {added} books")
        async with Session() as session:
            print(f"books per author: {await book_counts(session)}")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(LibraryBase.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
