"""Column types that fail, or silently store the wrong thing, depending on the database.

A JSON dict changed in place is never saved; money in a float column loses cents; a string id
handed to a Uuid column; an Enum mapped by name over a column that holds values; an enum member
added in Python but not in the database; UUID primary keys on MariaDB after upgrading from
SQLAlchemy 2.0 to 2.1. references/column-types.md has the defaults that avoid all of them.

Run: python -m examples.errors.types
"""

# Each region carries its own imports so that it can be copied alone.

import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.column_types import (
    NEW_STATUS,
    Invoice,
    PinnedUuid,
    TypesBase,
    add_on_hold_status,
    get_invoice,
)
from examples.errors import Database, capture, open_database, report


class TypesErrorBase(DeclarativeBase):
    pass


class PlainSettings(TypesErrorBase):
    __tablename__ = "err_plain_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # plain JSON


async def new_settings(Session: async_sessionmaker[AsyncSession], model: Any) -> int:
    """A committed row of ``model`` with prefs {"theme": "light", "notify": {"email": True}}."""
    async with Session() as session, session.begin():
        row = model(prefs={"theme": "light", "notify": {"email": True}})
        session.add(row)
    return int(row.id)


async def wrong_json_changed_in_place(session: AsyncSession, settings_id: int) -> None:
    settings = await session.get_one(PlainSettings, settings_id)
    settings.prefs["theme"] = "dark"  # the same dict object: the session sees no change
    await session.commit()  # no UPDATE is sent


# region: fix-json-in-place
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import flag_modified


class SettingsBase(DeclarativeBase):
    pass


class Settings(SettingsBase):
    __tablename__ = "err_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # MutableDict: prefs["theme"] = "dark" marks the row changed (top-level keys only).
    prefs: Mapped[dict[str, Any]] = mapped_column(MutableDict.as_mutable(JSON), default=dict)


async def set_theme(session: AsyncSession, settings_id: int, theme: str) -> None:
    if theme not in ("light", "dark"):
        raise ValueError(f"theme must be light or dark: {theme!r}")
    settings = await session.get_one(Settings, settings_id)
    settings.prefs["theme"] = theme
    await session.commit()


async def set_email_notifications(session: AsyncSession, settings_id: int, on: bool) -> None:
    settings = await session.get_one(Settings, settings_id)
    settings.prefs.setdefault("notify", {})["email"] = on
    # A nested dict is a plain dict: MutableDict does not see this change. Say it yourself.
    flag_modified(settings, "prefs")
    await session.commit()


# endregion: fix-json-in-place


async def wrong_json_nested_change(session: AsyncSession, settings_id: int) -> None:
    settings = await session.get_one(Settings, settings_id)
    settings.prefs["notify"]["email"] = False  # inside a nested dict: even MutableDict misses it
    await session.commit()


async def read_prefs(
    Session: async_sessionmaker[AsyncSession], model: Any, settings_id: int
) -> Any:
    """What the database holds, read in a new session."""
    async with Session() as session:
        return (await session.get_one(model, settings_id)).prefs


class FloatPayment(TypesErrorBase):
    __tablename__ = "err_float_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[float]  # FLOAT/DOUBLE: binary floating point


async def wrong_float_money(session: AsyncSession) -> float:
    session.add_all([FloatPayment(amount=0.10) for _ in range(10)])
    await session.flush()
    return float((await session.execute(select(func.sum(FloatPayment.amount)))).scalar_one())


# region: fix-float-money
from decimal import Decimal

from sqlalchemy import Numeric, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class PaymentBase(DeclarativeBase):
    pass


class Payment(PaymentBase):
    __tablename__ = "err_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # exact: NUMERIC/DECIMAL


async def total_paid(session: AsyncSession, amounts: list[Decimal]) -> Decimal:
    session.add_all([Payment(amount=amount) for amount in amounts])
    await session.flush()
    return Decimal((await session.execute(select(func.sum(Payment.amount)))).scalar_one())


# endregion: fix-float-money


async def fixed_float_money(session: AsyncSession) -> Decimal:
    return await total_paid(session, [Decimal("0.10")] * 10)


async def wrong_uuid_from_string(session: AsyncSession, raw_id: str) -> Invoice | None:
    return await session.get(Invoice, raw_id)  # raw_id straight from the URL: a str


async def fixed_uuid_from_string(session: AsyncSession, raw_id: str) -> Invoice | None:
    return await get_invoice(session, raw_id)  # parse_uuid() first


# The table as another service (or a migration, or another framework) created and filled it:
# the plan column holds the values "free" and "pro".
subscriptions = Table(
    "err_subscriptions",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("plan", String(20), nullable=False),
)


# region: fix-enum-values
import enum

from sqlalchemy import Enum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


class ByValueBase(DeclarativeBase):
    pass


class Subscription(ByValueBase):
    __tablename__ = "err_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # values_callable: read and write "free"/"pro", the members' values, not their names.
    plan: Mapped[Plan] = mapped_column(
        Enum(
            Plan,
            native_enum=False,
            length=20,
            values_callable=lambda plan: [member.value for member in plan],
        )
    )


# endregion: fix-enum-values


class ByNameBase(DeclarativeBase):
    pass


class SubscriptionByName(ByNameBase):
    __tablename__ = "err_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan: Mapped[Plan]  # the default Enum(Plan) reads and writes member NAMES: "FREE", "PRO"


async def wrong_enum_names_over_values(session: AsyncSession) -> list[Plan]:
    return list(await session.scalars(select(SubscriptionByName.plan)))


async def fixed_enum_names_over_values(session: AsyncSession) -> list[Plan]:
    return list(await session.scalars(select(Subscription.plan).order_by(Subscription.id)))


# The ticket table after a code change that added TicketStatus.ON_HOLD, before any migration.
tickets_after_code_change = Table(
    "ct_tickets",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("status", NEW_STATUS, nullable=False),
)


async def wrong_enum_member_without_migration(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(tickets_after_code_change).values(status="on_hold"))


async def fixed_enum_member_without_migration(engine: AsyncEngine) -> list[str]:
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import Connection

    def migrate(conn: Connection) -> None:  # what the revision's upgrade() does
        add_on_hold_status(Operations(MigrationContext.configure(conn)))

    async with engine.begin() as conn:
        await conn.run_sync(migrate)
    async with engine.begin() as conn:
        await conn.execute(insert(tickets_after_code_change).values(status="on_hold"))
        rows = await conn.execute(text("SELECT status FROM ct_tickets ORDER BY id"))
        return [str(status) for (status,) in rows]


async def wrong_new_enum_value_used_at_once(engine: AsyncEngine) -> None:
    """PostgreSQL: one transaction adds a value to an existing ENUM type and uses it."""
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TYPE ticket_status ADD VALUE IF NOT EXISTS 'escalated'"))
        await conn.execute(text("UPDATE ct_tickets SET status = 'escalated'"))


# region: fix-new-enum-value-used-at-once
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def add_escalated_status(engine: AsyncEngine) -> None:
    # Commit the new value before anything uses it: PostgreSQL refuses it in the transaction
    # that added it. In Alembic: a revision of its own and a later upgrade run for the data.
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TYPE ticket_status ADD VALUE IF NOT EXISTS 'escalated'"))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE ct_tickets SET status = 'escalated'"))


# endregion: fix-new-enum-value-used-at-once


# The accounts table as SQLAlchemy 2.0 created it from Mapped[uuid.UUID]: UUID on PostgreSQL,
# CHAR(32) on MariaDB and SQLite (PinnedUuid renders exactly that on 2.0 and 2.1).
accounts_from_2_0 = Table("err_accounts", MetaData(), Column("id", PinnedUuid, primary_key=True))


class DefaultUuidBase(DeclarativeBase):
    pass


class AccountWithDefaultUuid(DefaultUuidBase):
    __tablename__ = "err_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # Uuid(): native UUID on 2.1


class PinnedUuidBase(DeclarativeBase):
    pass


class AccountWithPinnedUuid(PinnedUuidBase):
    __tablename__ = "err_accounts"

    id: Mapped[uuid.UUID] = mapped_column(PinnedUuid, primary_key=True)


EXISTING_ACCOUNT = uuid.UUID("8ec42f88-a4d6-4595-9174-691419a0aa57")


async def wrong_uuid_lookup_after_upgrade(session: AsyncSession) -> bool:
    return await session.get(AccountWithDefaultUuid, EXISTING_ACCOUNT) is not None


async def wrong_uuid_insert_after_upgrade(session: AsyncSession) -> None:
    session.add(AccountWithDefaultUuid(id=uuid.uuid4()))
    await session.flush()


async def fixed_uuid_after_upgrade(session: AsyncSession) -> bool:
    """The existing account is found and a new one is added (then rolled back)."""
    found = await session.get(AccountWithPinnedUuid, EXISTING_ACCOUNT) is not None
    session.add(AccountWithPinnedUuid(id=uuid.uuid4()))
    await session.flush()
    await session.rollback()
    return found


METADATA = (
    TypesBase.metadata,
    TypesErrorBase.metadata,
    SettingsBase.metadata,
    PaymentBase.metadata,
    subscriptions.metadata,
    accounts_from_2_0.metadata,
)


async def seed(Session: async_sessionmaker[AsyncSession]) -> None:
    """Rows written by others: subscriptions holding enum values, and one account id."""
    async with Session() as session, session.begin():
        await session.execute(insert(subscriptions), [{"plan": "free"}, {"plan": "pro"}])
        await session.execute(insert(accounts_from_2_0).values(id=EXISTING_ACCOUNT))


async def main(url: str) -> None:
    db: Database = await open_database(url, *METADATA)
    S = db.Session
    try:
        await seed(S)
        plain = await new_settings(S, PlainSettings)
        async with S() as session:
            await wrong_json_changed_in_place(session, plain)
        print("wrong_json_changed_in_place: stored", await read_prefs(S, PlainSettings, plain))
        mutable = await new_settings(S, Settings)
        async with S() as session:
            await set_theme(session, mutable, "dark")
            await set_email_notifications(session, mutable, False)
        print("fixed_json_changed_in_place: stored", await read_prefs(S, Settings, mutable))

        async with S() as session:
            report("wrong_float_money", await capture(wrong_float_money(session)))
            report("fixed_float_money", await capture(fixed_float_money(session)))
        async with S() as session:
            raw = "not-a-uuid"
            report("wrong_uuid_from_string", await capture(wrong_uuid_from_string(session, raw)))
        async with S() as session:
            report("fixed_uuid_from_string", await capture(fixed_uuid_from_string(session, raw)))
        async with S() as session:
            by_name = await capture(wrong_enum_names_over_values(session))
            report("wrong_enum_names_over_values", by_name)
            by_value = await capture(fixed_enum_names_over_values(session))
            report("fixed_enum_names_over_values", by_value)
        report(
            "wrong_enum_member_without_migration",
            await capture(wrong_enum_member_without_migration(db.engine)),
        )
        report(
            "fixed_enum_member_without_migration",
            await capture(fixed_enum_member_without_migration(db.engine)),
        )
        if db.dialect == "postgresql":
            used = await capture(wrong_new_enum_value_used_at_once(db.engine))
            report("wrong_new_enum_value_used_at_once", used)
            report("add_escalated_status", await capture(add_escalated_status(db.engine)))
        async with S() as session:
            lookup = await capture(wrong_uuid_lookup_after_upgrade(session))
            report("wrong_uuid_lookup_after_upgrade", lookup)
        async with S() as session:
            inserted = await capture(wrong_uuid_insert_after_upgrade(session))
            report("wrong_uuid_insert_after_upgrade", inserted)
        async with S() as session:
            report("fixed_uuid_after_upgrade", await capture(fixed_uuid_after_upgrade(session)))
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
