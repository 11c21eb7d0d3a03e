"""Pages of 50 posts out of 1,000,000, newest first: OFFSET vs keyset, near the top and deep.

Order: ``created_at DESC, id DESC`` with the index ``(created_at, id)``, as in
examples/pagination.py. Four positions: the first page, the page after row 50 (the first with a
cursor), the page after row 10,000 and the page after row 500,000. Keyset is
``examples.pagination.posts_after`` itself (cursor taken from the last row of the previous
page). OFFSET is the query of ``posts_page`` without its COUNT(*) (``posts_page`` refuses pages
past MAX_PAGE = 1,000, which is the point). Both return the same 50 posts (checked). Every query
runs many times, interleaved; the table shows the median.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.harness import (
    Benchmark,
    Check,
    Context,
    LaneResult,
    count,
    lane_of,
    median,
    ratio,
    seconds,
    timed,
)
from benchmarks.seed import seed_posts
from examples.models import Post
from examples.pagination import encode_cursor, posts_after
from tools.statements import count_statements

PAGE = 50


def offset_page(depth: int) -> Select[Any]:
    return select(Post).order_by(Post.created_at.desc(), Post.id.desc()).offset(depth).limit(PAGE)


async def _offset(session: AsyncSession, depth: int) -> list[int]:
    ids = [post.id for post in (await session.scalars(offset_page(depth))).all()]
    session.expunge_all()  # the next run builds its objects again, as a new request would
    return ids


async def _keyset(session: AsyncSession, cursor: str | None) -> list[int]:
    ids = [post.id for post in (await posts_after(session, cursor, page_size=PAGE)).items]
    session.expunge_all()
    return ids


def _r_rows(node: Any) -> float | None:
    """The first ``r_rows`` (rows really read) in MariaDB's ANALYZE FORMAT=JSON output."""
    if isinstance(node, dict):
        if "r_rows" in node:
            return float(node["r_rows"])
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            if (found := _r_rows(child)) is not None:
                return found
    return None


async def _rows_read(engine: AsyncEngine, session: AsyncSession, query: Any) -> int:
    """How many rows the scan under the LIMIT really read, from the database's own counters."""
    with count_statements(engine) as log:
        await query()
    statement, parameters = log.statements[-1], log.parameters[-1]
    conn = await session.connection()
    if lane_of(engine) == "mysql":  # MariaDB: ANALYZE runs the statement and counts
        (report,) = (
            await conn.exec_driver_sql("ANALYZE FORMAT=JSON " + statement, parameters)
        ).one()
        read = _r_rows(json.loads(report))
        assert read is not None, report
        return round(read)
    plan = await conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement, parameters
    )
    for (line,) in plan:
        if "Index Scan" in line:
            return round(float(line.split("actual rows=")[1].split()[0]))  # "50" or "50.00" (PG 18)
    raise AssertionError(f"no index scan in the plan of {statement}")


async def run(ctx: Context) -> LaneResult:
    total = ctx.size(1_000_000, 20_000)
    # The page after row 50 is the first to carry a cursor: keyset's like-for-like baseline.
    depths = [0, PAGE, ctx.size(10_000, 1_000), ctx.size(500_000, 10_000)]
    runs = ctx.size(30, 3)
    times: dict[tuple[str, int], list[float]] = {}
    scanned: dict[tuple[str, int], int] = {}
    async with ctx.database() as url:
        await seed_posts(url, total, ctx.progress)
        async with ctx.engine(url) as engine:
            Session = async_sessionmaker(engine, expire_on_commit=False)
            async with Session() as session:
                cursors: dict[int, str | None] = {0: None}
                for depth in depths[1:]:
                    last = (await session.scalars(offset_page(depth - 1).limit(1))).one()
                    cursors[depth] = encode_cursor(last)  # as the previous page would hand out
                for depth in depths:
                    same = await _offset(session, depth)
                    assert same == await _keyset(session, cursors[depth]), depth
                    assert len(same) == PAGE
                    if lane_of(engine) in ("postgresql", "mysql"):
                        for how, query in (
                            ("OFFSET", lambda d=depth: _offset(session, d)),
                            ("keyset", lambda d=depth: _keyset(session, cursors[d])),
                        ):
                            scanned[how, depth] = await _rows_read(engine, session, query)
                for run_number in range(1, runs + 1):
                    for depth in depths:
                        elapsed, _ = await timed(lambda: _offset(session, depth))  # noqa: B023
                        times.setdefault(("OFFSET", depth), []).append(elapsed)
                        cursor = cursors[depth]
                        elapsed, _ = await timed(lambda: _keyset(session, cursor))  # noqa: B023
                        times.setdefault(("keyset", depth), []).append(elapsed)
                    if run_number % 10 == 0 or run_number == runs:
                        ctx.progress(f"run {run_number}/{runs} of every query")

    def med(how: str, depth: int) -> float:
        return median(times[how, depth])

    def cell(how: str, depth: int) -> str:
        read = f" ({count(scanned[how, depth])} rows read)" if scanned else ""
        return seconds(med(how, depth)) + read

    deep = depths[-1]
    keyset_growth = med("keyset", deep) / med("keyset", 0)
    keyset_depth = med("keyset", deep) / med("keyset", PAGE)  # same query shape, cursor and all
    offset_growth = med("OFFSET", deep) / med("OFFSET", 0)
    rows = [
        [
            f"page after row {count(depth)}" if depth else "first page",
            cell("OFFSET", depth),
            cell("keyset", depth),
            ratio(med("OFFSET", depth) / med("keyset", depth)),
        ]
        for depth in depths
    ]
    notes = [
        f"{count(total)} posts, pages of {PAGE}, index on (created_at, id); median of {runs} "
        "runs per query, ORM objects built each time.",
        f"From the first page to the page after row {count(deep)}: keyset takes "
        f"{keyset_growth:.2f}x the time, OFFSET {ratio(offset_growth)}. From the page after "
        f"row {PAGE} (the first with a cursor: same query shape) to the page after row "
        f"{count(deep)}, keyset takes {keyset_depth:.2f}x.",
    ]
    if scanned:
        notes.append(
            "Rows read: the database's own count (`EXPLAIN ANALYZE` actual rows on PostgreSQL, "
            "`ANALYZE FORMAT=JSON` r_rows on MariaDB); keyset reads one row more than the page "
            "to know whether a next page exists."
        )
    return LaneResult(
        headers=["position", "OFFSET", "keyset (`posts_after`)", "OFFSET / keyset"],
        rows=rows,
        notes=notes,
        checks=[
            Check(
                f"keyset after row {count(deep)} stays within 2x of the page after row {PAGE}",
                keyset_depth <= 2,
            ),
            Check(
                f"keyset beats OFFSET after row {count(deep)}",
                med("keyset", deep) < med("OFFSET", deep),
            ),
        ],
        headline={
            f"OFFSET / keyset after row {count(deep)}": ratio(
                med("OFFSET", deep) / med("keyset", deep)
            ),
            f"keyset after row {count(deep)} vs first page": f"{keyset_growth:.2f}x",
            f"keyset after row {count(deep)} vs after row {PAGE}": f"{keyset_depth:.2f}x",
            f"OFFSET after row {count(deep)} vs first page": ratio(offset_growth),
        },
    )


BENCHMARK = Benchmark(
    name="pagination",
    title="Pagination",
    lanes=("postgresql", "mysql", "sqlite"),
    run=run,
)
