"""examples/column_types.py on every lane: the column types each database really gets, JSON
changes that are (and are not) saved, UUID keys, enums stored by value, exact money, time zone
aware timestamps, and a new enum member through a real Alembic upgrade.

Tests that commit use their own rows (new UUIDs) in one database per lane; sums over invoices
run inside a transaction that is rolled back, with the PAID status no committed row has.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import re
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Column,
    Enum,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    insert,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples import column_types as m
from examples.errors import Database, capture
from examples.migrations import runner
from examples.migrations.runner import ALEMBIC_INI
from examples.quickstart import make_engine
from tests.conftest import Lane
from tests.test_errors_types import unsafe_new_enum_value, updates
from tools.statements import count_statements
from tools.versions import SA21


class DefaultEnumBase(DeclarativeBase):
    pass


class DefaultEnumInvoice(DefaultEnumBase):
    """What a bare Mapped[InvoiceStatus] gets: SQLAlchemy's default Enum(InvoiceStatus)."""

    __tablename__ = "ct_default_enum_invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[m.InvoiceStatus]


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(m.TypesBase.metadata, DefaultEnumBase.metadata) as database:
        yield database


async def new_invoice(db: Database, total: str = "10.00") -> uuid.UUID:
    """A committed draft invoice."""
    async with db.Session() as session, session.begin():
        invoice = await m.add_invoice(session, total)
    return invoice.id


async def catalog_types(db: Database, lane: Lane, table: str) -> dict[str, str]:
    """Each column's type as the database itself reports it."""
    async with db.engine.connect() as conn:
        if lane.backend == "postgresql":
            rows = await conn.execute(
                text(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 "
                    "AND NOT attisdropped"
                ),
                {"table": table},
            )
        elif lane.backend == "mysql":
            rows = await conn.execute(
                text(
                    "SELECT column_name, column_type FROM information_schema.columns "
                    "WHERE table_schema = database() AND table_name = :table"
                ),
                {"table": table},
            )
        else:
            rows = await conn.execute(
                text("SELECT name, type FROM pragma_table_info(:table)"), {"table": table}
            )
        return {str(name): str(type_) for name, type_ in rows}


# --- what each database gets -----------------------------------------------------------------


async def test_column_types_per_database(db: Database, lane: Lane) -> None:
    found = await catalog_types(db, lane, "ct_invoices")
    if lane.backend == "postgresql":
        assert found == {
            "id": "uuid",
            "status": "character varying(32)",
            "total": "numeric(12,2)",
            "extra": "jsonb",
            "tags": "json",
            "issued_at": "timestamp with time zone",
        }
    elif lane.backend == "mysql":
        assert found == {
            # MariaDB >= 10.7 has a UUID type; SQLAlchemy uses it from 2.1 on.
            "id": "uuid" if SA21 else "char(32)",
            "status": "varchar(32)",
            "total": "decimal(12,2)",
            "extra": "longtext",  # MariaDB's JSON is LONGTEXT with a CHECK (below)
            "tags": "longtext",
            "issued_at": "datetime",  # no offset stored
        }
        async with db.engine.connect() as conn:
            checks = await conn.execute(
                text(
                    "SELECT check_clause FROM information_schema.check_constraints "
                    "WHERE constraint_schema = database() AND table_name = 'ct_invoices'"
                )
            )
            assert sorted(checks.scalars()) == ["json_valid(`extra`)", "json_valid(`tags`)"]
    else:
        async with db.Session() as session, session.begin():
            invoice = await m.add_invoice(session, "19.99")
            stored = await session.execute(
                text("SELECT typeof(extra), typeof(total) FROM ct_invoices WHERE id = :id"),
                {"id": invoice.id.hex},
            )
            # JSON is text, NUMERIC 19.99 a float
            assert [tuple(row) for row in stored] == [("text", "real")]
            await session.delete(invoice)
        assert found == {
            "id": "CHAR(32)",
            "status": "VARCHAR(32)",
            "total": "NUMERIC(12, 2)",
            "extra": "JSON",
            "tags": "JSON",
            "issued_at": "DATETIME",
        }


async def test_enforced_enum_types_per_database(db: Database, lane: Lane) -> None:
    found = await catalog_types(db, lane, "ct_tickets")
    async with db.engine.connect() as conn:
        if lane.backend == "postgresql":
            assert found["status"] == "ticket_status"  # CREATE TYPE ticket_status AS ENUM
            assert await enum_labels(conn, "ticket_status") == ["open", "closed"]
        elif lane.backend == "mysql":
            assert found["status"] == "enum('open','closed')"
        else:
            assert found["status"] == "VARCHAR(6)"
            ddl = await conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ct_tickets'"))
            assert "CONSTRAINT ticket_status CHECK (status IN ('open', 'closed'))" in str(ddl)
    with pytest.raises(DBAPIError):  # each database refuses another value (texts: errors.md)
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO ct_tickets (status) VALUES ('bogus')"))


async def enum_labels(conn: AsyncConnection, type_name: str) -> list[str]:
    rows = await conn.scalars(
        text(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.typname = :name ORDER BY e.enumsortorder"
        ),
        {"name": type_name},
    )
    return list(rows)


# --- JSON --------------------------------------------------------------------------------


async def test_top_level_json_change_is_one_update(db: Database) -> None:
    invoice_id = await new_invoice(db)
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            async with session.begin():
                await m.set_extra(session, invoice_id, "po_number", "PO-1")
    assert len(updates(log.statements)) == 1
    async with db.Session() as session:
        invoice = await session.get_one(m.Invoice, invoice_id)
        assert invoice.extra == {"po_number": "PO-1"}


async def test_nested_json_change_with_flag_modified(db: Database) -> None:
    invoice_id = await new_invoice(db)
    for city in ("Lisbon", "Porto"):  # the second time, only the nested dict changes
        async with db.Session() as session:
            with count_statements(db.engine) as log:
                async with session.begin():
                    await m.set_billing_city(session, invoice_id, city)
        assert len(updates(log.statements)) == 1
    async with db.Session() as session:
        invoice = await session.get_one(m.Invoice, invoice_id)
        assert invoice.extra == {"billing": {"city": "Porto"}}


async def test_mutable_list_append_is_saved(db: Database) -> None:
    invoice_id = await new_invoice(db)
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            async with session.begin():
                invoice = await session.get_one(m.Invoice, invoice_id)
                invoice.tags.append("urgent")
    assert len(updates(log.statements)) == 1
    async with db.Session() as session:
        assert (await session.get_one(m.Invoice, invoice_id)).tags == ["urgent"]


async def test_bad_json_input_is_refused_before_any_sql(db: Database) -> None:
    invoice_id = await new_invoice(db)
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            with pytest.raises(ValueError, match=r"^key must be 1-50 letters, digits or _"):
                await m.set_extra(session, invoice_id, "po number", "x")
            with pytest.raises(ValueError, match=r"^value is not JSON: \{1\}$"):
                await m.set_extra(session, invoice_id, "po_number", {1})
            with pytest.raises(ValueError, match=r"^value is not JSON: nan$"):
                await m.set_extra(session, invoice_id, "ratio", float("nan"))
            with pytest.raises(ValueError, match="city must be 1-100 characters"):
                await m.set_billing_city(session, invoice_id, "   ")
        assert log.statements == []
        assert (await session.get_one(m.Invoice, invoice_id)).extra == {}


async def test_query_by_json_key_on_every_database(db: Database) -> None:
    web, shop = f"web-{uuid.uuid4().hex}", f"shop-{uuid.uuid4().hex}"
    ids = [await new_invoice(db), await new_invoice(db)]
    for invoice_id, channel in zip(ids, (web, shop), strict=True):
        async with db.Session() as session, session.begin():
            await m.set_extra(session, invoice_id, "channel", channel)
    async with db.Session() as session:
        assert await m.invoice_ids_where(session, "channel", web) == [ids[0]]
        assert await m.invoice_ids_where(session, "channel", shop) == [ids[1]]
        assert await m.invoice_ids_where(session, "channel", "nowhere") == []
        with pytest.raises(ValueError, match="key must be"):
            await m.invoice_ids_where(session, "channel') OR ('1'='1", web)


# --- UUID primary keys ---------------------------------------------------------------------


async def test_uuid_primary_keys(db: Database, lane: Lane) -> None:
    async with db.Session() as session, session.begin():
        invoice = m.Invoice(total=Decimal("1.00"))
        assert invoice.id is None  # the default runs at flush, not in the constructor
        session.add(invoice)
        await session.flush()
        invoice_id = invoice.id
    assert isinstance(invoice_id, uuid.UUID)
    assert invoice_id.version == 4
    async with db.Session() as session:
        # Every spelling uuid.UUID() accepts finds the row.
        for raw in (str(invoice_id), invoice_id.hex, str(invoice_id).upper()):
            found = await m.get_invoice(session, raw)
            assert found is not None
            assert found.id == invoice_id
        with count_statements(db.engine) as log:
            for raw in ("not-a-uuid", "", "1", str(invoice_id) + "0"):
                with pytest.raises(ValueError, match=r"^not an id: "):
                    await m.get_invoice(session, raw)
        assert log.statements == []
        stored = list(await session.scalars(text("SELECT id FROM ct_invoices")))
    if lane.backend == "postgresql":
        assert invoice_id in stored  # a uuid column: the driver returns UUID objects
    elif lane.backend == "mysql" and SA21:
        assert str(invoice_id) in stored  # MariaDB's UUID type: 36 characters
    else:
        assert invoice_id.hex in stored  # CHAR(32): 32 hex digits, no dashes


# --- enums ---------------------------------------------------------------------------------


async def test_the_default_enum_stores_names(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        session.add(DefaultEnumInvoice(status=m.InvoiceStatus.SENT))
        await session.flush()
        raw = await session.scalar(text("SELECT status FROM ct_default_enum_invoices"))
        await session.rollback()
    assert raw == "SENT"  # the name, not "sent"
    found = await catalog_types(db, lane, "ct_default_enum_invoices")
    if lane.backend == "postgresql":
        assert found["status"] == "invoicestatus"  # a type named after the class
        async with db.engine.connect() as conn:
            assert await enum_labels(conn, "invoicestatus") == ["DRAFT", "SENT", "PAID"]
    elif lane.backend == "mysql":
        assert found["status"] == "enum('DRAFT','SENT','PAID')"
    else:
        assert found["status"] == "VARCHAR(5)"


async def test_enum_stored_as_values(db: Database) -> None:
    async with db.Session() as session, session.begin():
        invoice = await m.add_invoice(session, "1.00", "sent")
    async with db.Session() as session:
        raw = await session.scalar(
            select(type_coerce(m.Invoice.status, String())).where(m.Invoice.id == invoice.id)
        )
        assert raw == "sent"
        assert (await session.get_one(m.Invoice, invoice.id)).status is m.InvoiceStatus.SENT


async def test_unknown_status_refused_before_any_sql(db: Database) -> None:
    with pytest.raises(ValueError, match=r"^'archived' is not a valid InvoiceStatus$"):
        m.InvoiceStatus("archived")
    with pytest.raises(ValueError, match=r"^status must be one of draft, sent, paid: 'SENT'$"):
        m.parse_status("SENT")
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            with pytest.raises(ValueError, match="status must be one of"):
                await m.add_invoice(session, "1.00", "archived")
            # Rows that skip parse_status still meet validate_strings=True.
            with pytest.raises(StatementError) as raised:
                await session.execute(
                    insert(m.Invoice), [{"total": Decimal("1.00"), "status": "bogus"}]
                )
        assert log.statements == []
    assert isinstance(raised.value.orig, LookupError)
    assert str(raised.value).startswith(
        "(builtins.LookupError) 'bogus' is not among the defined enum values. "
        "Enum name: invoicestatus. Possible values: draft, sent, paid"
    )


def test_a_non_native_enum_without_length_is_as_long_as_its_longest_value() -> None:
    dialect = sqlite.dialect()
    short = Enum(m.InvoiceStatus, native_enum=False, values_callable=m.enum_values)
    assert short.compile(dialect=dialect) == "VARCHAR(5)"  # "draft": a longer member won't fit
    assert m.Invoice.__table__.c.status.type.compile(dialect=dialect) == "VARCHAR(32)"


class LaterInvoiceStatus(enum.Enum):
    """InvoiceStatus after a release added a member longer than "draft"."""

    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"
    CANCELLED = "cancelled"


def enum_table(metadata: MetaData, enum_class: type[enum.Enum], length: int | None) -> Table:
    """A non-native enum column: without length= as long as its longest value."""
    sized = {} if length is None else {"length": length}  # length=None would mean no length
    status = Enum(enum_class, native_enum=False, values_callable=m.enum_values, **sized)
    return Table(
        f"ct_enums_{length or 'unsized'}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("status", status, nullable=False),
    )


async def test_a_new_enum_member_needs_no_migration_only_with_a_length(lane: Lane) -> None:
    """The first deploy created both tables from InvoiceStatus; a later release added a member
    longer than "draft" and ships no migration."""
    created = MetaData()
    enum_table(created, m.InvoiceStatus, None)
    enum_table(created, m.InvoiceStatus, 32)
    later = MetaData()
    unsized = enum_table(later, LaterInvoiceStatus, None)
    sized = enum_table(later, LaterInvoiceStatus, 32)
    async with lane.database_with(created) as database:
        found = await catalog_types(database, lane, "ct_enums_unsized")
        assert found["status"] == {
            "postgresql": "character varying(5)",
            "mysql": "varchar(5)",
        }.get(lane.backend, "VARCHAR(5)")  # "draft"
        cancelled = {"status": LaterInvoiceStatus.CANCELLED}
        async with database.engine.begin() as conn:  # length=32: the new member just fits
            await conn.execute(insert(sized), [cancelled])
            assert await conn.scalar(select(sized.c.status)) is LaterInvoiceStatus.CANCELLED
        if lane.backend == "sqlite":  # SQLite ignores VARCHAR lengths: stored as it is
            async with database.engine.begin() as conn:
                await conn.execute(insert(unsized), [cancelled])
                assert await conn.scalar(select(unsized.c.status)) is LaterInvoiceStatus.CANCELLED
        else:
            too_long = {
                "postgresql": r"value too long for type character varying\(5\)",
                "mysql": r"Data too long for column 'status' at row 1",
            }[lane.backend]
            with pytest.raises(DBAPIError, match=too_long):
                async with database.engine.begin() as conn:
                    await conn.execute(insert(unsized), [cancelled])


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("19.99", Decimal("19.99")),
        ("  3.1 ", Decimal("3.10")),
        ("1.500", Decimal("1.50")),
        (5, Decimal("5.00")),
        (Decimal("-0.01"), Decimal("-0.01")),
        ("9999999999.99", Decimal("9999999999.99")),
    ],
)
def test_parse_amount_accepts(raw: Decimal | str | int, amount: Decimal) -> None:
    assert m.parse_amount(raw) == amount


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12.345", "more than 2 decimal places: '12.345'"),
        ("-0.001", "more than 2 decimal places: '-0.001'"),
        ("NaN", "not an amount: 'NaN'"),
        ("inf", "not an amount: 'inf'"),
        ("1,50", "not an amount: '1,50'"),
        ("", "not an amount: ''"),
        ("10000000000.00", "amount out of range: '10000000000.00'"),
        ("1e30", "amount out of range: '1e30'"),
        (0.1, "pass amounts as Decimal or str, not float: 0.1"),
        (True, "pass amounts as Decimal or str, not bool: True"),
    ],
)
def test_parse_amount_refuses(raw: Decimal | str | int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        m.parse_amount(raw)


async def test_decimal_sums_are_exact(db: Database, lane: Lane) -> None:
    async with db.Session() as session:  # never committed: rolled back when it closes
        for _ in range(10):
            await m.add_invoice(session, "0.10", "paid")
        assert await m.total_of(session, m.InvoiceStatus.PAID) == Decimal("1.00")
        assert await m.total_by_sql(session, m.InvoiceStatus.PAID) == Decimal("1.00")
        untyped = await session.scalar(
            text("SELECT sum(total) FROM ct_invoices WHERE status = 'paid'")
        )
    if lane.backend == "sqlite":
        assert untyped == 0.9999999999999999  # NUMERIC is stored as a float on SQLite
    else:
        assert untyped == Decimal("1.00")


async def test_extra_decimal_places_round_differently(db: Database, lane: Lane) -> None:
    """Why parse_amount refuses them: each database rounds its own way."""
    async with db.Session() as session:
        invoices = [m.Invoice(total=Decimal(raw)) for raw in ("1.005", "2.675")]
        session.add_all(invoices)
        await session.flush()
        stored = [
            await session.scalar(select(m.Invoice.total).where(m.Invoice.id == invoice.id))
            for invoice in invoices
        ]
        await session.rollback()
    if lane.backend == "sqlite":  # the float 1.005 is 1.00499999999999989...
        assert stored == [Decimal("1.00"), Decimal("2.67")]
    else:  # exact decimals, rounded half away from zero
        assert stored == [Decimal("1.01"), Decimal("2.68")]


@pytest.mark.lanes("sqlite")
async def test_sqlite_stores_numeric_as_a_float_without_a_warning(lane: Lane) -> None:
    wide = Table(
        "ct_wide", MetaData(), Column("id", Integer, primary_key=True), Column("n", Numeric(20, 2))
    )
    async with lane.database_with(m.TypesBase.metadata, wide.metadata) as db:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with db.Session() as session, session.begin():
                invoice = await m.add_invoice(session, "9999999999.99")
                await session.execute(insert(wide), [{"n": Decimal("123456789012345678.91")}])
            async with db.Session() as session:
                assert await session.scalar(text("SELECT typeof(total) FROM ct_invoices")) == "real"
                # Numeric(12, 2): 12 digits, exact after SQLAlchemy rounds to 2 places.
                found = await session.get_one(m.Invoice, invoice.id, populate_existing=True)
                assert found.total == Decimal("9999999999.99")
                # 20 digits do not fit a float's 15-17: the cents are gone.
                assert await session.scalar(select(wide.c.n)) == Decimal("123456789012345680.00")
        assert [str(w.message) for w in caught] == []  # SQLAlchemy 2.x warns about none of it


# --- time zone aware timestamps ---------------------------------------------------------------


async def test_aware_timestamps_round_trip(db: Database, lane: Lane) -> None:
    issued = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    async with db.Session() as session, session.begin():
        invoice = m.Invoice(total=Decimal("1.00"), issued_at=issued)
        session.add(invoice)
    async with db.Session() as session:
        loaded = (await session.get_one(m.Invoice, invoice.id)).issued_at
        raw = (
            await session.scalar(
                select(type_coerce(m.Invoice.issued_at, String())).where(m.Invoice.id == invoice.id)
            )
            if lane.backend == "sqlite"
            else None
        )
    if lane.backend == "postgresql":
        assert loaded.tzinfo is not None  # timestamptz: an aware datetime, the same instant
        assert loaded == issued
    else:
        assert loaded.tzinfo is None  # DATETIME keeps no offset: naive, UTC by convention
        assert loaded == issued.replace(tzinfo=None)
    if lane.backend == "sqlite":
        assert raw == "2026-01-02 03:04:05.000000"  # stored as text


def test_utc_now_is_aware() -> None:
    assert m.utc_now().utcoffset() == datetime.timedelta(0)


# --- a new enum member through a real Alembic upgrade ------------------------------------------

REVISION_HEAD = """
revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None
"""

CREATE_TICKETS = """
import sqlalchemy as sa
from alembic import op

from examples.column_types import OLD_STATUS
{head}

def upgrade() -> None:
    op.create_table(
        "ct_tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", OLD_STATUS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ct_tickets")
"""

ADD_ON_HOLD = """
from alembic import op

from examples.column_types import add_on_hold_status
{head}

def upgrade() -> None:
    add_on_hold_status(op)
"""

ADD_ON_HOLD_AUTOCOMMIT = """
from alembic import op
{head}

def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE ticket_status ADD VALUE IF NOT EXISTS 'on_hold'")
"""

USE_ON_HOLD = """
from alembic import op
{head}

def upgrade() -> None:
    op.execute("INSERT INTO ct_tickets (status) VALUES ('on_hold')")
"""


def migrations_with(tmp_path: Path, url: str, *revisions: str) -> Config:
    """A copy of examples/migrations with revisions 0004, 0005... appended."""
    copy = tmp_path / "migrations"
    shutil.copytree(ALEMBIC_INI.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for number, body in enumerate(revisions, start=4):
        head = REVISION_HEAD.format(rev=f"{number:04}", down=f"{number - 1:04}")
        (copy / "versions" / f"{number:04}_ct.py").write_text(body.format(head=head))
    cfg = Config(copy / "alembic.ini")
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def fresh(cfg: Config) -> Config:
    """A new Config for each run: runner._upgrade leaves its connection in cfg.attributes, and
    env.py would reuse that closed connection ("This Connection is closed")."""
    new = Config(cfg.config_file_name)
    new.attributes.update(url=cfg.attributes["url"], configure_logger=False)
    return new


async def upgrade_in_one_transaction(cfg: Config, revision: str = "head") -> None:
    """What examples/migrations/runner.run_migrations() does, with this Config."""
    engine = create_async_engine(cfg.attributes["url"])
    try:
        async with engine.begin() as conn:
            await conn.run_sync(runner._upgrade, fresh(cfg), revision)
    finally:
        await engine.dispose()


async def upgrade_like_the_cli(cfg: Config) -> None:
    """`alembic upgrade head`: env.py's own asyncio.run(), in a thread with no running loop."""
    await asyncio.to_thread(command.upgrade, fresh(cfg), "head")


async def ticket_statuses(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.scalars(text("SELECT status FROM ct_tickets ORDER BY id")))
    finally:
        await engine.dispose()


async def test_alembic_revision_adds_an_enum_member(db_url: URL, tmp_path: Path) -> None:
    url = db_url.render_as_string(hide_password=False)
    cfg = migrations_with(tmp_path, url, CREATE_TICKETS, ADD_ON_HOLD)
    await upgrade_in_one_transaction(cfg)
    engine = make_engine(url)  # strict on MariaDB whatever the server's sql_mode
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO ct_tickets (status) VALUES ('on_hold')"))
        with pytest.raises(DBAPIError):  # still enforced
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO ct_tickets (status) VALUES ('bogus')"))
    finally:
        await engine.dispose()
    assert await ticket_statuses(url) == ["on_hold"]


@pytest.mark.lanes("postgresql")
async def test_postgresql_new_enum_value_is_unusable_until_committed(
    db_url: URL, lane: Lane, tmp_path: Path
) -> None:
    url = db_url.render_as_string(hide_password=False)
    # The type exists (an earlier deploy created it); then a data revision after the
    # ALTER TYPE, in the same upgrade run (one transaction):
    cfg = migrations_with(tmp_path / "a", url, CREATE_TICKETS, ADD_ON_HOLD, USE_ON_HOLD)
    await upgrade_in_one_transaction(cfg, "0004")
    unsafe_new_enum_value(await capture(upgrade_in_one_transaction(cfg)), lane, "on_hold")

    # The same with the alembic command: env.py also runs the whole upgrade in one transaction.
    unsafe_new_enum_value(await capture(upgrade_like_the_cli(cfg)), lane, "on_hold")

    # Alembic's autocommit_block() commits first: works when alembic runs env.py itself...
    cfg = migrations_with(tmp_path / "b", url, CREATE_TICKETS, ADD_ON_HOLD_AUTOCOMMIT, USE_ON_HOLD)
    await upgrade_like_the_cli(cfg)  # from 0004, where the failed run left the database
    assert await ticket_statuses(url) == ["on_hold"]

    # There is no way back short of a new type: PostgreSQL has no DROP VALUE (15: a syntax
    # error; 18: "not implemented").
    engine = create_async_engine(url)
    no_drop = r'syntax error at or near "VALUE"|dropping an enum value is not implemented'
    try:
        with pytest.raises(DBAPIError, match=no_drop):
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TYPE ticket_status DROP VALUE 'on_hold'"))
    finally:
        await engine.dispose()

    # ...and fails inside the one transaction of run_migrations(), with a bare AssertionError.
    other = await lane.new_database()
    try:
        other_url = other.render_as_string(hide_password=False)
        cfg = migrations_with(tmp_path / "c", other_url, CREATE_TICKETS, ADD_ON_HOLD_AUTOCOMMIT)
        await upgrade_in_one_transaction(cfg, "0004")
        outcome = await capture(upgrade_in_one_transaction(cfg))
        assert outcome.error is AssertionError
    finally:
        await lane.drop(other)


@pytest.mark.lanes("postgresql")
async def test_postgresql_new_enum_value_works_in_the_next_upgrade_run(
    db_url: URL, tmp_path: Path
) -> None:
    """The other way out: upgrade to the ALTER TYPE revision (committed), then to head."""
    url = db_url.render_as_string(hide_password=False)
    cfg = migrations_with(tmp_path, url, CREATE_TICKETS, ADD_ON_HOLD, USE_ON_HOLD)
    await upgrade_in_one_transaction(cfg, "0005")  # creates the table, adds 'on_hold'
    await upgrade_in_one_transaction(cfg)  # 0006 uses it: a new transaction, so it may
    assert await ticket_statuses(url) == ["on_hold"]


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert re.search(r"invoice [0-9a-f-]{36}: sent 19\.99 \{", out), out
    assert "'billing': {'city': 'Lisbon'}" in out
    assert "total sent: 20.00" in out
    assert "refused: more than 2 decimal places: '12.345'" in out
    assert "refused: not an amount: 'NaN'" in out
