"""Slow non-database IO (an HTTP call per row) without holding a pooled connection across it.

A session that stays open while it awaits an HTTP call keeps its connection checked out, and
usually its transaction open, for the whole call: with one call per row and a session per row,
every connection of the pool waits on the remote service and an unrelated request gets
``QueuePool limit ... reached, connection timed out`` (the wrong shape is
``wrong_refresh_statuses`` in examples/errors/pool.py). The shape here:

1. read what the calls need, as plain values, and close the session (the connection goes back);
2. make the calls with no session open, at most ``limit`` at a time (the remote service's
   limit, unrelated to the pool size);
3. write every answer in one short transaction: one executemany UPDATE.

When an answer must only apply to the row as it was read (someone may have cancelled the
shipment during the call), step 3 re-checks in the write transaction: a conditional UPDATE on
a version column, ``store_statuses_if_unchanged``.

The "carrier" is a real HTTP server on 127.0.0.1 (``TrackingServer``, asyncio streams) and
``CarrierClient`` its client, so the calls are real socket IO; tests hold every call in flight
with ``TrackingServer.gate`` to count what each shape holds meanwhile.

Run: python -m examples.external_io
"""

# region: models
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ShippingBase(DeclarativeBase):
    pass


class Shipment(ShippingBase):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="in_transit")
    # Every write adds 1: a writer that read version 3 can tell that the row changed since.
    version: Mapped[int] = mapped_column(default=1)


# endregion: models


# region: read-call-write
import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CARRIER_STATUSES = frozenset({"in_transit", "delivered", "returned", "lost"})


@dataclass(frozen=True)
class Tracked:
    """What one call needs, as plain values: nothing that needs a session later."""

    id: int
    tracking_code: str
    version: int


def checked_request(shipment_ids: Sequence[int], limit: int) -> list[int]:
    """Validate before any IO: ids are distinct positive ints (at most 1,000), 1 <= limit <= 100."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValueError(f"limit must be an int from 1 to 100, got {limit!r}")
    ids = list(shipment_ids)
    if len(ids) > 1000:
        raise ValueError(f"at most 1000 shipments per call, got {len(ids)}")
    for shipment_id in ids:
        if isinstance(shipment_id, bool) or not isinstance(shipment_id, int) or shipment_id < 1:
            raise ValueError(f"shipment ids must be positive ints, got {shipment_id!r}")
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate shipment ids")
    return ids


async def read_tracked(
    Session: async_sessionmaker[AsyncSession], shipment_ids: Sequence[int]
) -> list[Tracked]:
    """Step 1: one SELECT; leaving the block returns the connection to the pool."""
    if not shipment_ids:
        return []
    async with Session() as session:
        rows = await session.execute(
            select(Shipment.id, Shipment.tracking_code, Shipment.version)
            .where(Shipment.id.in_(shipment_ids), Shipment.status == "in_transit")
            .order_by(Shipment.id)
        )
        return [Tracked(*row) for row in rows]


async def call_carrier(
    lookup: Callable[[str], Awaitable[str]], tracked: Sequence[Tracked], limit: int
) -> dict[int, str]:
    """Step 2: every call with no session open, at most ``limit`` at a time."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: Tracked) -> str:
        async with semaphore:
            return await lookup(item.tracking_code)

    # A failed call cancels the others: safe here, none of them holds a connection.
    async with asyncio.TaskGroup() as group:
        calls = {item.id: group.create_task(one(item)) for item in tracked}
    answers = {shipment_id: call.result() for shipment_id, call in calls.items()}
    unknown = {i: status for i, status in answers.items() if status not in CARRIER_STATUSES}
    if unknown:  # the remote answer is input too: check it before anything is written
        raise ValueError(f"carrier answered unknown statuses (shipment id: status): {unknown}")
    return answers


async def write_statuses(session: AsyncSession, statuses: Mapping[int, str]) -> None:
    """One UPDATE statement for every row (an executemany), in the session's transaction."""
    if not statuses:
        return
    # On the session's connection: the ORM's bulk UPDATE by primary key would send one
    # statement per row here, because of the SQL expression version + 1.
    conn = await session.connection()
    await conn.execute(
        update(Shipment)
        .where(Shipment.id == bindparam("shipment_id"))
        .values(status=bindparam("new_status"), version=Shipment.version + 1),
        [{"shipment_id": i, "new_status": status} for i, status in statuses.items()],
    )


async def store_statuses(
    Session: async_sessionmaker[AsyncSession], statuses: Mapping[int, str]
) -> None:
    """Step 3: every answer in one short transaction."""
    async with Session.begin() as session:
        await write_statuses(session, statuses)


async def refresh_statuses(
    Session: async_sessionmaker[AsyncSession],
    lookup: Callable[[str], Awaitable[str]],
    shipment_ids: Sequence[int],
    limit: int = 10,
) -> dict[int, str]:
    """Ask the carrier about each shipment still in transit; store the answers. Returns them.

    No connection is checked out while the calls run. A failed call or an unknown answer
    raises before the write: nothing is stored.
    """
    ids = checked_request(shipment_ids, limit)
    tracked = await read_tracked(Session, ids)
    statuses = await call_carrier(lookup, tracked, limit)
    await store_statuses(Session, statuses)
    return statuses


# endregion: read-call-write


# region: store-if-unchanged
async def store_statuses_if_unchanged(
    Session: async_sessionmaker[AsyncSession],
    tracked: Sequence[Tracked],
    statuses: Mapping[int, str],
) -> list[int]:
    """Step 3 when an answer applies only to the row as it was read: in the write transaction,
    lock the rows, read their versions again and write only those still at the version of
    step 1. Two statements. Returns the ids left alone (changed during the call)."""
    read = {item.id: item.version for item in tracked}
    if not read:
        return []
    async with Session.begin() as session:
        # FOR UPDATE: no other transaction changes these rows until this one ends. SQLite has
        # no FOR UPDATE: there, use an engine whose transactions BEGIN IMMEDIATE (production.md).
        current = await session.execute(
            select(Shipment.id, Shipment.version)
            .where(Shipment.id.in_(read))
            .order_by(Shipment.id)  # every writer locks in id order: no deadlock between them
            .with_for_update()
        )
        unchanged = [i for i, version in current if read[i] == version]
        await write_statuses(session, {i: statuses[i] for i in unchanged})
    return sorted(set(read) - set(unchanged))


# endregion: store-if-unchanged


# The carrier: a real HTTP server on 127.0.0.1 and its client, for main(), the tests and
# benchmarks/external_io.py. Not part of the pattern: use your own HTTP client.
import contextlib
import json
import re
from collections.abc import Collection
from types import TracebackType

TRACKING_CODE = re.compile(r"[A-Z0-9]{4,40}")


class CarrierError(Exception):
    """The carrier answered something other than 200 with a status."""


class TrackingServer:
    """A carrier's tracking API on 127.0.0.1 (an ephemeral port): ``GET /track/CODE`` answers
    ``{"code": CODE, "status": ...}`` after ``delay`` seconds, once ``gate`` is set.

    ``answers`` overrides the status per code (default ``delivered``); codes in ``failing``
    get ``503 Service Unavailable``. Tests clear ``gate`` to keep every call in flight,
    ``await wait_in_flight(n)``, look around, then set it. ``max_in_flight`` is the most calls
    it ever had at once.
    """

    def __init__(
        self,
        delay: float = 0.05,
        answers: Mapping[str, str] | None = None,
        failing: Collection[str] = (),
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.delay = delay
        self.answers = dict(answers or {})
        self.failing = frozenset(failing)
        self.gate = asyncio.Event()
        self.gate.set()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "use `async with TrackingServer() as server`"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> "TrackingServer":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self.gate.set()  # let calls still in flight finish
        self._server.close()
        await self._server.wait_closed()

    async def wait_in_flight(self, count: int) -> None:
        """Until at least ``count`` calls are waiting for their answer."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight >= count)

    async def _count(self, change: int) -> None:
        async with self._changed:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers: not needed
            self.requests += 1
            await self._count(+1)
            try:
                await self.gate.wait()
                await asyncio.sleep(self.delay)
            finally:
                await self._count(-1)
            method, _, target = request_line.partition(" ")
            code = target.split(" ", 1)[0].removeprefix("/track/")
            found = method == "GET" and target.startswith("/track/")
            if found and TRACKING_CODE.fullmatch(code) and code not in self.failing:
                answer = self.answers.get(code, "delivered")
                status, body = "200 OK", {"code": code, "status": answer}
            elif found and code in self.failing:
                status, body = "503 Service Unavailable", {"error": "try again later"}
            else:
                status, body = "404 Not Found", {"error": f"no such resource: {target.strip()}"}
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class CarrierClient:
    """The carrier's API over HTTP/1.1 with asyncio streams: one TCP connection per call."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def get(self, tracking_code: str) -> str:
        """The shipment's status, e.g. ``delivered``. CarrierError for anything but a 200."""
        if not isinstance(tracking_code, str) or not TRACKING_CODE.fullmatch(tracking_code):
            raise ValueError(f"not a tracking code: {tracking_code!r}")
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(
                    f"GET /track/{tracking_code} HTTP/1.1\r\nHost: {self.host}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
                response = await reader.read()  # until the server closes the connection
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
        head, _, body = response.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if status_line != "HTTP/1.1 200 OK":
            raise CarrierError(f"{tracking_code}: {status_line or 'no answer'}")
        return str(json.loads(body)["status"])


async def seed(Session: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    """``count`` shipments in transit (codes TRK00001, ...); their ids."""
    async with Session.begin() as session:
        shipments = [Shipment(tracking_code=f"TRK{n:05d}") for n in range(1, count + 1)]
        session.add_all(shipments)
    return [shipment.id for shipment in shipments]


async def main(url: str) -> None:
    from examples.errors import open_database

    db = await open_database(url, ShippingBase.metadata)
    try:
        ids = await seed(db.Session, 20)
        async with TrackingServer(delay=0.05, answers={"TRK00003": "lost"}) as carrier:
            client = CarrierClient(carrier.port)
            statuses = await refresh_statuses(db.Session, client.get, ids, limit=10)
            print(f"refresh_statuses: {len(statuses)} answers, TRK00003 {statuses[ids[2]]!r}")
            print(f"carrier: {carrier.requests} calls, at most {carrier.max_in_flight} at once")
            async with db.Session.begin() as session:  # two back in transit, for the next run
                await session.execute(
                    update(Shipment)
                    .where(Shipment.id.in_(ids[:2]))
                    .values(status="in_transit", version=Shipment.version + 1)
                )
            tracked = await read_tracked(db.Session, ids)
            answers = await call_carrier(client.get, tracked, limit=10)
            changed = await store_statuses_if_unchanged(db.Session, tracked, answers)
            print(f"store_statuses_if_unchanged: {len(tracked)} rows, changed meanwhile {changed}")
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
