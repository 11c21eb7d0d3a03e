"""What every benchmark shares: the registry entry, a per-lane context, timing, tables, the machine.

A benchmark is an async function ``run(ctx) -> LaneResult`` that measures several variants of one
task on one lane, several repetitions each (interleaved, so a noisy minute hurts every variant
alike), and reports medians and ratios as a markdown table. ``benchmarks/__main__.py`` runs them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import sqlalchemy
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tools.databases import Server, create_database, drop_database, unique_name

ROOT = Path(__file__).resolve().parent.parent
LANE_TITLES = {"postgresql": "PostgreSQL", "mysql": "MariaDB", "sqlite": "SQLite"}
DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "sqlite": "aiosqlite"}


def lane_of(engine: AsyncEngine) -> str:
    """The benchmark lane of an engine: a mariadb+aiomysql:// URL's dialect is named "mariadb",
    and it is the "mysql" lane like a mysql+aiomysql:// one."""
    name = engine.dialect.name
    return "mysql" if name == "mariadb" else name

T = TypeVar("T")


@dataclass(frozen=True)
class Benchmark:
    """One comparison: its name (the CLI argument and the performance.md marker) and lanes."""

    name: str
    title: str
    lanes: tuple[str, ...]  # lanes where the comparison means something
    run: Callable[[Context], Awaitable[LaneResult]]
    note: str = ""  # said once above the tables, e.g. which lanes and why


@dataclass
class Check:
    """A claim the skill makes that this run either supports or does not."""

    claim: str
    ok: bool


@dataclass
class LaneResult:
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    headline: dict[str, str] = field(default_factory=dict)  # for the final summary on stderr


@dataclass
class Context:
    """What a benchmark gets for one lane: the server, the size mode, a progress printer."""

    benchmark: str
    lane: str
    server: Server
    quick: bool

    def progress(self, message: str) -> None:
        print(f"[{self.benchmark} {self.lane}] {message}", file=sys.stderr, flush=True)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[URL]:
        """A fresh database on this lane's server, dropped afterwards."""
        url = await create_database(self.server, unique_name("sqla_bench"))
        try:
            yield url
        finally:
            await drop_database(self.server, url)

    @contextlib.asynccontextmanager
    async def engine(self, url: URL, **kwargs: object) -> AsyncIterator[AsyncEngine]:
        engine = create_async_engine(url, **kwargs)
        try:
            yield engine
        finally:
            await engine.dispose()


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """Seconds one awaited call takes (wall clock, perf_counter) and its result."""
    start = time.perf_counter()
    result = await action()
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.3g} ms"
    return f"{value * 1_000_000:.3g} µs"


def ratio(value: float) -> str:
    """A ratio as a reader compares them: 1.0x, 3.4x, 27x, 1,240x."""
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.0f}x"
    return f"{value:.1f}x"


def count(value: float) -> str:
    return f"{value:,.0f}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    # Right-align every column but the first (numbers).
    align = ["---", *["--:" for _ in headers[1:]]]
    return "\n".join([line(headers), line(align), *(line(row) for row in rows)])


async def server_version(engine: AsyncEngine) -> str:
    query = {
        "postgresql": "SHOW server_version",
        "mysql": "SELECT VERSION()",
        "sqlite": "SELECT sqlite_version()",
    }[lane_of(engine)]
    async with engine.connect() as conn:
        return str(await conn.scalar(text(query)))


def lane_label(lane: str, version: str) -> str:
    driver = DRIVERS[lane]
    return f"{LANE_TITLES[lane]} {version}, {driver} {importlib.metadata.version(driver)}"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: cores, CPU, Python, SQLAlchemy, and how busy the machine was."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, load average at start {load}"
    )
