"""examples/streaming.py on every lane: objects are built in batches with yield_per, all at
once without it (SQLAlchemy 2.0 and 2.1 alike), and a stopped stream is closed."""

import io
import warnings
from typing import Any

import pytest
from sqlalchemy import URL, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples import streaming
from examples.models import User
from tests.conftest import Lane

ROWS = 5000


async def add_users(session: AsyncSession, count: int = ROWS) -> None:
    rows = [{"email": f"user{n}@example.com", "name": f"User {n}"} for n in range(count)]
    await session.execute(insert(User), rows)


class Probe(io.StringIO):
    """CSV output that records how many ORM objects the session holds at each data row."""

    def __init__(self, session: AsyncSession, fail_after: int | None = None) -> None:
        super().__init__()
        self.session = session
        self.fail_after = fail_after
        self.alive: list[int] = []

    def write(self, text: str) -> int:
        if self.getvalue():  # the header is written before the query runs
            self.alive.append(len(self.session.identity_map))
            if self.fail_after is not None and len(self.alive) > self.fail_after:
                raise OSError("disk full")
        return super().write(text)


async def test_yield_per_builds_objects_in_batches(session: AsyncSession) -> None:
    await add_users(session)
    out = Probe(session)
    assert await streaming.export_users_csv(session, out, batch_size=100) == ROWS
    assert out.alive[0] == 100  # the first row arrives with one batch built, not 5,000
    assert max(out.alive) == 100  # earlier batches are released as the stream moves on
    lines = out.getvalue().splitlines()
    assert len(lines) == ROWS + 1
    assert lines[1] == f"{lines[1].split(',')[0]},user0@example.com,User 0"


async def test_stream_without_yield_per_builds_every_object_first(session: AsyncSession) -> None:
    """The seed guide's version, on SQLAlchemy 2.0.x and 2.1.x alike."""
    await add_users(session)
    result = await session.stream(select(User))
    async for _user in result.scalars():
        alive_at_first_row = len(session.identity_map)
        break
    await result.close()
    assert alive_at_first_row == ROWS


async def test_both_use_a_server_side_cursor(session: AsyncSession, engine: AsyncEngine) -> None:
    """The difference is in the ORM, not the cursor: stream() always asks for stream_results."""
    await add_users(session, 10)
    seen: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        context = args[-2]
        if statement.lstrip().startswith("SELECT"):
            seen.append(context.execution_options.get("stream_results"))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await streaming.export_users_csv(session, io.StringIO(), batch_size=3)
        result = await session.stream(select(User))
        await result.close()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert seen == [True, True]


async def test_stopping_early_closes_the_cursor(session: AsyncSession) -> None:
    await add_users(session)
    out = Probe(session, fail_after=10)
    with pytest.raises(OSError, match="disk full"):
        await streaming.export_users_csv(session, out, batch_size=100)
    # The cursor was closed: the same session runs the next query at once, with no warning.
    assert await session.scalar(select(func.count()).select_from(User)) == ROWS


async def test_a_stream_left_open_is_drained_with_a_warning_on_mysql(
    session: AsyncSession, lane: Lane
) -> None:
    await add_users(session)
    result = await session.stream_scalars(select(User).execution_options(yield_per=100))
    async for _user in result:
        break  # and no result.close()
    count = select(func.count()).select_from(User)
    if lane.backend == "mysql":
        with pytest.warns(UserWarning, match="Previous unbuffered result was left incomplete"):
            assert await session.scalar(count) == ROWS
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert await session.scalar(count) == ROWS
    await result.close()


@pytest.mark.parametrize("batch_size", [0, -5, 100_001])
async def test_bad_batch_size_is_rejected(session: AsyncSession, batch_size: int) -> None:
    out = io.StringIO()
    with pytest.raises(ValueError, match="batch_size must be 1-100000"):
        await streaming.export_users_csv(session, out, batch_size=batch_size)
    assert out.getvalue() == ""


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await streaming.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "exported 2500 users; last line: 2500,user2499@example.com,User 2499" in out
