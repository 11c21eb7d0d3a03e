"""examples/external_io.py on every lane: what each shape holds while the HTTP calls run.

The carrier (a real HTTP server on 127.0.0.1) holds every call in flight until the test opens
its gate, so the tests look at the pool in the middle of the calls: with a session held across
each call every connection is checked out and an unrelated request gets the pool's TimeoutError;
read-release-call-write holds none. Counts, not timings: checkouts, transactions and statements
are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import URL, delete, event, func, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples import external_io as m
from examples.errors import Database
from examples.errors.pool import wrong_refresh_statuses
from examples.external_io import (
    CarrierClient,
    CarrierError,
    Shipment,
    TrackingServer,
)
from tests.conftest import Lane
from tools.statements import count_statements
from tools.versions import SA21

POOL_TIMEOUT_TEXT = (
    "QueuePool limit of size 5 overflow 0 reached, connection timed out, timeout 0.10 "
    f"(Background on this error at: https://sqlalche.me/e/{'21' if SA21 else '20'}/3o7r)"
)


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(m.ShippingBase.metadata) as database:
        yield database


@pytest.fixture
async def ids(db: Database) -> list[int]:
    """Eight shipments in transit (TRK00001..TRK00008), version 1; nothing else."""
    async with db.Session.begin() as session:
        await session.execute(delete(Shipment))
    return await m.seed(db.Session, 8)


@contextlib.asynccontextmanager
async def pool_of_5(db: Database) -> AsyncIterator[AsyncEngine]:
    """The benchmark's pool: 5 connections, no overflow; a request waits 0.1 s at most."""
    engine = create_async_engine(db.url, pool_size=5, max_overflow=0, pool_timeout=0.1)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def calls_held(
    db: Database,
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession], TrackingServer]]:
    """A pool of 5 and a carrier that holds every call in flight until its gate is set."""
    async with (
        asyncio.timeout(30),
        pool_of_5(db) as engine,
        TrackingServer(delay=0, answers={"TRK00002": "lost"}) as carrier,
    ):
        carrier.gate.clear()
        yield engine, async_sessionmaker(engine), carrier


@dataclass
class Activity:
    checkouts: int = 0
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0


@contextlib.contextmanager
def activity(engine: AsyncEngine) -> Iterator[Activity]:
    """Count pool checkouts and transactions (begin, commit, rollback) inside the block."""
    seen = Activity()

    def counter(name: str) -> Any:
        def count(*args: Any) -> None:
            setattr(seen, name, getattr(seen, name) + 1)

        return count

    listeners = {
        "checkout": counter("checkouts"),
        "begin": counter("begins"),
        "commit": counter("commits"),
        "rollback": counter("rollbacks"),
    }
    for name, listener in listeners.items():
        event.listen(engine.sync_engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners.items():
            event.remove(engine.sync_engine, name, listener)


async def unrelated_request(Session: async_sessionmaker[AsyncSession]) -> int | None:
    """Another endpoint of the same service: count the shipments."""
    async with Session() as session:
        count: int | None = await session.scalar(select(func.count()).select_from(Shipment))
        return count


async def rows(db: Database) -> dict[str, tuple[str, int]]:
    """tracking code -> (status, version)."""
    async with db.Session() as session:
        result = await session.execute(
            select(Shipment.tracking_code, Shipment.status, Shipment.version)
        )
        return {code: (status, version) for code, status, version in result}


async def test_session_held_across_each_call_takes_every_connection(
    db: Database, ids: list[int]
) -> None:
    async with calls_held(db) as (engine, Session, carrier):
        with count_statements(engine) as log, activity(engine) as seen:
            batch = asyncio.create_task(
                wrong_refresh_statuses(Session, CarrierClient(carrier.port), ids[:5])
            )
            await carrier.wait_in_flight(5)
            # Five calls in flight, five connections checked out: the whole pool.
            assert engine.pool.checkedout() == 5  # type: ignore[attr-defined]
            with pytest.raises(sqlalchemy.exc.TimeoutError) as caught:
                await unrelated_request(Session)
            assert str(caught.value) == POOL_TIMEOUT_TEXT
            carrier.gate.set()
            await batch
        # One session per shipment: a checkout, a transaction, a SELECT and an UPDATE each.
        assert (seen.checkouts, seen.begins, seen.commits) == (5, 5, 5)
        assert len(log.selects) == 5
        assert log.count == 10
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    stored = await rows(db)
    assert stored["TRK00002"] == ("lost", 1)
    assert [stored[f"TRK0000{n}"] for n in (1, 3, 4, 5)] == [("delivered", 1)] * 4


async def test_session_held_across_each_call_limits_the_calls_to_the_pool_size(
    db: Database, ids: list[int]
) -> None:
    engine = create_async_engine(db.url, pool_size=5, max_overflow=0, pool_timeout=30)
    try:
        async with asyncio.timeout(30), TrackingServer(delay=0) as carrier:
            carrier.gate.clear()
            client = CarrierClient(carrier.port)
            batch = asyncio.create_task(
                wrong_refresh_statuses(async_sessionmaker(engine), client, ids)
            )
            await carrier.wait_in_flight(5)  # the other 3 wait for a connection, not the carrier
            carrier.gate.set()
            await batch
            assert (carrier.requests, carrier.max_in_flight) == (8, 5)
    finally:
        await engine.dispose()


async def test_read_release_call_write_holds_no_connection_during_the_calls(
    db: Database, ids: list[int]
) -> None:
    async with calls_held(db) as (engine, Session, carrier):
        with count_statements(engine) as log, activity(engine) as seen:
            batch = asyncio.create_task(
                m.refresh_statuses(Session, CarrierClient(carrier.port).get, ids, limit=4)
            )
            await carrier.wait_in_flight(4)
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            assert await unrelated_request(Session) == 8  # a connection was free at once
            carrier.gate.set()
            statuses = await batch
        assert statuses == {i: "lost" if i == ids[1] else "delivered" for i in ids}
        assert (carrier.requests, carrier.max_in_flight) == (8, 4)  # 8 calls, 4 at a time
        # Read, the unrelated request, write: three checkouts, one commit (the write); the read
        # and the unrelated request end with a rollback when their sessions close.
        assert (seen.checkouts, seen.begins, seen.commits, seen.rollbacks) == (3, 3, 1, 2)
        assert [s.split()[0] for s in log.statements] == ["SELECT", "SELECT", "UPDATE"]
        assert "count(*)" in log.statements[1]
        assert len(log.parameters[2]) == 8  # one executemany: the 8 rows in one statement
    stored = await rows(db)
    assert stored["TRK00002"] == ("lost", 2)
    assert sorted(set(stored.values())) == [("delivered", 2), ("lost", 2)]


async def test_only_shipments_in_transit_are_called_about(db: Database, ids: list[int]) -> None:
    async with db.Session.begin() as session:
        await session.execute(
            update(Shipment).where(Shipment.id.in_(ids[:3])).values(status="returned", version=2)
        )
    async with asyncio.timeout(30), TrackingServer(delay=0) as carrier:
        statuses = await m.refresh_statuses(db.Session, CarrierClient(carrier.port).get, ids)
        assert sorted(statuses) == ids[3:]
        assert carrier.requests == 5


async def test_blind_write_overwrites_a_change_made_during_the_call(
    db: Database, ids: list[int]
) -> None:
    """Why store_statuses_if_unchanged exists: the bulk write cannot see the cancellation."""
    async with asyncio.timeout(30), TrackingServer(delay=0) as carrier:
        client = CarrierClient(carrier.port)
        tracked = await m.read_tracked(db.Session, ids)
        answers = await m.call_carrier(cancel_during_call(db, client, "TRK00003"), tracked, 4)
        await m.store_statuses(db.Session, answers)
    assert (await rows(db))["TRK00003"] == ("delivered", 3)  # the cancellation is lost


def cancel_during_call(
    db: Database, client: CarrierClient, code: str
) -> Callable[[str], Awaitable[str]]:
    """A lookup that, while the call about ``code`` runs, cancels that shipment in a
    transaction of its own (as a customer's request would): status and version change."""

    async def lookup(tracking_code: str) -> str:
        if tracking_code == code:
            async with db.Session.begin() as session:
                await session.execute(
                    update(Shipment)
                    .where(Shipment.tracking_code == code)
                    .values(status="cancelled", version=Shipment.version + 1)
                )
        return await client.get(tracking_code)

    return lookup


async def test_checked_write_leaves_a_row_changed_during_the_call(
    db: Database, ids: list[int], lane: Lane
) -> None:
    async with asyncio.timeout(30), TrackingServer(delay=0) as carrier:
        client = CarrierClient(carrier.port)
        tracked = await m.read_tracked(db.Session, ids)
        answers = await m.call_carrier(cancel_during_call(db, client, "TRK00003"), tracked, 4)
        with count_statements(db.engine) as log, activity(db.engine) as seen:
            changed = await m.store_statuses_if_unchanged(db.Session, tracked, answers)
    assert changed == [ids[2]]
    # One transaction: the rows locked and read again, one UPDATE for the 7 unchanged rows.
    assert (seen.checkouts, seen.begins, seen.commits) == (1, 1, 1)
    assert log.count == 2
    select_sql, update_sql = log.statements
    assert select_sql.startswith("SELECT shipments.id, shipments.version")
    # SQLite renders no FOR UPDATE (make_production_engine's BEGIN IMMEDIATE locks instead).
    assert select_sql.endswith(" FOR UPDATE") == (lane.backend != "sqlite")
    assert update_sql.startswith("UPDATE shipments SET status=")
    assert len(log.parameters[1]) == 7
    stored = await rows(db)
    assert stored["TRK00003"] == ("cancelled", 2)  # kept: the answer was about the old row
    assert [v for code, v in stored.items() if code != "TRK00003"] == [("delivered", 2)] * 7


async def test_a_failed_call_writes_nothing(db: Database, ids: list[int]) -> None:
    async with (
        asyncio.timeout(30),
        TrackingServer(delay=0, failing={"TRK00004"}) as carrier,
    ):
        with count_statements(db.engine) as log, pytest.raises(ExceptionGroup) as caught:
            await m.refresh_statuses(db.Session, CarrierClient(carrier.port).get, ids)
    assert [str(e) for e in caught.value.exceptions] == [
        "TRK00004: HTTP/1.1 503 Service Unavailable"
    ]
    assert isinstance(caught.value.exceptions[0], CarrierError)
    assert log.count == 1  # the read; no write
    assert set((await rows(db)).values()) == {("in_transit", 1)}


async def test_an_unknown_answer_writes_nothing(db: Database, ids: list[int]) -> None:
    async with asyncio.timeout(30), TrackingServer(delay=0, answers={"TRK00005": "beamed up"}) as c:
        with (
            count_statements(db.engine) as log,
            pytest.raises(ValueError, match="unknown statuses") as caught,
        ):
            await m.refresh_statuses(db.Session, CarrierClient(c.port).get, ids)
    assert str(caught.value) == (
        f"carrier answered unknown statuses (shipment id: status): {{{ids[4]}: 'beamed up'}}"
    )
    assert log.count == 1
    assert set((await rows(db)).values()) == {("in_transit", 1)}


@pytest.mark.parametrize(
    ("shipment_ids", "limit", "message"),
    [
        ([1], 0, "limit must be an int from 1 to 100, got 0"),
        ([1], 101, "limit must be an int from 1 to 100, got 101"),
        ([1], True, "limit must be an int from 1 to 100, got True"),
        ([1], 2.5, "limit must be an int from 1 to 100, got 2.5"),
        ([0], 10, "shipment ids must be positive ints, got 0"),
        ([True], 10, "shipment ids must be positive ints, got True"),
        (["1"], 10, "shipment ids must be positive ints, got '1'"),
        ([1, 2, 1], 10, "duplicate shipment ids"),
        (list(range(1, 1002)), 10, "at most 1000 shipments per call, got 1001"),
    ],
)
async def test_bad_input_is_refused_before_any_io(
    db: Database, ids: list[int], shipment_ids: list[Any], limit: Any, message: str
) -> None:
    async with TrackingServer(delay=0) as carrier:
        with (
            count_statements(db.engine) as log,
            pytest.raises(ValueError, match=re.escape(message)) as caught,
        ):
            await m.refresh_statuses(
                db.Session, CarrierClient(carrier.port).get, shipment_ids, limit
            )
        assert str(caught.value) == message
        assert (log.count, carrier.requests) == (0, 0)
    assert set((await rows(db)).values()) == {("in_transit", 1)}


async def test_empty_ids_do_nothing(db: Database, ids: list[int]) -> None:
    async with TrackingServer(delay=0) as carrier:
        with count_statements(db.engine) as log:
            assert await m.refresh_statuses(db.Session, CarrierClient(carrier.port).get, []) == {}
        assert (log.count, carrier.requests) == (0, 0)


@pytest.mark.parametrize(
    "code", ["TRK 1", "trk00001", "TRK1\r\nHost: evil", "", "X" * 41, "../admin"]
)
async def test_the_client_refuses_a_malformed_tracking_code(code: str) -> None:
    async with TrackingServer(delay=0) as carrier:
        with pytest.raises(ValueError, match=re.escape(f"not a tracking code: {code!r}")):
            await CarrierClient(carrier.port).get(code)
        assert carrier.requests == 0


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "refresh_statuses: 20 answers, TRK00003 'lost'" in out
    assert "carrier: 20 calls, at most 10 at once" in out
    assert "store_statuses_if_unchanged: 2 rows, changed meanwhile []" in out


async def test_orm_bulk_update_with_a_sql_expression_sends_a_statement_per_row(
    db: Database, ids: list[int]
) -> None:
    """Why store_statuses runs its UPDATE on the session's connection."""
    rows_given = [{"id": i, "status": "lost"} for i in ids]
    async with db.Session.begin() as session:
        with count_statements(db.engine) as plain:
            await session.execute(update(Shipment), rows_given)  # ORM bulk UPDATE by primary key
        with count_statements(db.engine) as with_expression:
            await session.execute(update(Shipment).values(version=Shipment.version + 1), rows_given)
    assert (plain.count, with_expression.count) == (1, 8)
    with count_statements(db.engine) as core:
        await m.store_statuses(db.Session, {i: "delivered" for i in ids})
    assert core.count == 1
    assert set((await rows(db)).values()) == {("delivered", 3)}
