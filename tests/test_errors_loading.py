"""examples/errors/loading.py on every lane: each wrong pattern raises exactly what
references/errors.md quotes, and each fix returns the data with the statements it claims."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy
from sqlalchemy.exc import InvalidRequestError

from examples.errors import Database, capture
from examples.errors import loading as m
from tests.conftest import Lane
from tests.missing_greenlet import assert_missing_greenlet
from tools.statements import count_statements
from tools.versions import SA21


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[tuple[Database, m.Rows]]:
    async with lane.database_with(m.FleetBase.metadata) as database:
        yield database, await m.seed(database.Session)


async def test_subclass_column(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, rows = db
    async with database.Session() as session:
        outcome = await capture(m.wrong_subclass_column(session, rows.truck_id))
    assert_missing_greenlet(
        outcome,
        lane,
        "SELECT err_trucks.payload_kg AS err_trucks_payload_kg \nFROM err_trucks \n"
        "WHERE {param_1} = err_trucks.id",
        "[{}]",
    )
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            assert await m.fixed_subclass_column(session, rows.truck_id) == 12000
    assert log.count == 2  # the vehicle, then its err_trucks row


async def test_deferred_column(db: tuple[Database, m.Rows], lane: Lane) -> None:
    database, rows = db
    async with database.Session() as session:
        outcome = await capture(m.wrong_deferred_column(session, rows.van_id))
    # 2.1 no longer labels the column in this SELECT.
    column = "err_vehicles.notes" if SA21 else "err_vehicles.notes AS err_vehicles_notes"
    assert_missing_greenlet(
        outcome,
        lane,
        f"SELECT {column} \nFROM err_vehicles \nWHERE err_vehicles.id = {{pk_1}}",
        f"[{{'pk_1': {rows.van_id}}}]",
    )
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            assert await m.fixed_deferred_column(session, rows.van_id) == "new tyres"
    assert log.count == 1


async def test_raiseload_column(db: tuple[Database, m.Rows]) -> None:
    database, rows = db
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            outcome = await capture(m.wrong_raiseload_column(session, rows.van_id))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'Vehicle.service_log' is not available due to raiseload=True"
    assert log.count == 1  # get_one's SELECT; the access itself sent nothing
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            assert await m.fixed_raiseload_column(session, rows.van_id) == "2026-03 brakes"
    assert log.count == 1


async def test_raise_on_sql(db: tuple[Database, m.Rows]) -> None:
    database, rows = db
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            outcome = await capture(m.wrong_raise_on_sql(session, rows.van_id))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'Vehicle.depot' is not available due to lazy='raise_on_sql'"
    assert log.count == 1  # get_one's SELECT; the access itself sent nothing
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            assert await m.fixed_raise_on_sql(session, rows.van_id) == "North"
    assert log.count == 1
    assert "JOIN err_depots" in log.statements[0]


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_subclass_column: raised sqlalchemy.exc." in out
    assert "fixed_subclass_column: returned 12000" in out
    assert "fixed_deferred_column: returned 'new tyres'" in out
    assert "wrong_raiseload_column: raised sqlalchemy.exc.InvalidRequestError" in out
    assert "fixed_raise_on_sql: returned 'North'" in out
