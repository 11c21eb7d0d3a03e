"""Database lanes: every test that asks for ``lane`` (directly or through ``db_url``, ``engine``
or ``session``) runs once per lane: sqlite, postgresql+asyncpg, postgresql+psycopg, mysql
(MariaDB). ``lane.backend`` names the database, ``lane.driver`` the async driver.

Where each lane's server comes from is decided in tools/databases.py. Options:

* ``--lanes sqlite,postgresql`` (or ``SQLA_TEST_LANES``) picks lanes, by lane or backend name
  (``postgresql`` selects both PostgreSQL drivers);
* ``--require-all-lanes`` (or ``SQLA_REQUIRE_ALL_LANES=1``, set by CI) turns an unavailable
  lane into a failure instead of a skip.

The session fixture follows the testing recipe in references/testing.md: one engine per lane
for the whole run, each test inside an outer transaction that is rolled back.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy
from sqlalchemy import URL, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from examples.errors import Database, open_database
from examples.models import Base

# The testing recipe (references/testing.md): an engine whose SQLite connections honour
# BEGIN/SAVEPOINT, and a session whose commits are undone when the test ends.
from examples.testing_recipe import make_test_engine as make_test_engine
from examples.testing_recipe import rollback_session
from tools.databases import (
    DEFAULT_LANES,
    LANE_SPECS,
    LANES,
    LaneSpec,
    LaneUnavailable,
    Server,
    create_database,
    drop_database,
    server_for,
    start_pgbouncer,
    unique_name,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("database lanes")
    group.addoption(
        "--lanes",
        default=os.environ.get("SQLA_TEST_LANES", ",".join(DEFAULT_LANES)),
        help=f"comma-separated lanes to run, among {','.join(LANES)} "
        f"(default: {','.join(DEFAULT_LANES)})",
    )
    group.addoption(
        "--require-all-lanes",
        action="store_true",
        default=os.environ.get("SQLA_REQUIRE_ALL_LANES") == "1",
        help="fail, instead of skip, when a lane's database cannot be had (CI sets this)",
    )


def _selected_lanes(config: pytest.Config) -> list[str]:
    wanted = [name.strip() for name in str(config.getoption("--lanes")).split(",") if name.strip()]
    unknown = [w for w in wanted if not any(spec.matches(w) for spec in LANE_SPECS.values())]
    if unknown:
        raise pytest.UsageError(f"unknown lane(s) {unknown}; choose from {LANES}")
    return [name for name, spec in LANE_SPECS.items() if any(spec.matches(w) for w in wanted)]


def pytest_report_header(config: pytest.Config) -> str:
    required = "required" if config.getoption("--require-all-lanes") else "skipped if unavailable"
    return (
        f"SQLAlchemy {sqlalchemy.__version__}; lanes: {','.join(_selected_lanes(config))} "
        f"({required})"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lanes(*names): run only on these lanes, for a problem that exists only there: a "
        "backend (postgresql: both drivers) or backend+driver (postgresql+asyncpg). The test "
        "is not generated for the others, so CI never shows it as skipped",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lane" in metafunc.fixturenames:
        lanes = _selected_lanes(metafunc.config)
        only = metafunc.definition.get_closest_marker("lanes")
        if only is not None:
            unknown = [
                arg
                for arg in only.args
                if not any(spec.matches(arg) for spec in LANE_SPECS.values())
            ]
            if unknown:
                raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown lanes {unknown}")
            lanes = [
                name for name in lanes if any(LANE_SPECS[name].matches(a) for a in only.args)
            ]
        metafunc.parametrize("lane", lanes, indirect=True, scope="session")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With --require-all-lanes (CI), any skip is a failure: nothing may pass unrun."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.config.getoption("--require-all-lanes")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that requires every test to run: {report.longrepr}"
    # The lane travels with the report (pytest-xdist sends reports, not items, to the
    # process that prints the summary).
    callspec = getattr(item, "callspec", None)
    lane = callspec.params.get("lane") if callspec is not None else None
    if isinstance(lane, str):  # not NOTSET: --lanes left this test no lane to run on
        report.user_properties.append(("lane", lane))
        report.user_properties.append(("lane_source", _server_descriptions.get(lane, "")))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, Counter[str]] = {}
    sources: dict[str, str] = {}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            properties = dict(getattr(report, "user_properties", []))
            lane = properties.get("lane", "no database")
            counts.setdefault(lane, Counter())[outcome] += 1
            if properties.get("lane_source"):
                sources.setdefault(lane, properties["lane_source"])
    if not counts:
        return
    terminalreporter.section("tests per database lane")
    for lane in [*LANES, "no database"]:
        if lane in counts:
            c = counts[lane]
            parts = [f"{c[k]} {k}" for k in ("passed", "failed", "error", "skipped") if c[k]]
            source = sources.get(lane, "")
            terminalreporter.write_line(f"{lane:<20} {', '.join(parts):<32} {source}")


_server_descriptions: dict[str, str] = {}


@dataclass
class Lane:
    """One database lane: a backend through one driver, and the server new databases are made on."""

    spec: LaneSpec
    server: Server

    @property
    def name(self) -> str:
        """The lane: sqlite, postgresql+asyncpg, postgresql+psycopg, mysql."""
        return self.spec.name

    @property
    def backend(self) -> str:
        """The database: sqlite, postgresql or mysql (MariaDB). Most behaviour depends on this."""
        return self.spec.backend

    @property
    def driver(self) -> str:
        """The async driver: aiosqlite, asyncpg, psycopg or aiomysql."""
        return self.spec.driver

    @property
    def drivername(self) -> str:
        """The URL scheme of this lane's databases. MariaDB keeps its server's form, which may
        be mariadb+aiomysql (dialect name "mariadb") instead of mysql+aiomysql."""
        if self.backend == "postgresql":
            return f"postgresql+{self.driver}"
        return self.server.admin_url.drivername

    async def new_database(self) -> URL:
        return await create_database(self.server, unique_name(), self.drivername)

    async def drop(self, url: URL) -> None:
        await drop_database(self.server, url)

    @contextlib.asynccontextmanager
    async def database_with(self, *metadata: MetaData) -> AsyncIterator[Database]:
        """A new database holding these tables (an error family's); closed and dropped after."""
        url = await self.new_database()
        try:
            database = await open_database(url.render_as_string(hide_password=False), *metadata)
            try:
                yield database
            finally:
                await database.close()
        finally:
            await self.drop(url)


@pytest.fixture(scope="session")
def _servers() -> Iterator[dict[str, Server | LaneUnavailable]]:
    servers: dict[str, Server | LaneUnavailable] = {}
    yield servers
    for server in servers.values():
        if isinstance(server, Server):
            server.stop()


def _server(
    key: str,
    start: Callable[[], Server],
    servers: dict[str, Server | LaneUnavailable],
    config: pytest.Config,
) -> Server:
    """The server started once per run under ``key``; unavailable: skip, or fail in CI."""
    if key not in servers:
        try:
            servers[key] = start()
        except LaneUnavailable as exc:
            servers[key] = exc
    server = servers[key]
    if isinstance(server, LaneUnavailable):
        message = f"{key} unavailable: {server}"
        if config.getoption("--require-all-lanes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return server


@pytest.fixture(scope="session")
def lane(request: pytest.FixtureRequest, _servers: dict[str, Server | LaneUnavailable]) -> Lane:
    spec = LANE_SPECS[request.param]
    try:
        server = _server(spec.backend, lambda: server_for(spec.backend), _servers, request.config)
    finally:
        found = _servers.get(spec.backend)
        _server_descriptions[spec.name] = (
            found.description if isinstance(found, Server) else f"unavailable: {found}"
        )
    return Lane(spec, server)


@pytest.fixture(scope="session")
def pgbouncer(
    request: pytest.FixtureRequest, lane: Lane, _servers: dict[str, Server | LaneUnavailable]
) -> Server:
    """A throwaway PgBouncer (transaction pooling) in front of this PostgreSQL lane's server.

    ``lane.new_database()`` URLs reach it with ``host``/``port`` swapped for the bouncer's."""
    if lane.backend != "postgresql":
        raise pytest.UsageError("the pgbouncer fixture needs @pytest.mark.lanes('postgresql')")
    return _server(
        "pgbouncer", lambda: start_pgbouncer(lane.server), _servers, request.config
    )


@pytest.fixture
async def db_url(lane: Lane) -> AsyncIterator[URL]:
    """A fresh, empty database of its own for a test that commits; dropped afterwards."""
    url = await lane.new_database()
    try:
        yield url
    finally:
        await lane.drop(url)


@pytest.fixture(scope="session")
async def engine(lane: Lane) -> AsyncIterator[AsyncEngine]:
    """One engine per lane for the whole run, on its own database with every example table."""
    url = await lane.new_database()
    engine = make_test_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()
        await lane.drop(url)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work, commits included, is rolled back when the test ends.

    The session joins an outer transaction; its own commit()/rollback() act on savepoints.
    """
    async with rollback_session(engine) as session:
        yield session
