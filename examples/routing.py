"""Read/write routing with a custom session class: writes to the primary, reads to a replica.

Illustrates ``Session.get_bind()`` overridden on a *sync* ``Session`` subclass (the ORM calls it
from inside the sync session that every AsyncSession wraps, so it must return a sync
``Engine``: ``async_engine.sync_engine``), plugged in with
``async_sessionmaker(sync_session_class=...)``, and the reads that must not go to a replica:
locking reads (``FOR UPDATE``), reads inside a ``session.begin()`` unit of work, and reads after
the transaction has written.

Run: python -m examples.routing   (uses two databases: DATABASE_URL and a second SQLite file)
"""

# region: routing
from typing import Any

from sqlalchemy import Connection, Engine, Select, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin
from sqlalchemy.sql import ClauseElement


class RoutingSession(Session):
    """Plain reads go to the replica. To the primary go: every write (flushes, DML, text(),
    session.connection()), locking reads (with_for_update), every statement of a unit of
    work opened with session.begin(), and every read after the transaction first wrote."""

    def __init__(self, *, writer: Engine, reader: Engine, **kw: Any) -> None:
        super().__init__(**kw)
        self.writer = writer
        self.reader = reader

    def get_bind(
        self, mapper: Any = None, *, clause: ClauseElement | None = None, **kw: Any
    ) -> Engine:
        # Name what may go to the replica and send the rest to the primary: flushes and ORM
        # bulk INSERTs arrive here with no clause at all, only a mapper.
        if isinstance(clause, Select) and self._replica_may_answer(clause):
            return self.reader
        return self.writer

    def _replica_may_answer(self, select: Select[Any]) -> bool:
        if select._for_update_arg is not None:  # FOR UPDATE / FOR SHARE: locks on the primary
            return False
        transaction = self.get_transaction()
        if transaction is None:
            return True
        # A unit of work reads what it is about to change: a lagging replica would make it
        # decide on stale rows. And once a transaction has written, it reads its own writes.
        explicit = transaction.origin is SessionTransactionOrigin.BEGIN
        return not explicit and not self.info.get("wrote", False)


@event.listens_for(RoutingSession, "after_begin")
def _remember_the_write(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    if isinstance(session, RoutingSession) and connection.engine is session.writer:
        session.info["wrote"] = True


@event.listens_for(RoutingSession, "after_transaction_end")
def _forget_the_write(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended: reads may use the replica
        session.info.pop("wrote", None)


def routing_sessionmaker(
    writer: AsyncEngine, reader: AsyncEngine
) -> async_sessionmaker[AsyncSession]:
    # get_bind runs inside the sync Session: hand it sync engines. An AsyncEngine there
    # fails every query with AsyncContextNotStarted.
    return async_sessionmaker(
        sync_session_class=RoutingSession,
        writer=writer.sync_engine,
        reader=reader.sync_engine,
        expire_on_commit=False,
    )


# endregion: routing


async def main(url: str) -> None:
    import tempfile
    from pathlib import Path

    from sqlalchemy import select

    from examples.models import User
    from examples.quickstart import create_tables, drop_tables, make_engine

    with tempfile.TemporaryDirectory() as tmp:
        # A real replica would receive the primary's writes; here it is a separate database
        # with different content, so each row shows which database answered.
        writer = make_engine(url)
        reader = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'replica.db'}")
        for engine in (writer, reader):
            await create_tables(engine)
        try:
            async with AsyncSession(reader) as session, session.begin():
                session.add(User(email="replica@example.com", name="on the replica"))

            Session = routing_sessionmaker(writer, reader)
            async with Session() as session, session.begin():
                session.add(User(email="primary@example.com", name="on the primary"))
            async with Session() as session:
                names = (await session.scalars(select(User.name))).all()
            print(f"write went to the writer, read came from the reader: {names}")
        finally:
            for engine in (writer, reader):
                await drop_tables(engine)
                await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
