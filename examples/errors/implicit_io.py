"""Errors from IO that nobody awaited: lazy loads, expired attributes, detached objects.

Under asyncio every database round trip needs an ``await``. An attribute access is not awaited,
so when reading an attribute would need SQL (a lazy relationship, an attribute expired by commit
or by a server-side UPDATE) SQLAlchemy raises ``MissingGreenlet`` instead; when the object's
session is gone it raises ``DetachedInstanceError``. Each pair here shows the access that fails
and the loading that makes it unnecessary.

Run: python -m examples.errors.implicit_io
"""

# Each region carries its own imports so that it can be copied alone.

# region: models
import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Author(Base):
    __tablename__ = "err_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    # No lazy= option: the default, lazy="select", loads on first attribute access.
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "err_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("err_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class Doc(Base):
    __tablename__ = "err_docs"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    # Set by the database on every UPDATE: Python never sees the value unless it reads it back.
    updated_at: Mapped[datetime.datetime | None] = mapped_column(onupdate=func.now())


# endregion: models


# region: fix-server-value-model
class EagerDoc(Base):
    __tablename__ = "err_eager_docs"
    # Fetch server-generated values in the flush itself: RETURNING, or a SELECT where the
    # database has none (UPDATE on MariaDB; INSERT and UPDATE on MySQL).
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime.datetime | None] = mapped_column(onupdate=func.now())


# endregion: fix-server-value-model


# region: wrong-cascade-all
class Shelf(Base):
    __tablename__ = "err_shelves"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    # "all" = save-update, merge, refresh-expire, expunge, delete: refresh(shelf) expires
    # every book loaded in the session along with it.
    books: Mapped[list["ShelfBook"]] = relationship(cascade="all, delete-orphan", lazy="raise")


class ShelfBook(Base):
    __tablename__ = "err_shelf_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    shelf_id: Mapped[int] = mapped_column(ForeignKey("err_shelves.id"))
    notes: Mapped[list["BookNote"]] = relationship(lazy="raise")


class BookNote(Base):
    __tablename__ = "err_book_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str]
    book_id: Mapped[int] = mapped_column(ForeignKey("err_shelf_books.id"))


# endregion: wrong-cascade-all


from dataclasses import dataclass

from sqlalchemy import create_engine, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples.errors import Database, capture_call, open_database, pair, report
from examples.models import Base as ProjectBase
from examples.models import Post, Tag, User


@dataclass(frozen=True)
class Rows:
    author_id: int
    doc_id: int
    eager_doc_id: int
    user_id: int
    shelf_id: int


async def seed(db: Database) -> Rows:
    """An author with two books, one document of each kind, a project User with a post."""
    async with db.Session() as session:
        author = Author(name="Ursula", books=[Book(title="Lathe"), Book(title="Dispossessed")])
        doc, eager_doc = Doc(title="v1"), EagerDoc(title="v1")
        user = User(email="ada@example.com", name="Ada")
        user.posts.append(Post(title="Notes", tags=[Tag(name="sql")]))
        book = ShelfBook(title="Lathe", notes=[BookNote(text="reread")])
        shelf = Shelf(name="Fiction", books=[book])
        session.add_all([author, doc, eager_doc, user, shelf])
        await session.commit()
        return Rows(author.id, doc.id, eager_doc.id, user.id, shelf.id)


async def wrong_lazy_load(session: AsyncSession, author_id: int) -> list[str]:
    author = await session.get_one(Author, author_id)
    return [book.title for book in author.books]  # lazy load = IO without await: MissingGreenlet


# region: fix-lazy-load
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def fixed_lazy_load(session: AsyncSession, author_id: int) -> list[str]:
    # Load the collection in the query, where the IO is awaited.
    stmt = select(Author).where(Author.id == author_id).options(selectinload(Author.books))
    author = (await session.execute(stmt)).scalar_one()
    return [book.title for book in author.books]


async def fixed_lazy_load_on_demand(session: AsyncSession, author_id: int) -> list[str]:
    # Or load one relationship later, explicitly: AsyncAttrs (on Base) makes it awaitable.
    author = await session.get_one(Author, author_id)
    books = await author.awaitable_attrs.books
    return [book.title for book in books]


# endregion: fix-lazy-load


async def wrong_expired_after_commit(engine: AsyncEngine) -> str:
    Session = async_sessionmaker(engine)  # expire_on_commit=True: the default
    async with Session() as session:
        author = Author(name="Grace")
        session.add(author)
        await session.commit()  # expires every attribute of every object in the session
        return author.name  # reloading it is IO without await: MissingGreenlet


# region: fix-expired-after-commit
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker


async def fixed_expired_after_commit(engine: AsyncEngine) -> str:
    # Keep loaded values after commit; the defaults of this skill's session factory.
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session() as session:
        author = Author(name="Grace")
        session.add(author)
        await session.commit()
        return author.name


# endregion: fix-expired-after-commit


async def wrong_server_value_after_update(
    Session: async_sessionmaker[AsyncSession], doc_id: int
) -> datetime.datetime | None:
    async with Session() as session:
        doc = await session.get_one(Doc, doc_id)
        doc.title = "v2"
        await session.flush()  # UPDATE ... SET updated_at=now(): the value stays in the database
        return doc.updated_at  # expired by the flush: loading it is IO: MissingGreenlet


# region: fix-server-value-after-update
import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def fixed_server_value_after_update(
    Session: async_sessionmaker[AsyncSession], doc_id: int
) -> datetime.datetime | None:
    async with Session() as session:
        doc = await session.get_one(EagerDoc, doc_id)  # mapped with eager_defaults=True
        doc.title = "v2"
        await session.flush()  # the flush reads updated_at back
        return doc.updated_at


async def fixed_server_value_by_refresh(
    Session: async_sessionmaker[AsyncSession], doc_id: int
) -> datetime.datetime | None:
    # Without eager_defaults: read the column back explicitly, with an await.
    async with Session() as session:
        doc = await session.get_one(Doc, doc_id)
        doc.title = "v2"
        await session.flush()
        await session.refresh(doc, ["updated_at"])
        return doc.updated_at


# endregion: fix-server-value-after-update


async def server_default_loaded_after_insert(Session: async_sessionmaker[AsyncSession]) -> bool:
    """INSERT defaults come back through RETURNING on SQLite 3.35+, PostgreSQL and MariaDB 10.5+
    (not on MySQL, which has no RETURNING: see dialects.wrong_server_default_without_returning)."""
    async with Session() as session:
        doc = Doc(title="new")
        session.add(doc)
        await session.flush()
        loaded = "created_at" in doc.__dict__  # loaded by the INSERT itself: no expired attribute
        await session.rollback()
        return loaded


async def wrong_raiseload(session: AsyncSession, user_id: int) -> list[str]:
    user = await session.get_one(User, user_id)
    return [post.title for post in user.posts]  # User.posts is lazy="raise"


# region: fix-raiseload
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def fixed_raiseload(session: AsyncSession, user_id: int) -> list[str]:
    # lazy="raise" did its job: it named the relationship to load. Load it in the query.
    stmt = select(User).where(User.id == user_id).options(selectinload(User.posts))
    user = (await session.execute(stmt)).scalar_one()
    return [post.title for post in user.posts]


# endregion: fix-raiseload


async def wrong_refresh_with_cascade_all(session: AsyncSession, shelf_id: int) -> list[str]:
    stmt = (
        select(Shelf)
        .where(Shelf.id == shelf_id)
        .options(selectinload(Shelf.books).selectinload(ShelfBook.notes))
    )
    shelf = (await session.execute(stmt)).scalar_one()
    book = shelf.books[0]
    await session.refresh(shelf)  # cascade "all": expires the loaded book.notes too
    return [note.text for note in book.notes]  # 'ShelfBook.notes' is not available ...


# region: fix-refresh-cascade
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def fixed_refresh_keeps_children_loaded(session: AsyncSession, user_id: int) -> list[str]:
    # User.posts lists its cascades without refresh-expire (see the models in SKILL.md):
    # refreshing the user leaves what was loaded for its posts in place.
    stmt = (
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.posts).selectinload(Post.tags))
    )
    user = (await session.execute(stmt)).scalar_one()
    post = user.posts[0]
    await session.refresh(user)
    return [tag.name for tag in post.tags]


# endregion: fix-refresh-cascade


async def wrong_detached_lazy_load(
    Session: async_sessionmaker[AsyncSession], author_id: int
) -> list[str]:
    async with Session() as session:
        author = await session.get_one(Author, author_id)
    return [book.title for book in author.books]  # the session is closed: nothing can load it


# region: fix-detached-lazy-load
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload


async def fixed_detached_lazy_load(
    Session: async_sessionmaker[AsyncSession], author_id: int
) -> list[str]:
    # Load everything the caller will touch before the session closes.
    async with Session() as session:
        stmt = select(Author).where(Author.id == author_id).options(selectinload(Author.books))
        author = (await session.execute(stmt)).scalar_one()
    return [book.title for book in author.books]


# endregion: fix-detached-lazy-load


async def wrong_detached_expired(engine: AsyncEngine, author_id: int) -> str:
    Session = async_sessionmaker(engine)  # expire_on_commit=True: the default
    async with Session.begin() as session:  # commits at the end of the block...
        author = await session.get_one(Author, author_id)
    return author.name  # ...which expired author; the session is closed: DetachedInstanceError


# region: fix-detached-expired
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker


async def fixed_detached_expired(engine: AsyncEngine, author_id: int) -> str:
    Session = async_sessionmaker(engine, expire_on_commit=False)
    async with Session.begin() as session:
        author = await session.get_one(Author, author_id)
    return author.name  # still loaded: commit did not expire it


# endregion: fix-detached-expired


def wrong_sync_engine_async_driver(url: str) -> list[str]:
    # e.g. Alembic's default env.py: create_engine() with a "+asyncpg"/"+aiosqlite" URL.
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()  # the async driver's connect is never awaited
    finally:
        engine.dispose()


# region: fix-sync-engine-async-driver
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine


async def fixed_sync_engine_async_driver(url: str) -> list[str]:
    # An async URL needs the async engine; sync-only code runs inside run_sync.
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def table_names(sync_conn: Connection) -> list[str]:
                return inspect(sync_conn).get_table_names()

            return await conn.run_sync(table_names)
    finally:
        await engine.dispose()


# endregion: fix-sync-engine-async-driver


async def main(url: str) -> None:
    db = await open_database(url, Base.metadata, ProjectBase.metadata)
    try:
        rows = await seed(db)
        async with db.Session() as one, db.Session() as two, db.Session() as three:
            await pair(
                "lazy_load",
                wrong_lazy_load(one, rows.author_id),
                fixed_lazy_load(two, rows.author_id),
            )
            print(
                "fixed_lazy_load_on_demand:", await fixed_lazy_load_on_demand(three, rows.author_id)
            )
        await pair(
            "expired_after_commit",
            wrong_expired_after_commit(db.engine),
            fixed_expired_after_commit(db.engine),
        )
        await pair(
            "server_value_after_update",
            wrong_server_value_after_update(db.Session, rows.doc_id),
            fixed_server_value_after_update(db.Session, rows.eager_doc_id),
        )
        refreshed = await fixed_server_value_by_refresh(db.Session, rows.doc_id)
        print("fixed_server_value_by_refresh: updated_at loaded:", refreshed is not None)
        loaded = await server_default_loaded_after_insert(db.Session)
        print("server_default (INSERT) loaded by the flush:", loaded)
        async with db.Session() as one, db.Session() as two:
            await pair(
                "raiseload", wrong_raiseload(one, rows.user_id), fixed_raiseload(two, rows.user_id)
            )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "refresh_with_cascade_all",
                wrong_refresh_with_cascade_all(one, rows.shelf_id),
                fixed_refresh_keeps_children_loaded(two, rows.user_id),
            )
        await pair(
            "detached_lazy_load",
            wrong_detached_lazy_load(db.Session, rows.author_id),
            fixed_detached_lazy_load(db.Session, rows.author_id),
        )
        await pair(
            "detached_expired",
            wrong_detached_expired(db.engine, rows.author_id),
            fixed_detached_expired(db.engine, rows.author_id),
        )
        report("wrong_sync_engine_async_driver", capture_call(wrong_sync_engine_async_driver, url))
        tables = await fixed_sync_engine_async_driver(url)
        print("fixed_sync_engine_async_driver: sees err_authors:", "err_authors" in tables)
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
