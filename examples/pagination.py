"""Paginate posts: numbered pages with OFFSET, and keyset pages with an opaque cursor.

Both order by ``created_at DESC, id DESC``: ``id`` is the unique tie-breaker that makes the order
total, so rows that share a timestamp (every row inserted in one PostgreSQL transaction shares
``now()``) are neither repeated nor skipped across pages. Input is validated before any SQL is
sent: a bad page number or a tampered cursor is a ValueError, never a database error.

Run: python -m examples.pagination
"""

# region: imports
import base64
import binascii
import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import Post

T = TypeVar("T")
# endregion: imports


# region: offset
MAX_PAGE_SIZE = 100
MAX_PAGE = 1000  # OFFSET still reads every row it skips: deep pages belong to keyset pagination


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    page_size: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


def _check_page(page: int, page_size: int) -> None:
    # Query strings arrive as text and JSON may carry 1.5 or true: accept whole numbers only.
    for name, value in (("page", page), ("page_size", page_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not 1 <= page <= MAX_PAGE:
        raise ValueError(f"page must be between 1 and {MAX_PAGE}, got {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")


async def posts_page(session: AsyncSession, page: int = 1, page_size: int = 20) -> Page[Post]:
    _check_page(page, page_size)  # page=0 would be a negative OFFSET: an error or a wrong page
    total = await session.scalar(select(func.count()).select_from(Post)) or 0
    stmt = (
        select(Post)
        # id breaks ties: without it, rows with equal created_at come back in any order,
        # and consecutive pages repeat some rows and never show others.
        .order_by(Post.created_at.desc(), Post.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    items = (await session.scalars(stmt)).all()
    return Page(items=items, page=page, page_size=page_size, total=total)


# endregion: offset


# region: keyset
MAX_CURSOR_LENGTH = 200
MAX_ID = 2**31 - 1  # Post.id is an INTEGER: a larger value would be a database error


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None  # None on the last page


def encode_cursor(post: Post) -> str:
    """An opaque token holding the sort key of the last row shown."""
    payload = json.dumps({"created_at": post.created_at.isoformat(), "id": post.id})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime.datetime, int]:
    """The sort key in ``cursor``; ValueError for anything this module did not produce."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError("invalid cursor: too long")
    try:
        # validate=True rejects characters outside the alphabet instead of skipping them.
        raw = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (UnicodeError, binascii.Error, ValueError) as exc:
        raise ValueError("invalid cursor: not a cursor from this API") from exc
    if not isinstance(data, dict) or set(data) != {"created_at", "id"}:
        raise ValueError("invalid cursor: unexpected content")
    created_at, post_id = data["created_at"], data["id"]
    # bool is a subclass of int: reject true/false explicitly.
    if not isinstance(post_id, int) or isinstance(post_id, bool) or not 1 <= post_id <= MAX_ID:
        raise ValueError("invalid cursor: bad id")
    if not isinstance(created_at, str):
        raise ValueError("invalid cursor: bad timestamp")
    try:
        when = datetime.datetime.fromisoformat(created_at)
        # Cursors from encode_cursor() carry an offset; compare in UTC, as the column stores.
        if when.tzinfo is None:
            raise ValueError("no UTC offset")
        return when.astimezone(datetime.UTC), post_id
    except (ValueError, OverflowError) as exc:
        raise ValueError("invalid cursor: bad timestamp") from exc


async def posts_after(
    session: AsyncSession, cursor: str | None = None, page_size: int = 20
) -> KeysetPage[Post]:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    stmt = select(Post).order_by(Post.created_at.desc(), Post.id.desc()).limit(page_size + 1)
    if cursor is not None:
        created_at, post_id = decode_cursor(cursor)  # before any SQL: bad input never reaches it
        # "after (created_at, id) in DESC order", written so an index on (created_at, id)
        # serves it on every database (row-value comparisons are not index ranges everywhere).
        same_time_lower_id = and_(Post.created_at == created_at, Post.id < post_id)
        stmt = stmt.where(
            Post.created_at <= created_at, or_(Post.created_at < created_at, same_time_lower_id)
        )
    rows = (await session.scalars(stmt)).all()
    items = rows[:page_size]  # the extra row only tells whether a next page exists
    next_cursor = encode_cursor(items[-1]) if len(rows) > page_size else None
    return KeysetPage(items=items, next_cursor=next_cursor)


# endregion: keyset


async def main(url: str) -> None:
    from examples.models import User
    from examples.run import example_database

    async with example_database(url) as Session:
        # Timestamps set from Python, all equal: see references/queries.md for why
        # server-default timestamps and keyset cursors disagree on SQLite.
        when = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
        async with Session() as session, session.begin():
            author = User(email="ada@example.com", name="Ada")
            session.add_all(Post(title=f"#{i}", author=author, created_at=when) for i in range(45))
        async with Session() as session:
            # region: usage
            first = await posts_page(session, page=1, page_size=20)
            print(f"offset: page 1 has {len(first.items)} of {first.total}, next: {first.has_next}")
            seen: list[int] = []
            cursor: str | None = None
            while True:
                batch = await posts_after(session, cursor, page_size=20)
                seen.extend(post.id for post in batch.items)
                if batch.next_cursor is None:
                    break
                cursor = batch.next_cursor
            print(f"keyset: {len(seen)} posts, {len(set(seen))} distinct")
            # endregion: usage


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
