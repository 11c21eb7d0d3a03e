"""examples/queries.py on every lane: filters, optional filters, and search that takes user
input literally (and the unescaped LIKE pattern that does not)."""

import datetime
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples import queries
from examples.models import Post, Tag, User
from examples.queries import PostFilter
from tests.conftest import Lane
from tools.statements import count_statements

NAMES = ["Ada", "Grace_Hopper", "100% Bob", "back\\slash", "Linus", "Margaret"]


async def add_users(session: AsyncSession) -> dict[str, User]:
    users = {name: User(email=f"user{i}@example.com", name=name) for i, name in enumerate(NAMES)}
    session.add_all(users.values())
    await session.flush()
    return users


def names(rows: Sequence[User]) -> list[str]:
    return sorted(user.name for user in rows)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("_", ["Grace_Hopper"]),
        ("%", ["100% Bob"]),
        ("\\", ["back\\slash"]),
        ("0%", ["100% Bob"]),
        ("e_h", ["Grace_Hopper"]),
        ("ADA", ["Ada"]),  # case-insensitive
        ("  linus ", ["Linus"]),  # surrounding spaces are trimmed
        ("user1@", ["Grace_Hopper"]),  # the email is searched too
        ("zzz", []),
    ],
)
async def test_search_matches_input_literally(
    session: AsyncSession, term: str, expected: list[str]
) -> None:
    await add_users(session)
    assert names(await queries.search_users(session, term)) == expected


async def wrong_way_search(session: AsyncSession, term: str) -> Sequence[User]:
    """The old guide's search: user input pasted into the LIKE pattern."""
    return (await session.scalars(select(User).where(User.name.ilike(f"%{term}%")))).all()


async def test_wrong_way_wildcards_in_input_match_every_row(
    session: AsyncSession, lane: Lane
) -> None:
    await add_users(session)
    assert names(await wrong_way_search(session, "_")) == sorted(NAMES)
    assert names(await wrong_way_search(session, "%")) == sorted(NAMES)
    backslash = names(await wrong_way_search(session, "\\"))
    if lane.backend == "sqlite":
        assert backslash == ["back\\slash"]  # SQLite has no default LIKE escape character
    else:
        # PostgreSQL and MariaDB escape with backslash by default: "\%" became a literal "%".
        assert backslash == []


@pytest.mark.parametrize(
    ("term", "length"), [("", 0), ("   ", 0), ("x" * 101, 101), (" " + "x" * 101, 101)]
)
async def test_search_term_is_checked_before_any_sql(
    session: AsyncSession, engine: AsyncEngine, term: str, length: int
) -> None:
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match=f"^search term must be 1-100 characters, got {length}$"),
    ):
        await queries.search_users(session, term)
    assert log.statements == []


async def test_search_accepts_the_longest_term(session: AsyncSession) -> None:
    await add_users(session)
    assert await queries.search_users(session, "x" * 100) == []


async def add_posts(session: AsyncSession) -> tuple[dict[str, User], dict[str, Post]]:
    users = await add_users(session)
    sql, orm = Tag(name="sql"), Tag(name="orm")
    posts = {
        "async": Post(title="100% async", author=users["Ada"], tags=[sql, orm]),
        "engines": Post(title="Analytical engines", author=users["Ada"], tags=[orm]),
        "cobol": Post(title="COBOL_notes", author=users["Grace_Hopper"], tags=[sql]),
        "untagged": Post(title="Loose ends", author=users["Linus"]),
    }
    session.add_all(posts.values())
    await session.flush()
    return users, posts


def titles(rows: Sequence[Post]) -> list[str]:
    return sorted(post.title for post in rows)


async def test_and_filter(session: AsyncSession) -> None:
    users, _ = await add_posts(session)
    ada = users["Ada"].id
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    future = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
    found = await queries.posts_by_author_since(session, ada, past)
    assert titles(found) == ["100% async", "Analytical engines"]
    assert await queries.posts_by_author_since(session, ada, future) == []


async def test_or_filter(session: AsyncSession) -> None:
    await add_users(session)
    session.add(User(email="x@corp.example", name="Someone"))
    session.add(User(email="y@xcorp.example", name="Other"))
    await session.flush()
    found = await queries.users_named_or_at(session, ["Ada", "Linus"], "corp.example")
    assert names(found) == ["Ada", "Linus", "Someone"]


@pytest.mark.parametrize(
    ("make_filter", "expected"),
    [
        (lambda u: PostFilter(), ["100% async", "Analytical engines", "COBOL_notes", "Loose ends"]),
        (lambda u: PostFilter(author_id=u["Ada"].id), ["100% async", "Analytical engines"]),
        (lambda u: PostFilter(author_id=0), []),  # 0 is a value, not "no filter"
        (lambda u: PostFilter(title_contains="_"), ["COBOL_notes"]),
        (lambda u: PostFilter(title_contains="0%"), ["100% async"]),
        (lambda u: PostFilter(tag="orm"), ["100% async", "Analytical engines"]),
        (lambda u: PostFilter(tag="sql", author_id=u["Ada"].id), ["100% async"]),
        (lambda u: PostFilter(tag="none"), []),
        (
            lambda u: PostFilter(created_after=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)),
            ["100% async", "Analytical engines", "COBOL_notes", "Loose ends"],
        ),
    ],
)
async def test_optional_filters_combine(
    session: AsyncSession,
    engine: AsyncEngine,
    make_filter: Callable[[dict[str, User]], PostFilter],
    expected: list[str],
) -> None:
    users, _ = await add_posts(session)
    post_filter = make_filter(users)
    with count_statements(engine) as log:
        found = await queries.find_posts(session, post_filter)
    assert log.count == 1
    assert titles(found) == expected  # a post with two matching tags comes once


async def test_optional_filter_input_is_checked(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match=r"^search term must be 1-100 characters, got 0$"):
        await queries.find_posts(session, PostFilter(title_contains=" "))
    with pytest.raises(ValueError, match=r"^limit must be 1-100, got 0$"):
        await queries.find_posts(session, PostFilter(), limit=0)


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await queries.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "search '_': ['Grace_Hopper']" in out
    assert "filtered: ['100% async']" in out
    assert "no filter: 2 posts" in out
