"""Plumbing for ``python -m examples.<module>``: pick the database, run ``main(url)``.

Uses ``DATABASE_URL`` when set (e.g. ``postgresql+asyncpg://user@host/db``), otherwise a SQLite
file in a temporary directory that is removed afterwards.
"""

import asyncio
import os
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any


def run_example(main: Callable[[str], Coroutine[Any, Any, None]]) -> None:
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(main(url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(f"sqlite+aiosqlite:///{tmp}/example.db"))
