"""Run the Alembic migrations from async code: application startup, a deploy task, a test.

env.py calls ``asyncio.run()`` when the alembic CLI runs it; inside an application an event loop
is already running, so the application opens the connection itself and hands it to env.py
through ``cfg.attributes``, from inside ``run_sync``.

Run: python -m examples.migrations.runner
"""

# region: run_migrations
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str) -> Config:
    cfg = Config(ALEMBIC_INI)
    cfg.attributes["url"] = url  # read by env.py; no configparser escaping of "%" needed
    cfg.attributes["configure_logger"] = False  # the application keeps its logging setup
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection  # env.py migrates on it: no asyncio.run()
    command.upgrade(cfg, revision)


async def run_migrations(url: str, revision: str = "head") -> None:
    engine = create_async_engine(url)
    try:
        # One transaction for the whole run: on PostgreSQL a failing revision leaves nothing
        # behind; MariaDB/MySQL and SQLite keep what ran before it.
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, alembic_config(url), revision)
    finally:
        await engine.dispose()


# endregion: run_migrations


async def main(url: str) -> None:
    import asyncio

    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    def current_revision(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    await run_migrations(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            revision = await conn.run_sync(current_revision)
            tables = await conn.run_sync(lambda c: sorted(inspect(c).get_table_names()))
        print(f"migrated to {revision}: {', '.join(tables)}")
    finally:
        await engine.dispose()
        # The alembic CLI path (env.py's own asyncio.run) needs a thread without a running loop.
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
