"""A collection too large to load: ``User.events`` is a ``WriteOnlyMapped[AuditEvent]``.

Illustrates the write-only collection API: ``add()`` for new items, ``select()`` to query a
page of them (filter, order, limit) with ``session.scalars``, a COUNT over that select,
``insert()`` for many rows in one statement, and ``delete()``. The collection is never loaded
whole: it cannot even be iterated.

Run: python -m examples.write_only
"""

# region: write_only
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import AuditEvent, User

MAX_ACTION = 50  # matches AuditEvent.action = String(50)
MAX_PAGE = 1000


def _clean_action(action: str) -> str:
    action = action.strip()
    if not action or len(action) > MAX_ACTION:
        raise ValueError(f"action must be 1-{MAX_ACTION} characters")
    return action


async def record_event(session: AsyncSession, user: User, action: str) -> AuditEvent:
    event = AuditEvent(action=_clean_action(action))
    user.events.add(event)  # queued for the next flush; nothing is loaded
    await session.flush()
    return event


async def record_events(session: AsyncSession, user: User, actions: list[str]) -> None:
    rows = [{"action": _clean_action(action)} for action in actions]
    if rows:
        # insert() fills in user_id: one INSERT statement for all rows.
        await session.execute(user.events.insert(), rows)


async def recent_events(
    session: AsyncSession, user: User, *, action: str | None = None, limit: int = 20
) -> Sequence[AuditEvent]:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}")
    # select() is "SELECT ... WHERE user_id = :id ORDER BY audit_events.id" (the
    # relationship's order_by); order_by(None) drops it to put the newest first.
    stmt = user.events.select().order_by(None).order_by(AuditEvent.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == _clean_action(action))
    return (await session.scalars(stmt)).all()


async def count_events(session: AsyncSession, user: User) -> int:
    stmt = select(func.count()).select_from(user.events.select().order_by(None).subquery())
    return await session.scalar(stmt) or 0


async def delete_events(session: AsyncSession, user: User, action: str) -> int:
    stmt = user.events.delete().where(AuditEvent.action == _clean_action(action))
    result = await session.execute(stmt)
    return cast("CursorResult[Any]", result).rowcount


# endregion: write_only


async def main(url: str) -> None:
    from examples.run import example_database

    async with example_database(url) as Session, Session() as session, session.begin():
        ada = User(email="ada@example.com", name="Ada")
        session.add(ada)
        await record_event(session, ada, "signed up")
        await record_events(session, ada, ["login", "view", "login", "logout"] * 250)
        print(f"events: {await count_events(session, ada)}")
        newest = await recent_events(session, ada, action="login", limit=3)
        print(f"newest logins: {[e.id for e in newest]}")
        print(f"deleted views: {await delete_events(session, ada, 'view')}")
        print(f"events left: {await count_events(session, ada)}")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
