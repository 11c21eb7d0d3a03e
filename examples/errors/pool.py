"""Errors from the connection pool: every connection held across slow non-database IO.

A session opened per row and kept open while that row's HTTP call runs holds a pooled
connection (and a transaction) for the whole call. With as many calls in flight as the pool has
connections, none is left: an unrelated request waits ``pool_timeout`` seconds and fails with
``QueuePool limit of size 5 overflow 0 reached, connection timed out``. The pool is not too
small; the connections are held across IO that does not need them.

``wrong_refresh_statuses`` is that shape; ``fixed_refresh_statuses`` reads, releases the
connection, calls out and writes in one short transaction (examples/external_io.py).
``unrelated_request_during_calls`` runs either one with every carrier call held in flight and
makes the unrelated request meanwhile.

Run: python -m examples.errors.pool
"""

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from examples.errors import capture, open_database, report
from examples.external_io import (
    CarrierClient,
    Shipment,
    ShippingBase,
    TrackingServer,
    refresh_statuses,
    seed,
)

Refresh = Callable[
    [async_sessionmaker[AsyncSession], CarrierClient, Sequence[int]], Coroutine[Any, Any, None]
]


async def wrong_refresh_statuses(
    Session: async_sessionmaker[AsyncSession], client: CarrierClient, shipment_ids: Sequence[int]
) -> None:
    async def refresh(shipment_id: int) -> None:
        async with Session() as session, session.begin():  # one session per task, as it should
            shipment = await session.get_one(Shipment, shipment_id)
            # ...but the connection (and the transaction) stay checked out during the call.
            shipment.status = await client.get(shipment.tracking_code)

    await asyncio.gather(*(refresh(shipment_id) for shipment_id in shipment_ids))


async def fixed_refresh_statuses(
    Session: async_sessionmaker[AsyncSession], client: CarrierClient, shipment_ids: Sequence[int]
) -> None:
    # Read and release, call with no session open (10 at a time), write in one transaction.
    await refresh_statuses(Session, client.get, shipment_ids, limit=10)


POOL_SIZE = 5


async def unrelated_request_during_calls(
    url: str, refresh: Refresh, shipment_ids: Sequence[int]
) -> int | None:
    """Run ``refresh`` on a pool of 5 (``pool_timeout=0.2``) with every carrier call held in
    flight; meanwhile an unrelated request counts the shipments. Returns its count, or raises
    what it got. Give at most 5 shipments in transit: one call, one connection each."""
    if not 1 <= len(shipment_ids) <= POOL_SIZE:
        raise ValueError(f"give 1 to {POOL_SIZE} shipment ids, got {len(shipment_ids)}")
    engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=0.2)
    Session = async_sessionmaker(engine)
    try:
        async with TrackingServer(delay=0) as carrier:
            carrier.gate.clear()  # a slow carrier: no call is answered until the gate opens
            batch = asyncio.create_task(refresh(Session, CarrierClient(carrier.port), shipment_ids))
            try:
                await carrier.wait_in_flight(len(shipment_ids))
                async with Session() as session:  # the unrelated request
                    count: int | None = await session.scalar(
                        select(func.count()).select_from(Shipment)
                    )
                    return count
            finally:
                carrier.gate.set()
                await batch
    finally:
        await engine.dispose()


async def back_in_transit(Session: async_sessionmaker[AsyncSession], ids: Sequence[int]) -> None:
    async with Session.begin() as session:
        await session.execute(
            update(Shipment)
            .where(Shipment.id.in_(ids))
            .values(status="in_transit", version=Shipment.version + 1)
        )


async def main(url: str) -> None:
    db = await open_database(url, ShippingBase.metadata)
    try:
        ids = await seed(db.Session, POOL_SIZE)
        # What the unrelated request gets while each shape waits for the carrier:
        wrong = unrelated_request_during_calls(url, wrong_refresh_statuses, ids)
        report("wrong_refresh_statuses", await capture(wrong))
        await back_in_transit(db.Session, ids)
        fixed = unrelated_request_during_calls(url, fixed_refresh_statuses, ids)
        report("fixed_refresh_statuses", await capture(fixed))
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
