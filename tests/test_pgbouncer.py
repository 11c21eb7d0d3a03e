"""examples/pgbouncer.py through a real PgBouncer (transaction pooling, Debian's package) in
front of each PostgreSQL lane: the pooler engine under concurrency, what it leaves on the server
connections, statement timeouts behind a pooler, LISTEN and advisory locks.

Each test gets a fresh database, so PgBouncer opens a fresh pool of server connections for it.
PgBouncer lends the most recently used free server connection first (LIFO), so tests that run
clients one after another know which server connection each transaction gets."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy import URL, NullPool, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from examples import pgbouncer as m
from examples.errors import capture
from examples.errors.poolers import run_worker, show_setting
from tests.conftest import Lane
from tools.databases import Server
from tools.statements import count_statements

QUERY = text("SELECT CAST(:n AS int)")


@pytest.fixture
def pooler_url(db_url: URL, pgbouncer: Server) -> URL:
    """The test's fresh database, reached through PgBouncer."""
    return db_url.set(host=pgbouncer.admin_url.host, port=pgbouncer.admin_url.port)


@pytest.fixture
async def engines() -> AsyncIterator[Callable[[AsyncEngine], AsyncEngine]]:
    """Register engines to dispose when the test ends, however it ends."""
    made: list[AsyncEngine] = []

    def keep(engine: AsyncEngine) -> AsyncEngine:
        made.append(engine)
        return engine

    yield keep
    for engine in made:
        await engine.dispose()


async def run_concurrently(
    engine: AsyncEngine, tasks: int = 50, transactions: int = 4
) -> dict[int, set[int]]:
    """``tasks`` concurrent tasks, each running ``transactions`` transactions of the same query.

    Returns, per client connection of the engine's pool, the server backends (pids) its
    transactions ran on: a client seen on two backends is what breaks cached statements."""
    backends: dict[int, set[int]] = defaultdict(set)

    async def task(number: int) -> None:
        for _ in range(transactions):
            async with engine.begin() as conn:
                assert (await conn.execute(QUERY, {"n": number})).scalar_one() == number
                backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                raw = await conn.get_raw_connection()
                backends[id(raw.driver_connection)].add(backend)

    await asyncio.gather(*(task(number) for number in range(tasks)))
    return dict(backends)


async def statements_left(pooler_url: URL, db_url: URL) -> dict[int, int]:
    """Prepared statements held by each of PgBouncer's server connections to this database.

    pg_prepared_statements shows the current session's only, so a probe client reads it inside
    each server connection: it holds as many transactions open at once as there are server
    connections, which makes PgBouncer hand out every one of them."""
    direct = create_async_engine(db_url, poolclass=NullPool)
    try:
        async with direct.connect() as conn:
            servers = set(
                (
                    await conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()"
                        )
                    )
                ).scalars()
            )
    finally:
        await direct.dispose()
    probe = m.make_pooler_engine(pooler_url, statement_timeout=None, pool_size=len(servers))
    everyone_inside = asyncio.Barrier(len(servers))
    counts: dict[int, int] = {}

    async def look() -> None:
        async with probe.begin() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            count = (
                await conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            ).scalar_one()
            counts[backend] = count
            await everyone_inside.wait()  # keep this server connection until all are inside

    try:
        await asyncio.wait_for(asyncio.gather(*(look() for _ in servers)), timeout=60)
    finally:
        await probe.dispose()
    assert set(counts) == servers, "the probe must see every server connection"
    return counts


# --- the pooler engine -----------------------------------------------------------------------


@pytest.mark.lanes("postgresql")
async def test_pooler_engine_under_concurrency(
    pooler_url: URL, db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """50 tasks through the app's QueuePool (10 connections): every transaction succeeds while
    client connections move between server connections, and no statement is left behind on
    the server connections, so nothing builds up there and NullPool is not needed."""
    engine = engines(m.make_pooler_engine(pooler_url))
    backends = await run_concurrently(engine)
    assert len(backends) == 10
    assert any(len(seen) > 1 for seen in backends.values()), backends
    left = await statements_left(pooler_url, db_url)
    assert sum(left.values()) == 0, left


@pytest.mark.lanes("postgresql")
async def test_pooler_engine_on_a_direct_connection(
    db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """The same engine works without a pooler (local development, tests)."""
    engine = engines(m.make_pooler_engine(db_url))
    assert len(await run_concurrently(engine, tasks=20)) == 10


@pytest.mark.lanes("postgresql+asyncpg")
async def test_statement_name_func_leaves_statements_behind(
    pooler_url: URL, db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """SQLAlchemy's documented workaround (unique names, no statement cache) stops the errors,
    but every statement is named, and those asyncpg closes later are often closed on another
    server connection: statements pile up on PgBouncer's server connections."""
    engine = engines(
        create_async_engine(
            pooler_url,
            pool_size=10,
            max_overflow=0,
            connect_args={
                "prepared_statement_cache_size": 0,
                "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
            },
        )
    )
    await run_concurrently(engine)
    left = await statements_left(pooler_url, db_url)
    assert sum(left.values()) > 0, left


@pytest.mark.lanes("postgresql+asyncpg")
@pytest.mark.parametrize(
    ("connect_args", "second_worker_fails"),
    [
        ({"prepared_statement_cache_size": 0}, True),  # still named: __asyncpg_stmt_N__
        ({"statement_cache_size": 0}, False),  # asyncpg >= 0.31: unnamed statements
    ],
)
async def test_which_asyncpg_setting_stops_name_collisions(
    pooler_url: URL, connect_args: dict[str, Any], second_worker_fails: bool
) -> None:
    url = pooler_url.render_as_string(hide_password=False)
    first = await run_worker(url, connect_args)
    second = await run_worker(url, connect_args)
    assert first.error is None, first
    if second_worker_fails:
        assert second.error is not None
        assert re.search(
            r'prepared statement "__asyncpg_stmt_[0-9a-f]+__" already exists', second.message
        )
    else:
        assert second.error is None, second


@pytest.mark.lanes("postgresql")
def test_pgbouncer_tracks_no_prepared_statements(pgbouncer: Server) -> None:
    """The reproductions in tests/test_errors_poolers.py need PgBouncer < 1.21 (no
    max_prepared_statements). Debian 12's package is 1.18."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.match(r"PgBouncer (\d+)\.(\d+)", version.stdout)
    assert found, version.stdout
    assert (int(found[1]), int(found[2])) < (1, 21), version.stdout


async def prepared_on_the_server(conn: AsyncConnection) -> list[str]:
    """The named prepared statements of this connection's server session."""
    names = await conn.execute(text("SELECT name FROM pg_prepared_statements ORDER BY name"))
    return list(names.scalars())


@pytest.mark.lanes("postgresql+asyncpg")
async def test_sqlalchemy_keeps_100_asyncpg_statements_per_connection_unless_told_not_to(
    db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """SQLAlchemy's own cache (prepared_statement_cache_size, 100 by default) keeps each
    statement for later transactions of the connection; the pooler settings keep none, and
    asyncpg leaves no named statement on the server."""
    default = engines(create_async_engine(db_url))
    pooler = engines(m.make_pooler_engine(db_url, statement_timeout=None))
    kept: dict[str, Any] = {}
    on_server: dict[str, list[str]] = {}
    for name, engine in (("default", default), ("pooler", pooler)):
        async with engine.connect() as conn:
            for number in range(3):  # three statements, each in a transaction of its own
                await conn.execute(text(f"SELECT {number}"))
                await conn.commit()
            raw: Any = (await conn.get_raw_connection()).dbapi_connection
            kept[name] = raw._prepared_statement_cache
            on_server[name] = await prepared_on_the_server(conn)
    assert kept["default"].capacity == 100
    assert {"SELECT 0", "SELECT 1", "SELECT 2"} <= set(kept["default"])
    assert len(on_server["default"]) >= 3
    assert all(re.fullmatch(r"__asyncpg_stmt_[0-9a-f]+__", s) for s in on_server["default"])
    assert kept["pooler"] is None
    assert on_server["pooler"] == []


@pytest.mark.lanes("postgresql+psycopg")
async def test_psycopg_prepares_a_query_a_connection_ran_more_than_5_times(
    db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """psycopg's default prepare_threshold=5: the 6th run prepares, named _pg3_0, _pg3_1... per
    connection (so two clients' names collide on one server connection); None never prepares."""
    default = engines(create_async_engine(db_url))
    other_query = text("SELECT CAST(:n AS bigint)")
    async with default.connect() as first, default.connect() as second:
        for _ in range(5):
            await first.execute(QUERY, {"n": 1})
        assert await prepared_on_the_server(first) == []
        await first.execute(QUERY, {"n": 1})  # the 6th run
        assert await prepared_on_the_server(first) == ["_pg3_0"]
        for _ in range(6):
            await first.execute(other_query, {"n": 1})
        assert await prepared_on_the_server(first) == ["_pg3_0", "_pg3_1"]
        for _ in range(6):
            await second.execute(QUERY, {"n": 2})
        assert await prepared_on_the_server(second) == ["_pg3_0"]  # the same name again
    pooler = engines(m.make_pooler_engine(db_url, statement_timeout=None))
    async with pooler.connect() as conn:
        for _ in range(10):
            await conn.execute(QUERY, {"n": 3})
        assert await prepared_on_the_server(conn) == []


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///app.db", "mysql+aiomysql://u@h/db", "postgresql+psycopg2://u@h/db"],
)
def test_pooler_engine_refuses_other_drivers(url: str) -> None:
    with pytest.raises(
        ValueError, match=r"need a postgresql\+asyncpg:// or postgresql\+psycopg://"
    ):
        m.make_pooler_engine(url)


@pytest.mark.parametrize(
    "settings",
    [
        {"pool_size": 0},
        {"max_overflow": -1},
        {"pool_timeout": 0},
        {"statement_timeout": 0},
        {"statement_timeout": -5},
    ],
)
def test_pooler_engine_refuses_bad_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be > 0|need pool_size"):
        m.make_pooler_engine("postgresql+asyncpg://u@h/db", **settings)


@pytest.mark.lanes("postgresql")
async def test_main_runs(pooler_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(pooler_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "50 concurrent transactions through the pooler: 50 succeeded" in out
    assert "statement_timeout inside each transaction: 5s" in out


async def test_main_without_postgresql_says_what_it_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await m.main("sqlite+aiosqlite://")
    assert "needs PostgreSQL through a transaction pooler" in capsys.readouterr().out


# --- statement timeouts --------------------------------------------------------------------


@pytest.mark.lanes("postgresql")
async def test_set_local_timeout_costs_one_statement_per_transaction(
    pooler_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    engine = engines(m.make_pooler_engine(pooler_url, statement_timeout=30))
    async with engine.begin() as conn:  # the first connect's own queries are not counted
        await conn.execute(QUERY, {"n": 0})
    with count_statements(engine) as log:
        for number in range(3):
            async with engine.begin() as conn:
                await conn.execute(QUERY, {"n": number})
    assert log.count == 6
    assert sum("set_config('statement_timeout'" in s for s in log.statements) == 3
    async with engine.begin() as conn:
        assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "30s"


@pytest.mark.lanes("postgresql")
async def test_set_local_timeout_cancels_a_slow_statement(
    pooler_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    engine = engines(m.make_pooler_engine(pooler_url, statement_timeout=0.2))
    with pytest.raises(DBAPIError) as caught:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_sleep(2)"))
    assert caught.value.orig is not None
    assert getattr(caught.value.orig, "sqlstate", None) == "57014"  # query_canceled
    assert "canceling statement due to statement timeout" in str(caught.value)
    async with engine.begin() as conn:  # the connection is fine afterwards
        assert (await conn.execute(QUERY, {"n": 5})).scalar_one() == 5


@pytest.mark.lanes("postgresql")
async def test_set_local_timeout_overrides_a_leaked_session_setting(
    pooler_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """Another client's session-level SET stays on the server connection; a client that sets
    its timeout per transaction runs with its own anyway."""
    careless = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    bare = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    pooler = engines(m.make_pooler_engine(pooler_url, statement_timeout=30))
    async with careless.begin() as conn:
        await conn.execute(text("SET statement_timeout = 250"))
    try:
        async with bare.begin() as conn:  # the same (only) server connection: the leak
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "250ms"
        async with pooler.begin() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "30s"
        async with bare.begin() as conn:  # SET LOCAL ended with its transaction
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "250ms"
    finally:
        async with careless.begin() as conn:
            await conn.execute(text("RESET statement_timeout"))
    async with bare.begin() as conn:  # until someone resets it
        assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "0"


async def _show_timeout(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        return str((await conn.execute(text("SHOW statement_timeout"))).scalar_one())


@pytest.mark.lanes("postgresql")
async def test_database_default_timeout(
    pooler_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """ALTER DATABASE ... SET: new server sessions start with it, nothing is sent per
    transaction; a server connection PgBouncer opened before keeps its old value."""
    engine = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    assert await _show_timeout(engine) == "0"  # server connection 1 opens
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="must be > 0"):
            await m.set_database_statement_timeout(conn, 0)
        await m.set_database_statement_timeout(conn, 1.5)
    assert await _show_timeout(engine) == "0"  # server connection 1 again: opened before
    async with engine.connect() as holder, holder.begin():
        await holder.execute(text("SELECT 1"))  # holds server connection 1
        with count_statements(engine) as log:
            assert await _show_timeout(engine) == "1500ms"  # server connection 2: new
        assert log.count == 1  # SHOW only: no statement per transaction


@pytest.mark.lanes("postgresql")
async def test_role_default_timeout(
    pooler_url: URL, db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    """ALTER ROLE ... IN DATABASE ... SET works the same way, for one role."""
    direct = engines(create_async_engine(db_url, poolclass=NullPool))
    database = db_url.database
    async with direct.begin() as conn:  # the setting is dropped with the test's database
        await conn.execute(
            text(f"ALTER ROLE CURRENT_USER IN DATABASE {database} SET statement_timeout = 2500")
        )
    engine = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    assert await _show_timeout(engine) == "2500ms"


@pytest.mark.lanes("postgresql")
@pytest.mark.parametrize(
    ("asyncpg_args", "psycopg_args", "refused"),
    [
        # SQLAlchemy's asyncpg docs suggest server_settings={"jit": "off"} for ENUM-heavy apps.
        ({"server_settings": {"jit": "off"}}, {"options": "-c jit=off"}, True),
        ({"server_settings": {"application_name": "web"}}, {"application_name": "web"}, False),
    ],
)
async def test_startup_settings_behind_the_pooler(
    pooler_url: URL,
    lane: Lane,
    asyncpg_args: dict[str, Any],
    psycopg_args: dict[str, Any],
    refused: bool,
) -> None:
    """PgBouncer accepts the startup parameters it tracks (application_name, TimeZone, ...)
    and refuses any other: set those per transaction or as a database/role default."""
    args = asyncpg_args if lane.driver == "asyncpg" else psycopg_args
    engine = create_async_engine(pooler_url, connect_args=args)
    outcome = await capture(show_setting(engine, "application_name"))
    if refused:
        parameter = "jit" if lane.driver == "asyncpg" else "options"
        assert f"unsupported startup parameter: {parameter}" in outcome.message, outcome
    else:
        assert outcome.value == "web", outcome


# --- session features that do not survive transaction pooling ---------------------------------


@pytest.mark.lanes("postgresql")
async def test_session_advisory_lock_is_held_by_every_client_of_that_server_connection(
    pooler_url: URL, db_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    client_a = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    client_b = engines(m.make_pooler_engine(pooler_url, statement_timeout=None))
    lock = select(func.pg_try_advisory_lock(42))
    try:
        async with client_a.begin() as conn:
            assert (await conn.execute(lock)).scalar_one() is True
        async with client_b.begin() as conn:  # A's server connection: its session holds 42
            assert (await conn.execute(lock)).scalar_one() is True  # B "gets" it too
    finally:
        async with client_a.begin() as conn:
            await conn.execute(select(func.pg_advisory_unlock_all()))
    # On direct connections the second client is refused, as intended.
    direct_a = engines(create_async_engine(db_url))
    direct_b = engines(create_async_engine(db_url))
    async with direct_a.connect() as conn_a, direct_b.connect() as conn_b:
        assert (await conn_a.execute(lock)).scalar_one() is True
        assert (await conn_b.execute(lock)).scalar_one() is False
        await conn_a.execute(select(func.pg_advisory_unlock_all()))


@pytest.mark.lanes("postgresql")
async def test_transaction_advisory_lock(
    pooler_url: URL, engines: Callable[[AsyncEngine], AsyncEngine]
) -> None:
    Session = async_sessionmaker(engines(m.make_pooler_engine(pooler_url)))
    async with Session() as first, first.begin():
        assert await m.try_lock_for_transaction(first, 42) is True
        async with Session() as second, second.begin():
            assert await m.try_lock_for_transaction(second, 42) is False
    async with Session() as second, second.begin():  # released when the first committed
        assert await m.try_lock_for_transaction(second, 42) is True
    async with Session() as session:
        for bad in (2**63, -(2**63) - 1):
            with pytest.raises(ValueError, match="64-bit integer"):
                await m.try_lock_for_transaction(session, bad)


async def _listen(
    dsn: str, driver: str, channel: str, received: list[str]
) -> Callable[[], Awaitable[None]]:
    """Listen on ``channel`` with the raw driver; returns a function that makes one round trip
    (the server sends pending notifications before its reply) and closes the connection."""
    if driver == "asyncpg":
        conn = await asyncpg.connect(dsn, statement_cache_size=0)

        def on_notify(*args: Any) -> None:
            received.append(args[-1])

        await conn.add_listener(channel, on_notify)

        async def close() -> None:
            await conn.execute("SELECT 1")
            await asyncio.sleep(0)  # asyncpg calls listeners with loop.call_soon
            await conn.close()

        return close
    pconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
    pconn.add_notify_handler(lambda notify: received.append(notify.payload))
    await pconn.execute(f"LISTEN {channel}")

    async def close_psycopg() -> None:
        await pconn.execute("SELECT 1")
        await pconn.close()

    return close_psycopg


@pytest.mark.lanes("postgresql")
async def test_listen_through_the_pooler_receives_nothing(
    pooler_url: URL, db_url: URL, lane: Lane
) -> None:
    """LISTEN through the pooler registers on a server connection the client does not keep:
    other clients' sessions listen instead, and a NOTIFY that a direct listener receives never
    reaches the client that asked. NOTIFY itself works through the pooler."""

    def dsn(url: URL) -> str:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    through_pooler: list[str] = []
    direct: list[str] = []
    close_pooled = await _listen(dsn(pooler_url), lane.driver, "jobs", through_pooler)
    close_direct = await _listen(dsn(db_url), lane.driver, "jobs", direct)
    other_client = m.make_pooler_engine(pooler_url, statement_timeout=None)
    try:
        async with other_client.begin() as conn:
            await conn.execute(text("SELECT pg_notify('jobs', 'job 1')"))
        async with other_client.begin() as conn:  # the server connection the LISTEN ran on
            channels = (await conn.execute(text("SELECT pg_listening_channels()"))).scalars()
            assert list(channels) == ["jobs"]
    finally:
        await other_client.dispose()
    await close_direct()
    await close_pooled()
    assert direct == ["job 1"]
    assert through_pooler == []
