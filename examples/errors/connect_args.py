"""Errors from connect arguments: each PostgreSQL driver takes its own. ``connect_args`` goes
to the driver's ``connect()`` as it is, so asyncpg's ``server_settings``/``command_timeout``/
``timeout`` fail on psycopg, and psycopg's (libpq's) ``options``/``connect_timeout`` fail on
asyncpg, at the first connect, when the URL's driver changes (for example on SQLAlchemy 2.1,
where a plain ``postgresql://`` URL means psycopg).

Run: DATABASE_URL=postgresql+psycopg://... python -m examples.errors.connect_args
"""

# Each region carries its own imports so that it can be copied alone.

from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from examples.errors import capture, report

# connect_args written for one driver: a 30 s server-side statement timeout, and a connect
# timeout, in that driver's words.
WRITTEN_FOR: dict[str, dict[str, Any]] = {
    "asyncpg": {"server_settings": {"statement_timeout": "30000"}, "timeout": 10},
    "psycopg": {"options": "-c statement_timeout=30000", "connect_timeout": 10},
}


async def show_statement_timeout(url: str, connect_args: dict[str, Any]) -> str:
    """Connect with ``connect_args`` and return the session's statement_timeout."""
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SHOW statement_timeout")))
    finally:
        await engine.dispose()


async def wrong_connect_args_per_driver(url: str, written_for: str) -> str:
    # connect_args written for one driver, and a URL that names the other: e.g. asyncpg's
    # server_settings on postgresql+psycopg:// (or on 2.1's plain postgresql://).
    return await show_statement_timeout(url, WRITTEN_FOR[written_for])


# region: fix-connect-args-per-driver
from typing import Any

from sqlalchemy import URL, make_url


def statement_timeout_args(url: str | URL, seconds: float) -> dict[str, Any]:
    """connect_args for a server-side statement timeout, in the URL's driver's own words."""
    milliseconds = round(seconds * 1000)
    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"server_settings": {"statement_timeout": str(milliseconds)}, "timeout": 10}
    if driver == "psycopg":  # libpq's "options": the same setting, sent at connect
        return {"options": f"-c statement_timeout={milliseconds}", "connect_timeout": 10}
    raise ValueError(f"no PostgreSQL connect arguments for driver {driver!r}")


# usage: create_async_engine(url, connect_args=statement_timeout_args(url, 30))
# endregion: fix-connect-args-per-driver


async def fixed_connect_args_per_driver(url: str) -> str:
    return await show_statement_timeout(url, statement_timeout_args(url, 30))


async def main(url: str) -> None:
    if make_url(url).get_backend_name() != "postgresql":
        print("connect arguments differ between PostgreSQL drivers: set DATABASE_URL")
        return
    for written_for in WRITTEN_FOR:
        outcome = await capture(wrong_connect_args_per_driver(url, written_for))
        report(f"wrong_connect_args_per_driver ({written_for}'s)", outcome)
    print(f"fixed_connect_args_per_driver: returned {await fixed_connect_args_per_driver(url)!r}")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
