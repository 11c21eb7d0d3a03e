"""Load relationships explicitly: the models say lazy="raise", each query says what it needs.

Illustrates ``selectinload`` for collections, ``joinedload`` for many-to-one, ``.unique()`` for
a joined collection, ``raiseload("*")`` for models that keep the default lazy loading,
``session.refresh(obj, ["rel"])`` for an object already in hand, and
``AsyncAttrs.awaitable_attrs``, which needs a lazy loader: with lazy="raise" models, a query opts
in with ``lazyload()``.

Run: python -m examples.loading
"""

# region: selectin
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from examples.models import User


async def users_with_posts(session: AsyncSession) -> Sequence[User]:
    # Two SELECTs for any number of users: the users, then all their posts in one
    # "WHERE posts.author_id IN (...)" (one more SELECT per 500 users).
    stmt = select(User).options(selectinload(User.posts)).order_by(User.id)
    return (await session.scalars(stmt)).all()


# endregion: selectin


# region: joined
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from examples.models import Post


async def posts_with_authors(session: AsyncSession) -> Sequence[Post]:
    # Many-to-one: one SELECT, the author comes from a JOIN on the same row.
    stmt = select(Post).options(joinedload(Post.author)).order_by(Post.id)
    return (await session.scalars(stmt)).all()


# endregion: joined


# region: joined_collection
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from examples.models import User


async def users_with_posts_joined(session: AsyncSession) -> Sequence[User]:
    stmt = select(User).options(joinedload(User.posts)).order_by(User.id)
    # The JOIN repeats each user once per post: unique() folds them back into one object
    # each, and SQLAlchemy refuses to return the rows without it (InvalidRequestError).
    return (await session.scalars(stmt)).unique().all()


# endregion: joined_collection


# region: refresh
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import Post, User


async def load_posts(session: AsyncSession, user: User) -> list[Post]:
    # For an object already in the session: load just the named relationship, with IO
    # that is awaited here instead of hidden in an attribute access.
    await session.refresh(user, ["posts"])
    return user.posts


# endregion: refresh


# region: awaitable_attrs
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from examples.models import User


async def post_counts_one_by_one(session: AsyncSession) -> dict[str, int]:
    # awaitable_attrs awaits the relationship's lazy loader, and lazy="raise" has none:
    # lazyload() puts one back for this query only. It costs one SELECT per user (1 + N);
    # prefer selectinload when you know up front that you need the posts.
    stmt = select(User).options(lazyload(User.posts)).order_by(User.id)
    users = (await session.scalars(stmt)).all()
    return {user.name: len(await user.awaitable_attrs.posts) for user in users}


# endregion: awaitable_attrs


# region: raiseload
from collections.abc import Sequence

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)


class LegacyBase(DeclarativeBase):
    pass


class Author(LegacyBase):
    """A model you cannot change, with the default lazy="select" relationships."""

    __tablename__ = "legacy_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(LegacyBase):
    __tablename__ = "legacy_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("legacy_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


async def authors_with_books(session: AsyncSession) -> Sequence[Author]:
    # raiseload("*"): every relationship this query does not load raises on access,
    # instead of attempting the lazy load that fails with MissingGreenlet under asyncio.
    stmt = select(Author).options(selectinload(Author.books), raiseload("*")).order_by(Author.id)
    return (await session.scalars(stmt)).all()


# endregion: raiseload


async def main(url: str) -> None:
    from sqlalchemy.exc import InvalidRequestError
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from examples.quickstart import create_tables, drop_tables, make_engine

    engine = make_engine(url)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    await create_tables(engine)
    async with engine.begin() as conn:
        await conn.run_sync(LegacyBase.metadata.create_all)
    try:
        async with Session() as session, session.begin():
            for name in ("Ada", "Grace"):
                posts = [Post(title=f"{name} #{n}") for n in (1, 2)]
                session.add(User(email=f"{name.lower()}@example.com", name=name, posts=posts))
            session.add(Author(name="Le Guin", books=[Book(title="The Dispossessed")]))

        async with Session() as session:
            users = await users_with_posts(session)
            print("selectinload:", {u.name: [p.title for p in u.posts] for u in users})
            print(
                "joinedload:", [(p.title, p.author.name) for p in await posts_with_authors(session)]
            )
        async with Session() as session:
            users = await users_with_posts_joined(session)
            print("joinedload + unique():", [(u.name, len(u.posts)) for u in users])
        async with Session() as session:
            user = await session.scalar(select(User).where(User.name == "Ada"))
            assert user is not None
            try:
                user.posts  # noqa: B018 - the access is the point
            except InvalidRequestError as exc:
                print(f"unloaded: {exc}")
            print("refresh:", [p.title for p in await load_posts(session, user)])
        async with Session() as session:
            print("awaitable_attrs:", await post_counts_one_by_one(session))
        async with Session() as session:
            authors = await authors_with_books(session)
            book = authors[0].books[0]
            try:
                book.author  # noqa: B018
            except InvalidRequestError as exc:
                print(f"raiseload: {exc}")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(LegacyBase.metadata.drop_all)
        await drop_tables(engine)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
