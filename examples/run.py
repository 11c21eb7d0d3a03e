"""Plumbing for ``python -m examples.<module>``: pick the database, run ``main(url)``.

Uses ``DATABASE_URL`` when set (e.g. ``postgresql+asyncpg://user@host/db``), otherwise a SQLite
file in a temporary directory that is removed afterwards.
"""

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from examples.quickstart import create_tables, drop_tables, make_engine


def run_example(main: Callable[[str], Coroutine[Any, Any, None]]) -> None:
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(main(url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(f"sqlite+aiosqlite:///{tmp}/example.db"))


@asynccontextmanager
async def example_database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The examples' tables on ``url`` for one ``main()``: created first, dropped at the end,
    so a demo run against a real database leaves nothing behind."""
    engine = make_engine(url)
    await create_tables(engine)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await drop_tables(engine)
        await engine.dispose()
