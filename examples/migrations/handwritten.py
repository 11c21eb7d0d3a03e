"""Migration operations autogenerate does not write (or writes wrongly), written by hand:
a column rename, a changed server default, a CHECK constraint; in a batch block, so the same
revision runs on PostgreSQL and MariaDB (ALTER TABLE) and on SQLite (a table rebuild).

Run: python -m examples.migrations.handwritten
"""

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table


def tables_before() -> MetaData:
    """The schema the operations below start from (on its own MetaData, not the models')."""
    metadata = MetaData()
    Table("parents", metadata, Column("id", Integer, primary_key=True))
    Table(
        "children",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=True),
        Column("status", String(20), server_default="new"),
        Column("parent_id", ForeignKey("parents.id"), nullable=False),
    )
    return metadata


# region: handwritten_ops
import sqlalchemy as sa
from alembic.operations import Operations


def upgrade_children(op: Operations) -> None:
    # In a revision file this is the body of upgrade(), with alembic's `op`.
    with op.batch_alter_table("children") as batch_op:
        # A rename, not remove_column + add_column: the data stays. MariaDB/MySQL restate the
        # whole column (CHANGE COLUMN), so give its type and nullability.
        batch_op.alter_column(
            "name", new_column_name="full_name", existing_type=sa.String(50), existing_nullable=True
        )
        # A new server default: not compared by autogenerate unless compare_server_default=True.
        batch_op.alter_column("status", server_default="draft", existing_type=sa.String(20))
        # A CHECK constraint: never detected by autogenerate.
        batch_op.create_check_constraint("ck_children_status", "status <> ''")


# endregion: handwritten_ops


async def main(url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import Connection, inspect
    from sqlalchemy.ext.asyncio import create_async_engine

    def upgrade(conn: Connection) -> None:
        upgrade_children(Operations(MigrationContext.configure(conn)))

    def describe(conn: Connection) -> str:
        columns = [c["name"] for c in inspect(conn).get_columns("children")]
        checks = [c["name"] for c in inspect(conn).get_check_constraints("children")]
        return f"columns {columns}, checks {checks}"

    engine = create_async_engine(url)
    metadata = tables_before()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
        async with engine.connect() as conn:
            print(await conn.run_sync(describe))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
