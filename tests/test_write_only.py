"""examples/write_only.py on every lane: the write-only API, one statement per call, and
proof that the collection is never loaded whole."""

import pytest
from sqlalchemy import URL, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples import write_only
from examples.models import AuditEvent, User
from tools.statements import count_statements

ITERATION_REFUSED = (
    "WriteOnly collections don't support iteration in-place; to query for collection items, "
    "use the select() method to produce a SQL statement and execute it with session.scalars()."
)


@pytest.fixture
async def ada(session: AsyncSession) -> User:
    user = User(email="ada@example.com", name="Ada")
    session.add(user)
    await session.flush()
    return user


async def test_add_is_one_insert(session: AsyncSession, engine: AsyncEngine, ada: User) -> None:
    with count_statements(engine) as log:
        event = await write_only.record_event(session, ada, "  signed up ")
    assert log.count == 1
    assert log.statements[0].lstrip().startswith("INSERT INTO audit_events")
    assert (event.user_id, event.action) == (ada.id, "signed up")


async def test_add_to_a_new_user_inserts_user_then_event(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    grace = User(email="grace@example.com", name="Grace")
    session.add(grace)
    with count_statements(engine) as log:
        event = await write_only.record_event(session, grace, "signed up")
    inserts = [s.split()[2] for s in log.statements if s.lstrip().startswith("INSERT")]
    assert inserts == ["users", "audit_events"]
    assert log.count == 2
    assert event.user_id == grace.id


async def test_insert_many_is_one_statement(
    session: AsyncSession, engine: AsyncEngine, ada: User
) -> None:
    with count_statements(engine) as log:
        await write_only.record_events(session, ada, ["login", "logout"] * 500)
    assert log.count == 1
    assert await write_only.count_events(session, ada) == 1000
    with count_statements(engine) as log:
        await write_only.record_events(session, ada, [])
    assert log.count == 0


async def test_select_returns_a_page_not_the_collection(
    session: AsyncSession, engine: AsyncEngine, ada: User
) -> None:
    await write_only.record_events(session, ada, ["login", "view", "logout"] * 300)
    session.expunge_all()
    session.add(ada)
    with count_statements(engine) as log:
        page = await write_only.recent_events(session, ada, action="login", limit=5)
    assert log.count == 1
    assert "LIMIT" in log.statements[0].upper()
    assert [e.action for e in page] == ["login"] * 5
    ids = [e.id for e in page]
    assert ids == sorted(ids, reverse=True)  # newest first
    # Only the page was turned into objects: the 900 other events never left the database.
    events_in_session = [
        obj for obj in session.identity_map.values() if isinstance(obj, AuditEvent)
    ]
    assert len(events_in_session) == 5


async def test_count_is_one_count_query(
    session: AsyncSession, engine: AsyncEngine, ada: User
) -> None:
    await write_only.record_events(session, ada, ["login"] * 42)
    with count_statements(engine) as log:
        assert await write_only.count_events(session, ada) == 42
    assert log.count == 1
    sql = log.statements[0]
    assert sql.lower().startswith("select count(*)")
    assert "ORDER BY" not in sql


async def test_delete_is_one_statement(
    session: AsyncSession, engine: AsyncEngine, ada: User
) -> None:
    await write_only.record_events(session, ada, ["login", "view"] * 10)
    with count_statements(engine) as log:
        assert await write_only.delete_events(session, ada, "view") == 10
    assert log.count == 1
    assert log.statements[0].lstrip().startswith("DELETE FROM audit_events")
    assert await write_only.count_events(session, ada) == 10


async def test_other_users_events_are_untouched(session: AsyncSession, ada: User) -> None:
    grace = User(email="grace@example.com", name="Grace")
    session.add(grace)
    await session.flush()
    await write_only.record_events(session, ada, ["login"] * 3)
    await write_only.record_events(session, grace, ["login"] * 2)
    assert await write_only.delete_events(session, ada, "login") == 3
    assert await write_only.count_events(session, grace) == 2
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 2


async def test_the_collection_cannot_be_loaded(
    session: AsyncSession, engine: AsyncEngine, ada: User
) -> None:
    await write_only.record_events(session, ada, ["login"] * 3)
    with count_statements(engine) as log:
        with pytest.raises(TypeError) as iterated:
            list(ada.events)
        assert str(iterated.value) == ITERATION_REFUSED
        with pytest.raises(TypeError) as counted:
            len(ada.events)  # type: ignore[arg-type]
        assert str(counted.value) == "object of type 'WriteOnlyCollection' has no len()"
    assert log.count == 0  # neither attempt reached the database


@pytest.mark.parametrize("action", ["", "   ", "x" * 51])
async def test_bad_action_is_rejected_before_any_write(
    session: AsyncSession, engine: AsyncEngine, ada: User, action: str
) -> None:
    with count_statements(engine) as log:
        with pytest.raises(ValueError, match="action must be 1-50 characters"):
            await write_only.record_event(session, ada, action)
        with pytest.raises(ValueError, match="action must be 1-50 characters"):
            await write_only.record_events(session, ada, ["login", action])
        with pytest.raises(ValueError, match="action must be 1-50 characters"):
            await write_only.delete_events(session, ada, action)
    assert log.count == 0
    assert await write_only.count_events(session, ada) == 0


@pytest.mark.parametrize("limit", [0, -1, 1001])
async def test_bad_limit_is_rejected(session: AsyncSession, ada: User, limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be 1-1000"):
        await write_only.recent_events(session, ada, limit=limit)


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await write_only.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "events: 1001\n" in out
    assert "newest logins: [1000, 998, 996]" in out
    assert "deleted views: 250" in out
    assert "events left: 751" in out
