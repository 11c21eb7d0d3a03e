"""Filter queries: where() with and_/or_, optional filters from a typed object, safe search.

User input in a LIKE pattern must be escaped: ``%`` and ``_`` are wildcards, so an unescaped
search for ``_`` matches every row. ``icontains(value, autoescape=True)`` escapes them.

Run: python -m examples.queries
"""

# region: filters
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import Post, Tag, User


async def posts_by_author_since(
    session: AsyncSession, author_id: int, since: datetime.datetime
) -> Sequence[Post]:
    # Several conditions in where() are joined with AND; and_() says the same explicitly.
    stmt = (
        select(Post)
        .where(and_(Post.author_id == author_id, Post.created_at >= since))
        .order_by(Post.id)
    )
    return (await session.scalars(stmt)).all()


async def users_named_or_at(session: AsyncSession, names: list[str], domain: str) -> Sequence[User]:
    stmt = (
        select(User)
        .where(or_(User.name.in_(names), User.email.endswith("@" + domain, autoescape=True)))
        .order_by(User.id)
    )
    return (await session.scalars(stmt)).all()


# endregion: filters


# region: search
MAX_TERM = 100


def clean_term(term: str) -> str:
    term = term.strip()
    if not term or len(term) > MAX_TERM:
        raise ValueError(f"search term must be 1-{MAX_TERM} characters, got {len(term)}")
    return term


async def search_users(session: AsyncSession, term: str, limit: int = 20) -> Sequence[User]:
    """Users whose name or email contains ``term``, case-insensitively, taken literally."""
    term = clean_term(term)
    # autoescape=True escapes %, _ and the escape character itself: the input is matched
    # as text. f"%{term}%" would let a user's "_" or "%" match every row.
    stmt = (
        select(User)
        .where(
            or_(
                User.name.icontains(term, autoescape=True),
                User.email.icontains(term, autoescape=True),
            )
        )
        .order_by(User.name, User.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


# endregion: search


# region: optional_filters
@dataclass(frozen=True)
class PostFilter:
    """Every field is optional: None means "do not filter on this"."""

    author_id: int | None = None
    title_contains: str | None = None
    tag: str | None = None
    created_after: datetime.datetime | None = None


def post_conditions(f: PostFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.author_id is not None:  # `is not None`, not truthiness: 0 is a value
        conditions.append(Post.author_id == f.author_id)
    if f.title_contains is not None:
        conditions.append(Post.title.icontains(clean_term(f.title_contains), autoescape=True))
    if f.tag is not None:
        conditions.append(Post.tags.any(Tag.name == f.tag))  # EXISTS: no join, no duplicates
    if f.created_after is not None:
        conditions.append(Post.created_at > f.created_after)
    return conditions


async def find_posts(session: AsyncSession, f: PostFilter, limit: int = 50) -> Sequence[Post]:
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be 1-100, got {limit}")
    # where(*[]) adds no WHERE clause: an empty filter returns every post.
    stmt = select(Post).where(*post_conditions(f)).order_by(Post.id).limit(limit)
    return (await session.scalars(stmt)).all()


# endregion: optional_filters


async def main(url: str) -> None:
    from examples.run import example_database

    async with example_database(url) as Session:
        async with Session() as session, session.begin():
            ada = User(email="ada@example.com", name="Ada")
            grace = User(email="grace@navy.example", name="Grace_Hopper")
            sql = Tag(name="sql")
            session.add_all([ada, grace])
            session.add(Post(title="100% async", author=ada, tags=[sql]))
            session.add(Post(title="Compilers", author=grace))
        async with Session() as session:
            # region: usage
            found = await search_users(session, "_")  # only names containing "_"
            print(f"search '_': {[user.name for user in found]}")
            posts = await find_posts(session, PostFilter(title_contains="100%", tag="sql"))
            print(f"filtered: {[post.title for post in posts]}")
            everything = await find_posts(session, PostFilter())
            print(f"no filter: {len(everything)} posts")
            # endregion: usage


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
