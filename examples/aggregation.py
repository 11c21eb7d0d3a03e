"""Aggregate with GROUP BY and HAVING: post counts per user, users with no posts included.

An outer join keeps users without posts; count(Post.id) counts 0 for them, where count(*)
would count the NULL row as 1. Results are converted to a NamedTuple, typed the same on
SQLAlchemy 2.0 and 2.1.

Run: python -m examples.aggregation
"""

# region: post_counts
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import Post, User


class PostCount(NamedTuple):
    user_id: int
    name: str
    posts: int


async def post_counts(session: AsyncSession) -> list[PostCount]:
    n_posts = func.count(Post.id)  # counts non-NULL ids: 0 for a user without posts
    stmt = (
        select(User.id, User.name, n_posts)
        .outerjoin(Post, Post.author_id == User.id)  # LEFT OUTER JOIN keeps post-less users
        .group_by(User.id, User.name)
        .order_by(n_posts.desc(), User.id)
    )
    result = await session.execute(stmt)
    # A NamedTuple types the rows the same on 2.0 and 2.1 (Row's own typing differs, and
    # 2.1 deprecates result.tuples()).
    return [PostCount(*row) for row in result]


# endregion: post_counts


# region: having
async def prolific_users(session: AsyncSession, min_posts: int) -> list[PostCount]:
    if min_posts < 1:
        raise ValueError(f"min_posts must be at least 1, got {min_posts}")
    n_posts = func.count(Post.id)
    stmt = (
        select(User.id, User.name, n_posts)
        .join(
            Post, Post.author_id == User.id
        )  # inner join is right here: 0-post users can't qualify
        .group_by(User.id, User.name)
        .having(n_posts >= min_posts)  # HAVING filters groups; WHERE filters rows before grouping
        .order_by(n_posts.desc(), User.id)
    )
    result = await session.execute(stmt)
    return [PostCount(*row) for row in result]


async def total_posts(session: AsyncSession) -> int:
    # scalar() of a COUNT is never None, but it is typed Optional: `or 0` satisfies both.
    return await session.scalar(select(func.count()).select_from(Post)) or 0


# endregion: having


async def main(url: str) -> None:
    from examples.run import example_database

    async with example_database(url) as Session:
        async with Session() as session, session.begin():
            ada = User(email="ada@example.com", name="Ada")
            grace = User(email="grace@example.com", name="Grace")
            session.add_all([ada, grace, User(email="linus@example.com", name="Linus")])
            session.add_all(Post(title=f"note {i}", author=ada) for i in range(3))
            session.add(Post(title="COBOL", author=grace))
        async with Session() as session:
            # region: usage
            for row in await post_counts(session):
                print(f"{row.name}: {row.posts}")
            prolific = await prolific_users(session, min_posts=2)
            print(f"at least 2 posts: {[row.name for row in prolific]}")
            print(f"total: {await total_posts(session)}")
            # endregion: usage


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
