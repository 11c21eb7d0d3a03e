"""examples/aggregation.py on every lane: counts that include zero, HAVING, typed rows, and the
inner join that loses users without posts."""

import warnings

import pytest
import sqlalchemy
from sqlalchemy import URL, func, select
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples import aggregation
from examples.aggregation import PostCount
from examples.models import Post, User
from tools.statements import count_statements


async def add_authors(session: AsyncSession) -> dict[str, int]:
    ada = User(email="ada@example.com", name="Ada")
    grace = User(email="grace@example.com", name="Grace")
    linus = User(email="linus@example.com", name="Linus")
    margaret = User(email="margaret@example.com", name="Margaret")
    session.add_all([ada, grace, linus, margaret])
    session.add_all(Post(title=f"ada {i}", author=ada) for i in range(3))
    session.add_all(Post(title=f"grace {i}", author=grace) for i in range(2))
    session.add(Post(title="linus", author=linus))
    await session.flush()
    return {user.name: user.id for user in (ada, grace, linus, margaret)}


async def test_post_counts_include_users_without_posts(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    ids = await add_authors(session)
    with count_statements(engine) as log:
        counts = await aggregation.post_counts(session)
    assert log.count == 1
    assert counts == [
        PostCount(ids["Ada"], "Ada", 3),
        PostCount(ids["Grace"], "Grace", 2),
        PostCount(ids["Linus"], "Linus", 1),
        PostCount(ids["Margaret"], "Margaret", 0),
    ]
    assert all(type(row.posts) is int for row in counts)  # not Decimal, not str
    assert counts[0].name == "Ada"


async def test_wrong_way_inner_join_drops_users_without_posts(session: AsyncSession) -> None:
    await add_authors(session)
    stmt = (
        select(User.name, func.count(Post.id))
        .join(Post)  # the old guide's inner join
        .group_by(User.id, User.name)
    )
    names = {name for name, _ in (await session.execute(stmt)).all()}
    assert names == {"Ada", "Grace", "Linus"}  # Margaret (0 posts) is gone


async def test_wrong_way_count_star_counts_one_for_users_without_posts(
    session: AsyncSession,
) -> None:
    await add_authors(session)
    stmt = (
        select(User.name, func.count())
        .outerjoin(Post, Post.author_id == User.id)
        .group_by(User.id, User.name)
    )
    counts = {name: n for name, n in await session.execute(stmt)}
    assert counts["Margaret"] == 1  # the outer join's NULL row was counted


@pytest.mark.parametrize(
    ("min_posts", "expected"),
    [(1, ["Ada", "Grace", "Linus"]), (2, ["Ada", "Grace"]), (3, ["Ada"]), (4, [])],
)
async def test_having_filters_groups(
    session: AsyncSession, min_posts: int, expected: list[str]
) -> None:
    await add_authors(session)
    rows = await aggregation.prolific_users(session, min_posts)
    assert [row.name for row in rows] == expected


@pytest.mark.parametrize("min_posts", [0, -1])
async def test_having_threshold_is_checked(
    session: AsyncSession, engine: AsyncEngine, min_posts: int
) -> None:
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match=f"^min_posts must be at least 1, got {min_posts}$"),
    ):
        await aggregation.prolific_users(session, min_posts)
    assert log.statements == []


async def test_total_posts(session: AsyncSession) -> None:
    assert await aggregation.total_posts(session) == 0
    await add_authors(session)
    assert await aggregation.total_posts(session) == 6


async def test_result_tuples_is_deprecated_on_21_only(session: AsyncSession) -> None:
    result = await session.execute(select(func.count()).select_from(User))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.tuples().all()
    deprecations = [w for w in caught if issubclass(w.category, SADeprecationWarning)]
    if sqlalchemy.__version__.startswith("2.0."):
        assert deprecations == []
    else:
        assert "Result.tuples() method is deprecated" in str(deprecations[0].message)


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await aggregation.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "Ada: 3\nGrace: 1\nLinus: 0\n" in out
    assert "at least 2 posts: ['Ada']" in out
    assert "total: 4" in out
