"""examples/pagination.py on every lane: every row exactly once, validated input, and the
failures of ordering by a non-unique column alone."""

import base64
import datetime
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import URL, func, select, text, tuple_, update
from sqlalchemy.exc import DataError, DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples import pagination
from examples.models import Base, Post, User
from tests.conftest import Lane, make_test_engine
from tools.statements import count_statements

ROWS = 220
SAME_TIME = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


async def add_posts_sharing_one_timestamp(session: AsyncSession, lane: Lane) -> set[int]:
    """ROWS posts with one created_at, inserted in one transaction (the session fixture's)."""
    author = User(email="ada@example.com", name="Ada")
    if lane.backend == "postgresql":
        # The server default: now() is the transaction's start time, equal for every row.
        posts = [Post(title=f"#{i}", author=author) for i in range(ROWS)]
    else:
        # SQLite and MariaDB store CURRENT_TIMESTAMP to the second only; set it explicitly.
        posts = [Post(title=f"#{i}", author=author, created_at=SAME_TIME) for i in range(ROWS)]
    session.add_all(posts)
    await session.flush()
    ids = {post.id for post in posts}
    session.expunge_all()  # later reads see what the database stored, as a new request would
    distinct = select(func.count(func.distinct(Post.created_at)))
    assert await session.scalar(distinct) == 1
    return ids


async def walk_offset(session: AsyncSession, page_size: int = 20) -> list[int]:
    seen: list[int] = []
    page_number = 1
    while True:
        page = await pagination.posts_page(session, page_number, page_size)
        seen.extend(post.id for post in page.items)
        if not page.has_next:
            return seen
        page_number += 1


async def walk_keyset(session: AsyncSession, page_size: int = 20) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(ROWS):  # a bound, so a broken cursor cannot loop forever
        page = await pagination.posts_after(session, cursor, page_size)
        seen.extend(post.id for post in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return seen


async def test_offset_pages_show_every_row_exactly_once(session: AsyncSession, lane: Lane) -> None:
    ids = await add_posts_sharing_one_timestamp(session, lane)
    seen = await walk_offset(session)
    assert len(seen) == ROWS
    assert set(seen) == ids


async def test_offset_page_is_typed_and_costs_two_statements(
    session: AsyncSession, engine: AsyncEngine, lane: Lane
) -> None:
    await add_posts_sharing_one_timestamp(session, lane)
    with count_statements(engine) as log:
        page = await pagination.posts_page(session, page=11, page_size=20)
    assert log.count == 2  # COUNT(*) and the page
    assert (page.page, page.page_size, page.total, len(page.items)) == (11, 20, ROWS, 20)
    assert page.has_next is False
    assert isinstance(page.items[0], Post)
    beyond = await pagination.posts_page(session, page=12, page_size=20)
    assert beyond.items == []
    assert beyond.has_next is False


async def test_keyset_pages_show_every_row_exactly_once(session: AsyncSession, lane: Lane) -> None:
    ids = await add_posts_sharing_one_timestamp(session, lane)
    seen = await walk_keyset(session)
    assert len(seen) == ROWS
    assert set(seen) == ids
    # Same order as the offset pages.
    assert seen == await walk_offset(session)


async def test_rows_inserted_between_requests(session: AsyncSession, lane: Lane) -> None:
    ids = await add_posts_sharing_one_timestamp(session, lane)
    author_id = await session.scalar(select(User.id))
    assert author_id is not None

    async def insert_five_newer() -> None:
        # Higher ids with the same timestamp: they sort first, before every page already shown.
        for _ in range(5):
            post = Post(title="new", author_id=author_id)
            if lane.backend != "postgresql":
                post.created_at = SAME_TIME
            session.add(post)
        await session.flush()

    first = await pagination.posts_page(session, page=1)
    keyset_first = await pagination.posts_after(session, None)
    await insert_five_newer()
    second = await pagination.posts_page(session, page=2)
    assert second.items[0].id == first.items[-5].id  # offset: the last 5 rows shown again

    seen = [post.id for post in keyset_first.items]
    cursor = keyset_first.next_cursor
    while cursor is not None:
        page = await pagination.posts_after(session, cursor)
        seen.extend(post.id for post in page.items)
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)  # keyset: every original row once, none repeated


async def test_keyset_page_costs_one_statement(
    session: AsyncSession, engine: AsyncEngine, lane: Lane
) -> None:
    await add_posts_sharing_one_timestamp(session, lane)
    first = await pagination.posts_after(session, None, page_size=100)
    assert first.next_cursor is not None
    with count_statements(engine) as log:
        last = await pagination.posts_after(session, first.next_cursor, page_size=100)
    assert log.count == 1
    assert len(last.items) == 100
    assert last.next_cursor is not None
    tail = await pagination.posts_after(session, last.next_cursor, page_size=100)
    assert len(tail.items) == ROWS - 200
    assert tail.next_cursor is None


async def seed_posts_page(session: AsyncSession, page: int, size: int) -> Sequence[Post]:
    """The old guide's query: ordered by the timestamp only, page number not checked."""
    stmt = select(Post).order_by(Post.created_at.desc()).offset((page - 1) * size).limit(size)
    return (await session.scalars(stmt)).all()


async def test_wrong_way_ordering_by_timestamp_alone(session: AsyncSession, lane: Lane) -> None:
    ids = await add_posts_sharing_one_timestamp(session, lane)
    seen: list[int] = []
    for page in range(1, ROWS // 20 + 1):
        seen.extend(post.id for post in await seed_posts_page(session, page, 20))
    repeated = sum(n - 1 for n in Counter(seen).values() if n > 1)
    lost = len(ids - set(seen))
    assert len(seen) == ROWS
    if lane.backend == "sqlite":
        # SQLite's sort happens to keep insertion order for ties: right by luck only.
        assert (repeated, lost) == (0, 0)
    elif lane.backend == "mysql":
        # MariaDB also happens to return ties in a stable order here: luck, not a guarantee.
        assert (repeated, lost) == (0, 0)
    else:
        # PostgreSQL sorts ties differently for each LIMIT/OFFSET (top-N heapsort):
        # some rows come twice, as many never come.
        assert repeated > 0
        assert lost == repeated


async def test_wrong_way_page_zero(session: AsyncSession, lane: Lane) -> None:
    if lane.backend == "postgresql":
        with pytest.raises(DBAPIError, match="OFFSET must not be negative") as caught:
            await seed_posts_page(session, 0, 20)
        if lane.driver == "psycopg":
            assert type(caught.value) is DataError
            assert str(caught.value).startswith(
                "(psycopg.errors.InvalidRowCountInResultOffsetClause) OFFSET must not be negative"
            )
    elif lane.backend == "mysql":
        with pytest.raises(ProgrammingError, match=r"1064.*SQL syntax.*near '-20"):
            await seed_posts_page(session, 0, 20)
    else:
        # SQLite treats a negative OFFSET as 0: page 0 silently shows page 1.
        author = User(email="ada@example.com", name="Ada", posts=[Post(title="only")])
        session.add(author)
        await session.flush()
        page = await seed_posts_page(session, 0, 20)
        assert [post.title for post in page] == ["only"]


@pytest.mark.parametrize(
    ("page", "page_size", "message"),
    [
        (0, 20, "page must be between 1 and 1000, got 0"),
        (-1, 20, "page must be between 1 and 1000, got -1"),
        (1001, 20, "page must be between 1 and 1000, got 1001"),
        (1, 0, "page_size must be between 1 and 100, got 0"),
        (1, 101, "page_size must be between 1 and 100, got 101"),
        (1.5, 20, r"page must be a whole number, got 1\.5"),
        (True, 20, "page must be a whole number, got True"),
        ("2", 20, "page must be a whole number, got '2'"),
        (1, 20.5, r"page_size must be a whole number, got 20\.5"),
    ],
)
async def test_offset_input_is_checked_before_any_sql(
    session: AsyncSession, engine: AsyncEngine, page: Any, page_size: Any, message: str
) -> None:
    with count_statements(engine) as log:
        with pytest.raises(ValueError, match=f"^{message}$"):
            await pagination.posts_page(session, page, page_size)
        with pytest.raises(ValueError, match=r"^page_size must be between 1 and 100"):
            await pagination.posts_after(session, None, 0)
    assert log.statements == []


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("", "unexpected content|not a cursor"),
        ("not base64!", "not a cursor"),
        ("é", "not a cursor"),
        ("abc", "not a cursor"),  # bad padding
        (b64(b"\xff\xfe"), "not a cursor"),  # not UTF-8
        (b64(b"{not json"), "not a cursor"),
        (b64(b"[1, 2]"), "unexpected content"),
        (b64(b'{"id": 1}'), "unexpected content"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": 1, "x": 0}'), "unexpected content"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": "1"}'), "bad id"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": true}'), "bad id"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": 0}'), "bad id"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": 1.5}'), "bad id"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": 99999999999999999999}'), "bad id"),
        (b64(b'{"created_at": 5, "id": 1}'), "bad timestamp"),
        (b64(b'{"created_at": "yesterday", "id": 1}'), "bad timestamp"),
        (b64(b'{"created_at": "2026-13-01T00:00:00+00:00", "id": 1}'), "bad timestamp"),
        (b64(b'{"created_at": "2026-01-01T00:00:00", "id": 1}'), "bad timestamp"),  # naive
        # Valid ISO, but past year 9999 in UTC.
        (b64(b'{"created_at": "9999-12-31T23:59:59-05:00", "id": 1}'), "bad timestamp"),
        ("A" * 201, "too long"),
    ],
)
async def test_bad_cursor_is_a_value_error_before_any_sql(
    session: AsyncSession, engine: AsyncEngine, cursor: str, reason: str
) -> None:
    with (
        count_statements(engine) as log,
        pytest.raises(ValueError, match=f"^invalid cursor: ({reason})"),
    ):
        await pagination.posts_after(session, cursor)
    assert log.statements == []


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-01-01T12:00:00+00:00",
        "2026-01-01T12:00:00.999999-05:00",
        "9999-12-31T23:59:59.999999+00:00",
        "0001-01-01T00:00:00+00:00",
    ],
)
async def test_forged_well_formed_cursor_gives_a_page_not_a_database_error(
    session: AsyncSession, lane: Lane, created_at: str
) -> None:
    # A cursor is not a secret: a client can forge one, and gets a page it could reach anyway.
    await add_posts_sharing_one_timestamp(session, lane)
    cursor = b64(json.dumps({"created_at": created_at, "id": 2**31 - 1}).encode())
    page = await pagination.posts_after(session, cursor)
    assert len(page.items) in (0, 20)


async def test_cursor_round_trip() -> None:
    post = Post(id=7, title="t", author_id=1, created_at=SAME_TIME)
    cursor = pagination.encode_cursor(post)
    assert "=" not in cursor.rstrip("=")  # URL-safe alphabet: no '+' or '/'
    assert "+" not in cursor
    assert "/" not in cursor
    assert pagination.decode_cursor(cursor) == (SAME_TIME, 7)


async def test_server_default_timestamps_on_sqlite_break_keyset(
    session: AsyncSession, lane: Lane
) -> None:
    # On SQLite, server_default=func.now() stores '2026-01-01 12:00:00' (text), while a bound
    # datetime is sent as '2026-01-01 12:00:00.000000': equal times compare as different strings.
    author = User(email="ada@example.com", name="Ada")
    session.add_all(Post(title=f"#{i}", author=author) for i in range(5))
    await session.flush()
    # One statement evaluates the server's now() once: every row gets the same timestamp, in
    # the server's own format, even if the clock ticked between the INSERTs above.
    await session.execute(update(Post).values(created_at=func.now()))
    session.expunge_all()
    assert await session.scalar(select(func.count(func.distinct(Post.created_at)))) == 1
    first = await pagination.posts_after(session, None, page_size=2)
    assert first.next_cursor is not None
    second = await pagination.posts_after(session, first.next_cursor, page_size=2)
    first_ids = [post.id for post in first.items]
    second_ids = [post.id for post in second.items]
    if lane.backend == "sqlite":
        assert second_ids == first_ids  # page 2 starts again from the top
        stored = await session.scalar(text("SELECT created_at FROM posts LIMIT 1"))
        assert len(stored) == len("2026-01-01 12:00:00")
    else:
        assert set(second_ids).isdisjoint(first_ids)
        assert max(second_ids) < min(first_ids)


async def explain(engine: AsyncEngine, lane: Lane, run: Callable[[], Awaitable[object]]) -> str:
    """The database's plan for the one statement that ``run`` sends."""
    with count_statements(engine) as log:
        await run()
    [(statement, parameters)] = zip(log.statements, log.parameters, strict=True)
    prefix = "EXPLAIN QUERY PLAN " if lane.backend == "sqlite" else "EXPLAIN "
    async with engine.connect() as conn:
        if lane.backend == "postgresql":
            # 220 rows are cheaper to read whole; ask whether the index can serve the query.
            await conn.execute(text("SET enable_seqscan = off"))
            await conn.execute(text("SET enable_bitmapscan = off"))
        result = await conn.exec_driver_sql(prefix + statement, parameters)
        return "\n".join(" ".join(str(value) for value in row) for row in result)


async def test_index_on_created_at_and_id_serves_the_keyset_query(db_url: URL, lane: Lane) -> None:
    engine = make_test_engine(db_url)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)  # includes ix_posts_created_at_id
        async with Session() as session:
            await add_posts_sharing_one_timestamp(session, lane)
            await session.commit()
            cursor = (await pagination.posts_after(session, None)).next_cursor
            assert cursor is not None
            plan = await explain(engine, lane, lambda: pagination.posts_after(session, cursor))
            assert "ix_posts_created_at_id" in plan, plan
            for sort_step in ("Sort", "filesort", "TEMP B-TREE"):
                assert sort_step not in plan, plan

            # The row-value form of the same condition: MariaDB does not consider the index.
            created_at, post_id = pagination.decode_cursor(cursor)
            row_value = (
                select(Post)
                .where(tuple_(Post.created_at, Post.id) < (created_at, post_id))
                .order_by(Post.created_at.desc(), Post.id.desc())
                .limit(21)
            )
            plan = await explain(engine, lane, lambda: session.execute(row_value))
            if lane.backend == "mysql":
                assert "ix_posts_created_at_id" not in plan, plan
                assert "filesort" in plan
            else:
                assert "ix_posts_created_at_id" in plan, plan
    finally:
        await engine.dispose()


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await pagination.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "offset: page 1 has 20 of 45, next: True" in out
    assert "keyset: 45 posts, 45 distinct" in out
