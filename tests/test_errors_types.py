"""examples/errors/types.py on every lane: each wrong pattern does what references/errors.md says
(an error with its exact text, or a wrong value and no error), per database and SQLAlchemy line;
each fix works on all of them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from sqlalchemy.schema import CreateColumn

from examples import column_types
from examples.errors import Database, Outcome, capture
from examples.errors import types as m
from tests.conftest import Lane
from tests.postgresql_errors import postgresql_error
from tools.statements import count_statements
from tools.versions import ASYNCPG_ERRORS_BY_SQLSTATE, SA21


def unsafe_new_enum_value(outcome: Outcome, lane: Lane, value: str) -> None:
    """PostgreSQL refused a new ENUM value used in the transaction that added it."""
    postgresql_error(
        outcome,
        lane,
        OperationalError,
        ("UnsafeNewEnumValueUsageError", "UnsafeNewEnumValueUsage"),
        re.escape(
            f'unsafe use of new value "{value}" of enum type ticket_status'
        ),
    )


def updates(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE")]


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(*m.METADATA) as database:
        await m.seed(database.Session)
        yield database


# --- silent: JSON changed in place ------------------------------------------------------------


async def test_json_changed_in_place_is_never_saved(db: Database) -> None:
    settings_id = await m.new_settings(db.Session, m.PlainSettings)
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            await m.wrong_json_changed_in_place(session, settings_id)
    assert updates(log.statements) == []  # commit() found nothing to send
    assert await m.read_prefs(db.Session, m.PlainSettings, settings_id) == {
        "theme": "light",
        "notify": {"email": True},
    }


async def test_mutable_dict_saves_top_level_changes_not_nested_ones(db: Database) -> None:
    settings_id = await m.new_settings(db.Session, m.Settings)
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            await m.wrong_json_nested_change(session, settings_id)
    assert updates(log.statements) == []  # MutableDict tracks its own keys only
    assert (await m.read_prefs(db.Session, m.Settings, settings_id))["notify"] == {"email": True}

    async with db.Session() as session:
        with count_statements(db.engine) as log:
            await m.set_theme(session, settings_id, "dark")
        assert len(updates(log.statements)) == 1
        with count_statements(db.engine) as log:
            await m.set_email_notifications(session, settings_id, False)  # flag_modified
        assert len(updates(log.statements)) == 1
    assert await m.read_prefs(db.Session, m.Settings, settings_id) == {
        "theme": "dark",
        "notify": {"email": False},
    }

    async with db.Session() as session:
        with count_statements(db.engine) as log, pytest.raises(ValueError, match="theme must"):
            await m.set_theme(session, settings_id, "blue")
    assert log.statements == []


# --- silent: money in a float column ----------------------------------------------------------


async def test_float_money_loses_cents_decimal_does_not(db: Database, lane: Lane) -> None:
    float_type = m.FloatPayment.__table__.c.amount.type.compile(dialect=db.engine.dialect)
    async with db.Session() as session:
        total = await m.wrong_float_money(session)
        fixed = await m.fixed_float_money(session)
    if lane.backend == "mysql" and not SA21:
        # 2.0 maps float to FLOAT: MariaDB's FLOAT is single precision.
        assert float_type == "FLOAT"
        assert total == 1.0000000149011612
    else:
        # 2.1 maps float to DOUBLE; PostgreSQL's FLOAT is double precision on both lines.
        double = {"postgresql": "DOUBLE PRECISION"}.get(lane.backend, "DOUBLE")
        assert float_type == (double if SA21 else "FLOAT")
        assert total == 0.9999999999999999
    assert total != 1.0
    assert fixed == Decimal("1.00")


# --- a str where a UUID goes ------------------------------------------------------------------


async def test_uuid_from_string(db: Database, lane: Lane) -> None:
    invoice_id = await committed_invoice(db)
    async with db.Session() as session:
        bad = await capture(m.wrong_uuid_from_string(session, "not-a-uuid"))
    async with db.Session() as session:
        good = await capture(m.wrong_uuid_from_string(session, str(invoice_id)))
    no_hex = "(builtins.AttributeError) 'str' object has no attribute 'hex'"
    if lane.backend == "sqlite" or (lane.backend == "mysql" and not SA21):
        # Uuid stored as CHAR(32): its bind processor calls value.hex, even on a valid string.
        for outcome in (bad, good):
            assert outcome.error is StatementError
            assert outcome.cause is AttributeError
            assert outcome.message.startswith(no_hex), outcome.message
    elif lane.backend == "mysql":  # 2.1, native UUID: the string is compared as it is
        assert bad.error is None
        assert bad.value is None  # no error, no row
        assert good.value is not None
        assert good.value.id == invoice_id
    else:
        postgresql_error(
            bad,
            lane,
            DataError,
            ("DataError", "InvalidTextRepresentation"),
            re.escape(
                "invalid input for query argument $1: 'not-a-uuid' (invalid UUID 'not-a-uuid': "
                "length must be between 32..36 characters, got 10)"
                if lane.driver == "asyncpg"
                else 'invalid input syntax for type uuid: "not-a-uuid"'
            ),
        )
        assert good.value is not None
        assert good.value.id == invoice_id

    async with db.Session() as session:
        with (
            count_statements(db.engine) as log,
            pytest.raises(ValueError, match=r"^not an id: 'not-a-uuid'$"),
        ):
            await m.fixed_uuid_from_string(session, "not-a-uuid")
        assert log.statements == []  # refused before any SQL
        found = await m.fixed_uuid_from_string(session, str(invoice_id))
        assert found is not None
        assert found.id == invoice_id


async def committed_invoice(db: Database) -> uuid.UUID:
    async with db.Session() as session, session.begin():
        return (await column_types.add_invoice(session, "5.00")).id


# --- an Enum mapped by name over values ------------------------------------------------------


async def test_enum_names_over_stored_values(db: Database) -> None:
    async with db.Session() as session:
        outcome = await capture(m.wrong_enum_names_over_values(session))
    assert outcome.error is LookupError
    assert outcome.message == (
        "'free' is not among the defined enum values. Enum name: plan. Possible values: FREE, PRO"
    )
    async with db.Session() as session:
        assert await m.fixed_enum_names_over_values(session) == [m.Plan.FREE, m.Plan.PRO]


# --- a new enum member without its migration -------------------------------------------------


async def test_enum_member_without_migration(db: Database, lane: Lane) -> None:
    outcome = await capture(m.wrong_enum_member_without_migration(db.engine))
    if lane.backend == "postgresql":
        postgresql_error(
            outcome,
            lane,
            DataError,
            ("InvalidTextRepresentationError", "InvalidTextRepresentation"),
            re.escape(
                'invalid input value for enum ticket_status: "on_hold"'
            ),
        )
    elif lane.backend == "mysql":  # strict mode: MariaDB's default
        assert outcome.error is DataError
        assert outcome.message.startswith(
            "(pymysql.err.DataError) (1265, \"Data truncated for column 'status' at row 1\")"
        ), outcome.message
    else:
        assert outcome.error is IntegrityError
        assert outcome.message.startswith(
            "(sqlite3.IntegrityError) CHECK constraint failed: ticket_status"
        ), outcome.message
    assert await m.fixed_enum_member_without_migration(db.engine) == ["on_hold"]


@pytest.mark.lanes("postgresql")
async def test_new_enum_value_used_in_the_transaction_that_added_it(
    db: Database, lane: Lane
) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO ct_tickets (status) VALUES ('open')"))
    outcome = await capture(m.wrong_new_enum_value_used_at_once(db.engine))
    unsafe_new_enum_value(outcome, lane, "escalated")
    hint = "HINT:  New enum values must be committed before they can be used."
    assert (hint in outcome.message) == (lane.driver == "psycopg" or ASYNCPG_ERRORS_BY_SQLSTATE)
    async with db.engine.connect() as conn:  # rolled back, ALTER TYPE included
        labels = await conn.scalars(text("SELECT enumlabel FROM pg_enum"))
        assert "escalated" not in list(labels)
    await m.add_escalated_status(db.engine)
    async with db.engine.connect() as conn:
        statuses = await conn.scalars(text("SELECT DISTINCT status FROM ct_tickets"))
        assert list(statuses) == ["escalated"]


# --- UUID keys on MariaDB after upgrading from SQLAlchemy 2.0 -------------------------------


async def test_uuid_keys_after_upgrading_to_2_1(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        found = await capture(m.wrong_uuid_lookup_after_upgrade(session))
    async with db.Session() as session:
        inserted = await capture(m.wrong_uuid_insert_after_upgrade(session))
    if lane.backend == "mysql" and SA21:
        assert found.value is False  # the row is there, stored as 32 hex digits
        assert inserted.error is DataError
        assert inserted.message.startswith(
            "(pymysql.err.DataError) (1406, \"Data too long for column 'id' at row 1\")"
        ), inserted.message
    else:
        assert found.value is True
        assert inserted.error is None
    async with db.Session() as session:
        assert await m.fixed_uuid_after_upgrade(session) is True
    # What 2.0 created, and what the pinned type keeps creating on both lines.
    id_column = CreateColumn(m.accounts_from_2_0.c.id).compile(dialect=db.engine.dialect)
    expected = {"postgresql": "id UUID NOT NULL"}.get(lane.backend, "id CHAR(32) NOT NULL")
    assert str(id_column) == expected


@pytest.mark.lanes("mysql")
async def test_migrating_the_char32_column_to_uuid_keeps_the_rows(lane: Lane) -> None:
    """The other fix: ALTER TABLE ... MODIFY id UUID converts the 32 hex digits; the default
    Uuid type then finds the rows on 2.0 and 2.1."""
    async with lane.database_with(*m.METADATA) as db:
        await m.seed(db.Session)
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE err_accounts MODIFY id UUID NOT NULL"))
            stored = (await conn.execute(text("SELECT id FROM err_accounts"))).scalar_one()
        assert stored == str(m.EXISTING_ACCOUNT)  # now with dashes: a real UUID
        async with db.Session() as session:
            assert await m.wrong_uuid_lookup_after_upgrade(session) is True
            await m.wrong_uuid_insert_after_upgrade(session)  # and INSERTs fit again
            await session.rollback()


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_json_changed_in_place: stored {'theme': 'light'" in out
    assert "fixed_float_money: returned Decimal('1.00')" in out
    assert "fixed_uuid_from_string: raised builtins.ValueError: not an id: 'not-a-uuid'" in out
    assert "fixed_enum_member_without_migration: returned ['on_hold']" in out
    assert "fixed_uuid_after_upgrade: returned True" in out
    if db_url.get_backend_name() == "postgresql":
        assert "wrong_new_enum_value_used_at_once: raised sqlalchemy.exc." in out
        assert "add_escalated_status: returned None" in out
