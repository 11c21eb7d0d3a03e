"""examples/testing_recipe.py on every lane: tests are isolated even when the code under test
commits, the SQLite fix is what makes that true on SQLite, the factories work, and the fixtures
region works as a reader's conftest.py (and fails with the test loop at function scope)."""

import asyncio
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from examples import testing_recipe
from examples.models import AuditEvent, Base, Post, Tag, User, post_tags
from examples.testing_recipe import make_post, make_test_engine, make_user, rollback_session
from tests.conftest import Lane
from tools.snippets import ROOT
from tools.statements import count_statements

# Written by the first test below, per lane; the second test checks it is gone.
_committed_by_first_test: dict[str, str] = {}


async def _count(session: AsyncSession, table: Any) -> int:
    return await session.scalar(select(func.count()).select_from(table)) or 0


async def test_a_commit_inside_a_test_is_real_inside_that_test(
    session: AsyncSession, engine: AsyncEngine, lane: Lane
) -> None:
    user = await make_user(session)
    await session.commit()  # what the code under test does in production
    _committed_by_first_test[lane.backend] = user.email

    session.expunge_all()
    found = await session.scalar(select(User).where(User.email == user.email))
    assert found is not None
    # Another connection does not see it: the outer transaction never commits.
    async with engine.connect() as other:
        assert await other.scalar(select(func.count()).select_from(User)) == 0


async def test_the_next_test_sees_none_of_it(session: AsyncSession, lane: Lane) -> None:
    if lane.backend in _committed_by_first_test:
        email = _committed_by_first_test[lane.backend]
        assert await session.scalar(select(User).where(User.email == email)) is None
    for table in (User, Post, Tag, post_tags, AuditEvent):
        assert await _count(session, table) == 0


async def test_rollback_inside_a_test_undoes_only_since_the_last_commit(
    session: AsyncSession,
) -> None:
    kept = (await make_user(session)).email
    await session.commit()
    await make_user(session)
    # Back to the savepoint; the session stays usable. (rollback() expires every object,
    # so read what you need before it: reading an expired attribute is IO, MissingGreenlet.)
    await session.rollback()
    assert (await session.scalars(select(User.email))).all() == [kept]


@pytest.mark.parametrize("with_fix", [True, False], ids=["make_test_engine", "plain_engine"])
async def test_the_sqlite_fix_is_what_keeps_commits_from_leaking(
    db_url: URL, lane: Lane, with_fix: bool
) -> None:
    engine = make_test_engine(db_url) if with_fix else create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with rollback_session(engine) as session:
            await make_user(session)
            await session.commit()
        async with engine.connect() as conn:
            leaked = await conn.scalar(select(func.count()).select_from(User))
    finally:
        await engine.dispose()
    # Without the fix pysqlite/aiosqlite run the SAVEPOINT outside any transaction, so
    # RELEASE SAVEPOINT commits for real and the outer rollback has nothing to undo.
    assert leaked == (1 if lane.backend == "sqlite" and not with_fix else 0)


async def test_make_user_gives_valid_distinct_users_and_takes_overrides(
    session: AsyncSession,
) -> None:
    first = await make_user(session)
    second = await make_user(session)
    assert first.id is not None
    assert second.id is not None
    assert first.email != second.email
    ada = await make_user(session, email="ada@example.com", name="Ada")
    assert (ada.email, ada.name) == ("ada@example.com", "Ada")


async def test_make_user_rejects_unknown_fields(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match="'nickname' is an invalid keyword argument for User"):
        await make_user(session, nickname="x")


async def test_make_post_creates_its_author_and_loaded_relationships(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    post = await make_post(session, title="Hello")
    assert post.id is not None
    with count_statements(engine) as log:
        # lazy="raise" relationships: readable without IO because the factory set them.
        assert post.author.id is not None
        assert post.tags == []
    assert log.count == 0

    shared = await make_user(session, name="Grace")
    second = await make_post(session, author=shared, tags=[Tag(name="sql")])
    third = await make_post(session, author=shared)
    assert second.author is third.author is shared
    assert [t.name for t in second.tags] == ["sql"]
    assert await _count(session, User) == 2


INNER_TESTS = textwrap.dedent(
    """
    import pytest

    from examples.testing_recipe import make_user
    from examples.testing_recipe import test_a_post_gets_an_id as test_1_commits
    from examples.testing_recipe import test_each_test_starts_empty as test_2_sees_nothing


    # The test loop at function scope (pytest-asyncio's default): the engine's connections
    # were made in the session loop.
    @pytest.mark.asyncio(loop_scope="function")
    async def test_3_in_a_function_loop(session):
        await make_user(session)
        await session.commit()
    """
)

INNER_INI = textwrap.dedent(
    """
    [pytest]
    asyncio_mode = auto
    asyncio_default_fixture_loop_scope = session
    asyncio_default_test_loop_scope = session
    """
)


async def test_the_fixtures_and_example_tests_work_as_a_conftest(
    db_url: URL, lane: Lane, tmp_path: Path
) -> None:
    (tmp_path / "conftest.py").write_text(
        "from examples.testing_recipe import engine, session  # noqa: F401\n"
    )
    (tmp_path / "pytest.ini").write_text(INNER_INI)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TEST_DATABASE_URLS", None)  # unset: the region's default, SQLite in a temp dir
    params = ["sqlite"]
    if lane.backend != "sqlite":  # both: the recipe's several-databases parametrization
        env["TEST_DATABASE_URLS"] = "sqlite," + db_url.render_as_string(hide_password=False)
        params.append(db_url.render_as_string(hide_password=False))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rA",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await process.communicate())[0].decode()

    for param in params:
        assert f"PASSED test_inner.py::test_1_commits[{param}]" in out, out
        assert f"PASSED test_inner.py::test_2_sees_nothing[{param}]" in out, out
    # aiosqlite and psycopg happen to tolerate the wrong loop: a suite run only on them hides
    # it; asyncpg and aiomysql fail.
    assert "PASSED test_inner.py::test_3_in_a_function_loop[sqlite]" in out, out
    if lane.driver == "psycopg":
        assert f"PASSED test_inner.py::test_3_in_a_function_loop[{params[1]}]" in out, out
    elif lane.backend != "sqlite":
        assert f"FAILED test_inner.py::test_3_in_a_function_loop[{params[1]}]" in out, out
        assert "attached to a different loop" in out, out


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await testing_recipe.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "inside the test: post 1 by user" in out
    assert "after the test: 0 users" in out
