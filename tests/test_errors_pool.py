"""examples/errors/pool.py on every lane: a session held across each HTTP call takes every
pooled connection, and an unrelated request fails with the pool's TimeoutError; the fix leaves
the pool free during the calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy import delete, select

from examples.errors import Database, capture
from examples.errors import pool as m
from examples.external_io import Shipment, ShippingBase, seed
from tests.conftest import Lane


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(ShippingBase.metadata) as database:
        yield database


@pytest.fixture
async def ids(db: Database) -> list[int]:
    """Five shipments in transit: one per pooled connection."""
    async with db.Session.begin() as session:
        await session.execute(delete(Shipment))
    return await seed(db.Session, 5)


async def statuses(db: Database) -> list[str]:
    async with db.Session() as session:
        return list(await session.scalars(select(Shipment.status).order_by(Shipment.id)))


async def test_session_held_across_calls_times_out_an_unrelated_request(
    db: Database, ids: list[int]
) -> None:
    outcome = await capture(m.unrelated_request_during_calls(db.url, m.wrong_refresh_statuses, ids))
    assert outcome.error is sqlalchemy.exc.TimeoutError
    assert re.fullmatch(
        r"QueuePool limit of size 5 overflow 0 reached, connection timed out, timeout 0\.20 "
        r"\(Background on this error at: https://sqlalche\.me/e/2[01]/3o7r\)",
        outcome.message,
    ), outcome.message
    assert await statuses(db) == ["delivered"] * 5  # the batch itself went through


async def test_fixed_shape_leaves_a_connection_for_the_unrelated_request(
    db: Database, ids: list[int]
) -> None:
    assert await m.unrelated_request_during_calls(db.url, m.fixed_refresh_statuses, ids) == 5
    assert await statuses(db) == ["delivered"] * 5


@pytest.mark.parametrize("count", [0, 6])
async def test_the_demo_takes_one_to_five_shipments(db: Database, count: int) -> None:
    with pytest.raises(ValueError, match=f"give 1 to 5 shipment ids, got {count}"):
        await m.unrelated_request_during_calls(
            db.url, m.fixed_refresh_statuses, list(range(1, count + 1))
        )


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert (
        "wrong_refresh_statuses: raised sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 "
        "overflow 0 reached" in out
    )
    assert "fixed_refresh_statuses: returned 5" in out
