"""Alembic's env.py for async engines: started from `alembic init -t async migrations`, then

* ``target_metadata`` is the models' metadata (autogenerate compares against it);
* the URL comes from ``DATABASE_URL``, or from application code through ``cfg.attributes``;
* ``compare_type=True`` and, on SQLite, ``render_as_batch=True``;
* application code that already runs an event loop hands over its connection
  (``cfg.attributes["connection"]``) instead of letting env.py call ``asyncio.run()``.

Alembic runs this file itself (``alembic upgrade head`` or ``alembic.command.*``); it is not
imported.
"""

# region: env
import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import URL, Connection, TypeDecorator, make_url, pool
from sqlalchemy.ext.asyncio import create_async_engine

from examples.models import Base

config = context.config
# Application code that runs migrations keeps its own logging: it sets this attribute to False.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def database_url() -> URL:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("set DATABASE_URL, e.g. postgresql+asyncpg://user:password@host/db")
    return make_url(url)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write a TypeDecorator (models.UTCDateTime) as the type it stores, sa.DateTime(...):
    a revision must not import the application's code, which changes after it is written."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False  # everything else: Alembic's default rendering


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of connecting."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_as_batch=url.get_backend_name() == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # Plain synchronous Alembic code: it runs inside connection.run_sync(), on a greenlet
    # that turns every database call into an await on the async driver.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,  # column type changes show up in autogenerate and `alembic check`
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())  # the alembic CLI: no event loop is running yet
    else:
        do_run_migrations(connection)  # handed over by async code, inside run_sync()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
# endregion: env
