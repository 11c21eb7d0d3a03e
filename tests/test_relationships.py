"""examples/relationships.py on every lane: delete-orphan, cascades, a many-to-many kept in step
on both sides, and collections that load only when asked for."""

import re
from typing import Any

import pytest
from sqlalchemy import URL, func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from examples import relationships
from examples.models import Post, Tag, User, post_tags
from tools.statements import count_statements


async def count(session: AsyncSession, what: Any) -> int:
    return await session.scalar(select(func.count()).select_from(what)) or 0


async def add_author(session: AsyncSession, *titles: str) -> User:
    user = User(email="ada@example.com", name="Ada", posts=[Post(title=t) for t in titles])
    session.add(user)
    await session.flush()
    session.expunge_all()  # what follows loads from the database, as a new request would
    return user


async def test_collections_load_only_when_asked(session: AsyncSession, engine: AsyncEngine) -> None:
    user = await add_author(session, "one", "two")
    plain = await session.get(User, user.id)
    assert plain is not None
    with pytest.raises(
        InvalidRequestError, match=re.escape("'User.posts' is not available due to lazy='raise'")
    ):
        _ = plain.posts
    session.expunge_all()
    with count_statements(engine) as log:
        loaded = await relationships.user_with_posts(session, user.id)
    assert log.count == 2  # the user, then SELECT posts ... WHERE author_id IN (...)
    assert loaded is not None
    assert sorted(post.title for post in loaded.posts) == ["one", "two"]


async def test_add_post_sets_both_sides(session: AsyncSession) -> None:
    user = await add_author(session)
    loaded = await relationships.user_with_posts(session, user.id)
    assert loaded is not None
    post = await relationships.add_post(session, loaded, "  Notes ")
    assert post.id is not None
    assert post.author is loaded
    assert post.author_id == loaded.id
    assert post.title == "Notes"


async def test_removing_a_post_from_the_collection_deletes_it(session: AsyncSession) -> None:
    user = await add_author(session, "keep", "drop")
    drop_id = await session.scalar(select(Post.id).where(Post.title == "drop"))
    assert drop_id is not None
    assert await relationships.remove_post(session, user.id, drop_id) is True
    assert await session.get(Post, drop_id) is None
    assert await session.scalar(select(Post.title)) == "keep"
    assert await relationships.remove_post(session, user.id, drop_id) is False
    assert await relationships.remove_post(session, 987654, drop_id) is False


async def test_deleting_a_user_deletes_posts_and_their_tag_links(session: AsyncSession) -> None:
    user = await add_author(session, "one", "two")
    post_ids = list(await session.scalars(select(Post.id)))
    for post_id in post_ids:
        await relationships.tag_post(session, post_id, ["sql"])
    assert await count(session, post_tags) == 2
    assert await relationships.delete_user(session, user.id) is True
    assert await count(session, Post) == 0
    assert await count(session, post_tags) == 0
    assert await count(session, Tag) == 1  # the tag itself stays
    assert await relationships.delete_user(session, user.id) is False


async def test_tagging_shows_on_both_sides(session: AsyncSession) -> None:
    await add_author(session, "one")
    post_id = await session.scalar(select(Post.id))
    assert post_id is not None
    post = await relationships.tag_post(session, post_id, ["SQL", " async ", "sql"])
    assert post is not None
    assert sorted(tag.name for tag in post.tags) == ["async", "sql"]
    for tag in post.tags:
        assert tag.posts == [post]  # the other side, in memory, without a query

    # Tagging again reuses the tags and the links: no duplicates, no IntegrityError.
    await relationships.tag_post(session, post_id, ["sql", "orm"])
    assert await count(session, Tag) == 3
    assert await count(session, post_tags) == 3

    session.expunge_all()
    tagged = await relationships.posts_tagged(session, "SQL")
    assert [p.id for p in tagged] == [post_id]
    assert sorted(tag.name for tag in tagged[0].tags) == ["async", "orm", "sql"]


async def test_appending_on_the_tag_side_shows_on_the_post(session: AsyncSession) -> None:
    await add_author(session, "one")
    session.add(Tag(name="sql"))
    await session.flush()
    session.expunge_all()
    post = await relationships.post_with_tags(session, await first_post_id(session))
    assert post is not None
    tag = (await session.scalars(select(Tag).options(selectinload(Tag.posts)))).one()
    tag.posts.append(post)
    assert post.tags == [tag]  # back_populates updated the post side
    await session.flush()
    assert await count(session, post_tags) == 1


async def first_post_id(session: AsyncSession) -> int:
    post_id = await session.scalar(select(Post.id).order_by(Post.id))
    assert post_id is not None
    return post_id


async def test_unlinking_or_deleting_a_post_removes_only_links(session: AsyncSession) -> None:
    await add_author(session, "one", "two")
    one, two = list(await session.scalars(select(Post.id).order_by(Post.id)))
    await relationships.tag_post(session, one, ["sql", "orm"])
    await relationships.tag_post(session, two, ["sql"])
    assert await count(session, post_tags) == 3

    post = await relationships.post_with_tags(session, one)
    assert post is not None
    post.tags.remove(next(tag for tag in post.tags if tag.name == "orm"))
    await session.flush()
    assert await count(session, post_tags) == 2
    assert await count(session, Tag) == 2  # unlinking keeps the tag

    await session.delete(post)
    await session.flush()
    links = await session.scalars(select(post_tags.c.post_id))
    assert list(links) == [two]  # the deleted post's links are gone, the other post's stay
    assert await count(session, Tag) == 2


@pytest.mark.parametrize(
    ("names", "message"),
    [([""], "tag names must be 1-50 characters"), (["ok", "x" * 51], "tag names must be 1-50")],
)
async def test_bad_tag_names_write_nothing(
    session: AsyncSession, engine: AsyncEngine, names: list[str], message: str
) -> None:
    await add_author(session, "one")
    post_id = await first_post_id(session)
    with count_statements(engine) as log, pytest.raises(ValueError, match=message):
        await relationships.tag_post(session, post_id, names)
    assert log.statements == []


async def test_bad_title_is_rejected(session: AsyncSession) -> None:
    user = await add_author(session)
    loaded = await relationships.user_with_posts(session, user.id)
    assert loaded is not None
    for title in ("  ", "x" * 256):
        with pytest.raises(ValueError, match=r"^title must be 1-255 characters$"):
            await relationships.add_post(session, loaded, title)
    assert loaded.posts == []
    assert await count(session, Post) == 0


async def test_unknown_post_is_none(session: AsyncSession) -> None:
    assert await relationships.tag_post(session, 987654, ["sql"]) is None
    assert await relationships.post_with_tags(session, 987654) is None


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await relationships.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "tags: ['async', 'sql']" in out
    assert "posts tagged sql: ['Notes']" in out
    assert "after remove: ['Notes']" in out
    assert "after delete: 0 posts" in out
    assert "tag links left: 0" in out
