"""Work with relationships: a one-to-many with delete-orphan, a many-to-many through an
association table, both sides kept in step by ``back_populates``.

The shared models use ``lazy="raise"``: a collection is only readable when the query that
loaded the object asked for it (``selectinload``), so no hidden IO can happen.

Run: python -m examples.relationships
"""

# region: one_to_many
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from examples.models import Post, Tag, User


def _clean_title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > 255:
        raise ValueError("title must be 1-255 characters")
    return title


async def user_with_posts(session: AsyncSession, user_id: int) -> User | None:
    # selectinload: one extra SELECT ... WHERE author_id IN (...) fills user.posts.
    stmt = select(User).where(User.id == user_id).options(selectinload(User.posts))
    return (await session.scalars(stmt)).one_or_none()


async def add_post(session: AsyncSession, user: User, title: str) -> Post:
    post = Post(title=_clean_title(title))
    user.posts.append(post)  # sets post.author too (back_populates); cascade adds it to the session
    await session.flush()
    return post


async def remove_post(session: AsyncSession, user_id: int, post_id: int) -> bool:
    user = await user_with_posts(session, user_id)
    post = next((p for p in user.posts if p.id == post_id), None) if user else None
    if user is None or post is None:
        return False
    user.posts.remove(post)  # delete-orphan: a post without its author is DELETEd at flush
    await session.flush()
    return True


async def delete_user(session: AsyncSession, user_id: int) -> bool:
    user = await user_with_posts(session, user_id)
    if user is None:
        return False
    await session.delete(user)  # the "delete" cascade: the user's posts are deleted with it
    await session.flush()
    return True


# endregion: one_to_many


# region: many_to_many
def _clean_tag(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 50:
        raise ValueError("tag names must be 1-50 characters")
    return name


async def post_with_tags(session: AsyncSession, post_id: int) -> Post | None:
    stmt = select(Post).where(Post.id == post_id).options(selectinload(Post.tags))
    return (await session.scalars(stmt)).one_or_none()


async def tag_post(session: AsyncSession, post_id: int, names: Sequence[str]) -> Post | None:
    wanted = sorted({_clean_tag(name) for name in names})  # validate all before any write
    post = await post_with_tags(session, post_id)
    if post is None:
        return None
    # Load the other side too, so tag.posts is readable after the append below.
    stmt = select(Tag).where(Tag.name.in_(wanted)).options(selectinload(Tag.posts))
    existing = {tag.name: tag for tag in await session.scalars(stmt)}
    for name in wanted:
        tag = existing.get(name) or Tag(name=name)  # a new object's collections start empty
        if tag not in post.tags:
            post.tags.append(tag)  # back_populates appends the post to tag.posts as well
    await session.flush()  # one INSERT into post_tags per new link
    return post


async def posts_tagged(session: AsyncSession, name: str) -> Sequence[Post]:
    stmt = (
        select(Post)
        .where(Post.tags.any(Tag.name == _clean_tag(name)))
        .options(selectinload(Post.tags))
        .order_by(Post.id)
    )
    return (await session.scalars(stmt)).all()


# endregion: many_to_many


async def main(url: str) -> None:
    from sqlalchemy import func

    from examples.models import post_tags
    from examples.run import example_database

    async with example_database(url) as Session:
        async with Session() as session, session.begin():
            ada = User(email="ada@example.com", name="Ada")
            session.add(ada)
            await session.flush()
        # region: usage
        async with Session() as session, session.begin():
            user = await user_with_posts(session, ada.id)
            assert user is not None
            notes = await add_post(session, user, "Notes")
            draft = await add_post(session, user, "Draft")
            tagged = await tag_post(session, notes.id, ["SQL", "async"])
            assert tagged is not None
            print(f"tags: {[tag.name for tag in tagged.tags]}")
            sql = next(tag for tag in tagged.tags if tag.name == "sql")
            print(f"posts tagged sql: {[post.title for post in sql.posts]}")  # the other side
        async with Session() as session, session.begin():
            await remove_post(session, ada.id, draft.id)  # the orphan is deleted
            user = await user_with_posts(session, ada.id)
            print(f"after remove: {[post.title for post in user.posts] if user else None}")
        async with Session() as session, session.begin():
            await delete_user(session, ada.id)  # posts and their tag links go too
            links = await session.scalar(select(func.count()).select_from(post_tags))
            print(f"after delete: {await session.scalar(select(func.count(Post.id)))} posts")
            print(f"tag links left: {links}")
        # endregion: usage


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
