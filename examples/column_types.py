"""Column types that behave differently on SQLite, PostgreSQL and MariaDB, and one default for
each that works on all three (references/column-types.md):

* JSON: ``MutableDict.as_mutable(JSON)`` so that ``invoice.extra["k"] = v`` is saved (a plain
  ``JSON`` column never sees it); a change inside a nested dict still needs ``flag_modified``.
* UUID primary keys: ``Mapped[uuid.UUID]``; an id from a URL is parsed before any SQL runs.
* Enums stored by value in a VARCHAR (``native_enum=False``, ``values_callable``, ``length``), and
  the database-enforced alternative with the migration each new member then needs.
* Money: ``Numeric(12, 2)`` with ``Decimal``; amounts validated (no floats, at most 2 places).
* ``DateTime(timezone=True)``: what each database makes of it (time zones: SKILL.md).

Run: python -m examples.column_types
"""

# Each region carries its own imports so that it can be copied alone.

# region: models
import datetime
import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.mutable import MutableDict, MutableList
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class InvoiceStatus(enum.Enum):
    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    """For values_callable: store "draft", not the member's name "DRAFT"."""
    return [member.value for member in enum_class]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TypesBase(DeclarativeBase):
    type_annotation_map = {str: String(255)}


class Invoice(TypesBase):
    __tablename__ = "ct_invoices"

    # uuid4() runs in Python when the row is flushed. UUID on PostgreSQL, CHAR(32) on SQLite;
    # on MariaDB CHAR(32) with SQLAlchemy 2.0 and UUID with 2.1.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # A VARCHAR(32) on every database holding the values ("draft"); adding a member needs no
    # migration; validate_strings: an unknown string fails before the INSERT.
    status: Mapped[InvoiceStatus] = mapped_column(
        Enum(
            InvoiceStatus,
            native_enum=False,
            length=32,
            values_callable=enum_values,
            validate_strings=True,
        ),
        default=InvoiceStatus.DRAFT,
    )
    # Money: exact decimals, 10 digits before the point and 2 after.
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # MutableDict: extra["key"] = value marks the row changed. JSONB on PostgreSQL, JSON
    # (LONGTEXT with a json_valid CHECK) on MariaDB, JSON (text) on SQLite.
    extra: Mapped[dict[str, Any]] = mapped_column(
        MutableDict.as_mutable(JSON().with_variant(JSONB(), "postgresql")), default=dict
    )
    # MutableList: tags.append(...) is saved too.
    tags: Mapped[list[str]] = mapped_column(MutableList.as_mutable(JSON()), default=list)
    issued_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


# endregion: models

# region: json_changes
import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified


def _clean_key(key: str) -> str:
    if not 1 <= len(key) <= 50 or not key.isidentifier():
        raise ValueError(f"key must be 1-50 letters, digits or _: {key!r}")
    return key


async def set_extra(session: AsyncSession, invoice_id: uuid.UUID, key: str, value: Any) -> None:
    key = _clean_key(key)
    try:  # refuse what is not JSON (NaN and Infinity too), before any SQL
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(f"value is not JSON: {value!r}") from None
    invoice = await session.get_one(Invoice, invoice_id)
    invoice.extra[key] = value  # a top-level key: MutableDict records the change


async def set_billing_city(session: AsyncSession, invoice_id: uuid.UUID, city: str) -> None:
    if not 1 <= len(city.strip()) <= 100:
        raise ValueError("city must be 1-100 characters")
    invoice = await session.get_one(Invoice, invoice_id)
    invoice.extra.setdefault("billing", {})["city"] = city.strip()
    # A change inside a nested dict is invisible even to MutableDict: mark the column changed.
    flag_modified(invoice, "extra")


# endregion: json_changes

# region: json_query
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def invoice_ids_where(session: AsyncSession, key: str, value: str) -> list[uuid.UUID]:
    # as_string() compiles to each database's JSON operator and compares the value as text.
    stmt = select(Invoice.id).where(Invoice.extra[_clean_key(key)].as_string() == value)
    return list(await session.scalars(stmt.order_by(Invoice.id)))


# endregion: json_query

# region: parse_uuid
import uuid


def parse_uuid(raw: str) -> uuid.UUID:
    # Ids from URLs and forms are strings: parse them before any SQL. A str in a Uuid column
    # fails on SQLite (and MariaDB with SQLAlchemy 2.0) with AttributeError, on PostgreSQL with
    # a driver error when malformed, and on MariaDB with 2.1 finds nothing.
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValueError(f"not an id: {raw!r}") from None


# endregion: parse_uuid

# region: uuid_ids
from sqlalchemy.ext.asyncio import AsyncSession


async def get_invoice(session: AsyncSession, raw_id: str) -> Invoice | None:
    return await session.get(Invoice, parse_uuid(raw_id))


# endregion: uuid_ids


# region: parse_status
def parse_status(raw: str) -> InvoiceStatus:
    # InvoiceStatus("archived") raises "'archived' is not a valid InvoiceStatus": say what is.
    try:
        return InvoiceStatus(raw)
    except ValueError:
        allowed = ", ".join(enum_values(InvoiceStatus))
        raise ValueError(f"status must be one of {allowed}: {raw!r}") from None


# endregion: parse_status

# region: money
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

CENT = Decimal("0.01")
MAX_TOTAL = Decimal("9999999999.99")  # Numeric(12, 2): 10 digits before the point


def parse_amount(raw: Decimal | str | int) -> Decimal:
    """An exact amount of at most 2 decimal places, or ValueError; never a float."""
    if isinstance(raw, float | bool):
        raise ValueError(f"pass amounts as Decimal or str, not {type(raw).__name__}: {raw!r}")
    try:
        amount = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not an amount: {raw!r}") from None
    if not amount.is_finite():  # NaN, Infinity
        raise ValueError(f"not an amount: {raw!r}")
    if abs(amount) > MAX_TOTAL:
        raise ValueError(f"amount out of range: {raw!r}")
    if amount != amount.quantize(CENT):  # the databases would round, each its own way
        raise ValueError(f"more than 2 decimal places: {raw!r}")
    return amount.quantize(CENT)


async def add_invoice(
    session: AsyncSession, total: Decimal | str | int, status: str = "draft"
) -> Invoice:
    invoice = Invoice(total=parse_amount(total), status=parse_status(status))
    session.add(invoice)
    await session.flush()
    return invoice


async def total_of(session: AsyncSession, status: InvoiceStatus) -> Decimal:
    # SUM over a Numeric column comes back as a Decimal on every database.
    stmt = select(func.coalesce(func.sum(Invoice.total), 0)).where(Invoice.status == status)
    return Decimal((await session.execute(stmt)).scalar_one())


# endregion: money

# region: sqlite_text_sum
from decimal import Decimal

from sqlalchemy import Numeric, text
from sqlalchemy.ext.asyncio import AsyncSession


async def total_by_sql(session: AsyncSession, status: InvoiceStatus) -> Decimal:
    # text() has no column types: declare the result's, or SQLite returns a float
    # (0.9999999999999999 for ten invoices of 0.10). PostgreSQL and MariaDB return a Decimal.
    stmt = text(
        "SELECT coalesce(sum(total), 0) AS total FROM ct_invoices WHERE status = :status"
    ).columns(total=Numeric(12, 2))
    return Decimal((await session.execute(stmt, {"status": status.value})).scalar_one())


# endregion: sqlite_text_sum

# region: enforced_enum
import enum

from sqlalchemy import Enum
from sqlalchemy.orm import Mapped, mapped_column


class TicketStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Ticket(TypesBase):
    __tablename__ = "ct_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The database refuses other values: a CREATE TYPE ticket_status ... AS ENUM on PostgreSQL,
    # an ENUM('open','closed') column on MariaDB, a CHECK constraint on SQLite
    # (create_constraint). Every new member then needs a migration.
    status: Mapped[TicketStatus] = mapped_column(
        Enum(
            TicketStatus,
            name="ticket_status",
            values_callable=enum_values,
            create_constraint=True,
        )
    )


# endregion: enforced_enum

# region: enum_migration
import sqlalchemy as sa
from alembic.operations import Operations

# A revision spells out the members: it must not change when the Python enum does.
OLD_STATUS = sa.Enum("open", "closed", name="ticket_status", create_constraint=True)
NEW_STATUS = sa.Enum("open", "closed", "on_hold", name="ticket_status", create_constraint=True)


def add_on_hold_status(op: Operations) -> None:
    # In a revision this is the body of upgrade(), with alembic's `op`. Autogenerate detects
    # the change on MariaDB only.
    if op.get_bind().dialect.name == "postgresql":
        # The ENUM is a type of its own. PostgreSQL refuses to use the new value in the
        # transaction that added it: no data change using 'on_hold' in the same upgrade run.
        op.execute("ALTER TYPE ticket_status ADD VALUE IF NOT EXISTS 'on_hold'")
    else:
        # MariaDB: ALTER TABLE ... MODIFY the ENUM column. SQLite: copy the table with the new
        # CHECK constraint (batch mode).
        with op.batch_alter_table("ct_tickets") as batch_op:
            batch_op.alter_column(
                "status", existing_type=OLD_STATUS, type_=NEW_STATUS, existing_nullable=False
            )


# endregion: enum_migration

# region: uuid_mariadb_pin
from sqlalchemy import Uuid

# MariaDB tables created under SQLAlchemy 2.0 hold UUIDs as CHAR(32). SQLAlchemy 2.1 sends
# native UUIDs to MariaDB >= 10.7: such rows are no longer found and INSERTs fail. Keep CHAR(32)
# there (or migrate the columns to UUID first); PostgreSQL keeps its native UUID. Use it as
#     id: Mapped[uuid.UUID] = mapped_column(PinnedUuid, primary_key=True, default=uuid.uuid4)
PinnedUuid = Uuid().with_variant(Uuid(native_uuid=False), "mysql", "mariadb")
# endregion: uuid_mariadb_pin


class Account(TypesBase):
    """Ids that keep the CHAR(32) of a MariaDB database created under SQLAlchemy 2.0."""

    __tablename__ = "ct_accounts"

    id: Mapped[uuid.UUID] = mapped_column(PinnedUuid, primary_key=True, default=uuid.uuid4)


async def main(url: str) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(url)
    Session = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(TypesBase.metadata.create_all)
        async with Session() as session, session.begin():
            invoice = await add_invoice(session, "19.99", "sent")
            await add_invoice(session, "0.01", "sent")
        async with Session() as session, session.begin():
            await set_extra(session, invoice.id, "po_number", "PO-7")
            await set_billing_city(session, invoice.id, "Lisbon")
        async with Session() as session:
            found = await get_invoice(session, str(invoice.id))
            assert found is not None
            print(f"invoice {found.id}: {found.status.value} {found.total} {found.extra}")
            print("PO-7:", await invoice_ids_where(session, "po_number", "PO-7"))
            print("total sent:", await total_of(session, InvoiceStatus.SENT))
        for bad in ("12.345", "NaN", "1e20"):
            try:
                parse_amount(bad)
            except ValueError as error:
                print(f"refused: {error}")
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(TypesBase.metadata.drop_all)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
