"""What the installed SQLAlchemy release does, where a patch release of both lines changed it.

Tests assert the behaviour of the release they run on; the skill states both sides with the
releases that changed them. Each constant names the SQLAlchemy issue behind the change.
"""

from __future__ import annotations

import re

import sqlalchemy


def release(version: str) -> tuple[int, int, int]:
    """``"2.0.59"`` -> ``(2, 0, 59)``; pre-release and local suffixes are ignored."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a SQLAlchemy version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


INSTALLED = release(sqlalchemy.__version__)
SA21 = INSTALLED[:2] >= (2, 1)


def at_least(on_20: str, on_21: str, installed: tuple[int, int, int] = INSTALLED) -> bool:
    """True when ``installed`` has a change released in 2.0.x ``on_20`` and in 2.1.x ``on_21``."""
    floor = release(on_21) if installed[:2] >= (2, 1) else release(on_20)
    return installed >= floor


# sqlalchemy#13636: asyncpg errors raise the PEP 249 class of their SQLSTATE (DataError,
# OperationalError, ...) instead of a plain DBAPIError.
ASYNCPG_ERRORS_BY_SQLSTATE = at_least("2.0.59", "2.1.10")

# sqlalchemy#13831: aiosqlite closes the cursor of a statement interrupted by cancellation, so the
# abandoned connection no longer keeps the database file locked until garbage collection.
AIOSQLITE_CLOSES_CANCELLED_CURSOR = at_least("2.0.59", "2.1.10")
