"""Stream a large result: rows arrive in batches, memory stays flat however many rows match.

Illustrates ``session.stream_scalars()`` with ``execution_options(yield_per=N)``: a server-side
cursor (asyncpg cursor, aiomysql SSCursor, aiosqlite) feeds the ORM, which builds N objects at a
time. Without ``yield_per``, ``stream()`` still uses a server-side cursor, but the ORM reads
every row and builds every object before the first one is yielded (2.0 and 2.1 alike).

Run: python -m examples.streaming
"""

# region: stream
import csv
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.models import User


async def export_users_csv(session: AsyncSession, out: TextIO, *, batch_size: int = 1000) -> int:
    """Write every user to ``out`` as CSV, holding at most ``batch_size`` of them in memory."""
    if not 1 <= batch_size <= 100_000:
        raise ValueError("batch_size must be 1-100000")
    writer = csv.writer(out)
    writer.writerow(["id", "email", "name"])
    # yield_per: fetch and build batch_size objects at a time (it also turns on
    # stream_results, the server-side cursor). Without it, every object is built first.
    stmt = select(User).order_by(User.id).execution_options(yield_per=batch_size)
    result = await session.stream_scalars(stmt)
    count = 0
    try:
        # partitions(): one await per batch. A per-row "async for" pays a switch per row and
        # is 2x slower (references/performance.md); memory is the same.
        async for batch in result.partitions():
            writer.writerows([user.id, user.email, user.name] for user in batch)
            count += len(batch)
    finally:
        # A half-read server-side cursor keeps the connection busy: close it if we stop early.
        await result.close()
    return count


# endregion: stream


async def main(url: str) -> None:
    import io

    from sqlalchemy import insert

    from examples.run import example_database

    async with example_database(url) as Session:
        async with Session() as session, session.begin():
            rows = [{"email": f"user{n}@example.com", "name": f"User {n}"} for n in range(2500)]
            await session.execute(insert(User), rows)
        out = io.StringIO()
        async with Session() as session:
            exported = await export_users_csv(session, out, batch_size=500)
        print(f"exported {exported} users; last line: {out.getvalue().splitlines()[-1]}")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
