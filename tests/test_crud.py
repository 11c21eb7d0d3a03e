"""examples/crud.py on every lane: the CRUD functions, bulk statements, and input validation."""

import pytest
from sqlalchemy import URL, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples import crud, quickstart
from examples.models import Post, User


async def test_create_get_rename_delete(session: AsyncSession) -> None:
    user = await crud.create_user(session, "  Ada@Example.com ", "Ada")
    assert user.id is not None
    assert user.email == "ada@example.com"
    assert await crud.get_user(session, user.id) is user
    assert await crud.get_user_by_email(session, "ADA@example.com") is user

    renamed = await crud.rename_user(session, user.id, "Ada Lovelace")
    assert renamed is not None
    session.expunge_all()
    fresh = await crud.get_user(session, user.id)
    assert fresh is not None
    assert fresh.name == "Ada Lovelace"

    assert await crud.delete_user(session, user.id) is True
    assert await crud.get_user(session, user.id) is None


async def test_unknown_ids_are_none_or_false(session: AsyncSession) -> None:
    assert await crud.get_user(session, 987654) is None
    assert await crud.rename_user(session, 987654, "x") is None
    assert await crud.delete_user(session, 987654) is False


async def test_delete_cascades_to_posts(session: AsyncSession) -> None:
    user = await crud.create_user(session, "ada@example.com", "Ada")
    session.add(Post(title="Notes", author=user))
    await session.flush()
    await crud.delete_user(session, user.id)
    assert await session.scalar(select(func.count()).select_from(Post)) == 0


async def test_bulk_update_and_delete_report_rowcount(session: AsyncSession) -> None:
    for i in range(3):
        await crud.create_user(session, f"u{i}@old.example", "Old")
    await crud.create_user(session, "keep@new.example", "Keep")
    assert await crud.rename_many(session, "Old", "New") == 3
    assert await crud.rename_many(session, "nobody", "x") == 0
    assert await crud.delete_by_domain(session, "old.example") == 3
    assert await session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("not-an-email", "Ada"),
        ("a@b", "Ada"),
        ("ada@example.com", "   "),
        ("ada@example.com", "x" * 101),
        ("@example.com", "Ada"),
    ],
)
async def test_bad_input_is_rejected_before_any_write(
    session: AsyncSession, email: str, name: str
) -> None:
    with pytest.raises(ValueError, match=r"name must be|not an email"):
        await crud.create_user(session, email, name)
    assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await crud.main(db_url.render_as_string(hide_password=False))
    assert "get: Ada Lovelace; bulk-renamed 1 row(s)" in capsys.readouterr().out


async def test_quickstart_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await quickstart.demo(db_url.render_as_string(hide_password=False))
    assert "created user 1: Ada" in capsys.readouterr().out
