"""Database lanes: every test that asks for ``lane`` (directly or through ``db_url``, ``engine``
or ``session``) runs once per lane: sqlite, postgresql, mysql (MariaDB).

Where each lane's server comes from is decided in tools/databases.py. Options:

* ``--lanes sqlite,postgresql`` (or ``SQLA_TEST_LANES``) picks lanes;
* ``--require-all-lanes`` (or ``SQLA_REQUIRE_ALL_LANES=1``, set by CI) turns an unavailable
  lane into a failure instead of a skip.

The session fixture follows the testing recipe in references/testing.md: one engine per lane
for the whole run, each test inside an outer transaction that is rolled back.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Generator, Iterator
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
    LANES,
    LaneUnavailable,
    Server,
    create_database,
    drop_database,
    server_for,
    unique_name,
)

_lane_of_test: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("database lanes")
    group.addoption(
        "--lanes",
        default=os.environ.get("SQLA_TEST_LANES", ",".join(LANES)),
        help=f"comma-separated lanes to run (default: all of {','.join(LANES)})",
    )
    group.addoption(
        "--require-all-lanes",
        action="store_true",
        default=os.environ.get("SQLA_REQUIRE_ALL_LANES") == "1",
        help="fail, instead of skip, when a lane's database cannot be had (CI sets this)",
    )


def _selected_lanes(config: pytest.Config) -> list[str]:
    lanes = [name.strip() for name in str(config.getoption("--lanes")).split(",") if name.strip()]
    unknown = set(lanes) - set(LANES)
    if unknown:
        raise pytest.UsageError(f"unknown lane(s) {sorted(unknown)}; choose from {LANES}")
    return lanes


def pytest_report_header(config: pytest.Config) -> str:
    required = "required" if config.getoption("--require-all-lanes") else "skipped if unavailable"
    return (
        f"SQLAlchemy {sqlalchemy.__version__}; lanes: {','.join(_selected_lanes(config))} "
        f"({required})"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lanes(*names): run only on these lanes, for a problem that exists only there "
        "(the test is not generated for the others, so CI never shows it as skipped)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lane" in metafunc.fixturenames:
        lanes = _selected_lanes(metafunc.config)
        only = metafunc.definition.get_closest_marker("lanes")
        if only is not None:
            unknown = set(only.args) - set(LANES)
            if unknown:
                raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown lanes {unknown}")
            lanes = [name for name in lanes if name in only.args]
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
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "lane" in callspec.params:
            _lane_of_test[item.nodeid] = callspec.params["lane"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, Counter[str]] = {}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            lane = _lane_of_test.get(getattr(report, "nodeid", ""), "no database")
            counts.setdefault(lane, Counter())[outcome] += 1
    if not counts:
        return
    terminalreporter.section("tests per database lane")
    for lane in [*LANES, "no database"]:
        if lane in counts:
            c = counts[lane]
            parts = [f"{c[k]} {k}" for k in ("passed", "failed", "error", "skipped") if c[k]]
            source = _server_descriptions.get(lane, "")
            terminalreporter.write_line(f"{lane:<12} {', '.join(parts):<40} {source}")


_server_descriptions: dict[str, str] = {}


@dataclass
class Lane:
    """One database lane: its name and the server new databases are made on."""

    name: str
    server: Server

    async def new_database(self) -> URL:
        return await create_database(self.server, unique_name())

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


@pytest.fixture(scope="session")
def lane(request: pytest.FixtureRequest, _servers: dict[str, Server | LaneUnavailable]) -> Lane:
    name: str = request.param
    if name not in _servers:
        try:
            _servers[name] = server_for(name)
            _server_descriptions[name] = _servers[name].description  # type: ignore[union-attr]
        except LaneUnavailable as exc:
            _servers[name] = exc
            _server_descriptions[name] = f"unavailable: {exc}"
    server = _servers[name]
    if isinstance(server, LaneUnavailable):
        message = f"{name} lane unavailable: {server}"
        if request.config.getoption("--require-all-lanes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return Lane(name, server)


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
