"""Fill the ``posts`` table of examples/models.py with many rows, fast, on any lane.

Makes sure of the index the skill recommends for pagination by (created_at, id): declared on
Post in examples/models.py, created here when the model lacks it. PostgreSQL loads with COPY
through asyncpg (the driver's fastest path); the other lanes use executemany in batches of
10,000 rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

from sqlalchemy import URL, insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.harness import lane_of
from examples.models import Base, Post, User

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
POST_INDEX = "CREATE INDEX ix_posts_created_at_id ON posts (created_at, id)"
ANALYZE = {"postgresql": "ANALYZE", "mysql": "ANALYZE TABLE posts", "sqlite": "ANALYZE"}


def post_rows(n: int) -> Iterator[tuple[int, str, str, int, datetime.datetime]]:
    """(id, title, body, author_id, created_at); every two posts share a timestamp, so the
    sort needs ``id`` to break ties, as real data does."""
    for i in range(n):
        yield i + 1, f"Post {i}", "lorem ipsum " * 5, 1, START + datetime.timedelta(seconds=i // 2)


async def seed_posts(url: URL, n: int, progress: Callable[[str], None]) -> None:
    """Create every table of examples.models in ``url``, one user, and n posts by that user."""
    engine = create_async_engine(url)
    columns = ["id", "title", "body", "author_id", "created_at"]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            posts = Base.metadata.tables["posts"]
            declared = {tuple(c.name for c in index.columns) for index in posts.indexes}
            if ("created_at", "id") not in declared:  # older models.py without the index
                await conn.execute(text(POST_INDEX))
            await conn.execute(insert(User), [{"email": "author@example.com", "name": "Author"}])
            if engine.dialect.driver == "asyncpg":
                raw = await conn.get_raw_connection()
                assert raw.driver_connection is not None
                await raw.driver_connection.copy_records_to_table(
                    "posts", records=post_rows(n), columns=columns
                )
            else:
                batch: list[dict[str, object]] = []
                for number, values in enumerate(post_rows(n), 1):
                    batch.append(dict(zip(columns, values, strict=True)))
                    if len(batch) == 10_000 or number == n:
                        await conn.execute(insert(Post), batch)
                        batch = []
                    if number % 250_000 == 0:
                        progress(f"seeded {number:,} posts")
        async with engine.connect() as conn:  # planner statistics for the new rows
            await conn.execute(text(ANALYZE[lane_of(engine)]))
            await conn.commit()
    finally:
        await engine.dispose()
    progress(f"seeded {n:,} posts")
