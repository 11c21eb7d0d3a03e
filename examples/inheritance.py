"""Inheritance under asyncio: load subclass columns with the query, never on attribute access.

A query for the base class (``select(Employee)``) returns ``Engineer`` and ``Manager`` objects,
but by default only the base table's columns are loaded: reading ``engineer.language`` would
run a SELECT inside an attribute access, which raises ``MissingGreenlet`` under asyncio. The
same holds for single-table inheritance, although the columns sit in the same table.

Illustrates the default, ``polymorphic_load="selectin"`` on each joined-table subclass (every
query, ``session.get()`` and relationship loader then fetches subclass columns with one extra
SELECT per subclass present); for a mapping you cannot change, the ``selectin_polymorphic``
option; ``with_polymorphic`` for a query that filters on subclass columns; and
``polymorphic_load="inline"`` for single-table inheritance.

Run: python -m examples.inheritance
"""

# region: models
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class InheritanceBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Department(InheritanceBase):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    staff: Mapped[list["Employee"]] = relationship(lazy="raise", order_by="Employee.id")


class Employee(InheritanceBase):
    """Joined-table inheritance: each subclass has its own table, joined on the primary key."""

    __tablename__ = "employees"
    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "employee"}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    type: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class Engineer(Employee):
    __tablename__ = "engineers"
    # polymorphic_load="selectin": whenever Employee rows come back, the engineers among them
    # get their columns from one more SELECT ... WHERE id IN (...), run with the query's await.
    # Without it, engineer.language stays unloaded and reading it raises MissingGreenlet.
    __mapper_args__ = {"polymorphic_identity": "engineer", "polymorphic_load": "selectin"}

    id: Mapped[int] = mapped_column(ForeignKey("employees.id"), primary_key=True)
    language: Mapped[str]


class Manager(Employee):
    __tablename__ = "managers"
    __mapper_args__ = {"polymorphic_identity": "manager", "polymorphic_load": "selectin"}

    id: Mapped[int] = mapped_column(ForeignKey("employees.id"), primary_key=True)
    reports: Mapped[int]


# endregion: models


# region: staff
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload


async def all_staff(session: AsyncSession) -> Sequence[Employee]:
    # 1 SELECT for the employees, then 1 per subclass present in the result (engineers,
    # managers): 3 statements, every engineer.language and manager.reports loaded.
    stmt = select(Employee).order_by(Employee.id)
    return (await session.scalars(stmt)).all()


async def departments_with_staff(session: AsyncSession) -> Sequence[Department]:
    # Relationship loaders honour polymorphic_load too: departments, their staff, then
    # engineers and managers (4 statements), with no option naming the subclasses.
    stmt = select(Department).options(selectinload(Department.staff)).order_by(Department.id)
    return (await session.scalars(stmt)).all()


# endregion: staff


# region: legacy_models
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class PaymentsBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Payment(PaymentsBase):
    """A mapping you cannot change: joined inheritance without polymorphic_load."""

    __tablename__ = "payments"
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "payment"}

    id: Mapped[int] = mapped_column(primary_key=True)
    amount_cents: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))


class CardPayment(Payment):
    __tablename__ = "card_payments"
    __mapper_args__ = {"polymorphic_identity": "card"}

    id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    card_last4: Mapped[str] = mapped_column(String(4))


class BankTransfer(Payment):
    __tablename__ = "bank_transfers"
    __mapper_args__ = {"polymorphic_identity": "bank"}

    id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    iban: Mapped[str] = mapped_column(String(34))


# endregion: legacy_models


# region: selectin_polymorphic
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectin_polymorphic


async def payments_with_details(session: AsyncSession) -> Sequence[Payment]:
    # The per-query form of polymorphic_load="selectin": 1 SELECT for the payments, then
    # 1 per listed subclass present in the result. Every query of Payment needs it.
    stmt = (
        select(Payment)
        .options(selectin_polymorphic(Payment, [CardPayment, BankTransfer]))
        .order_by(Payment.id)
    )
    return (await session.scalars(stmt)).all()


# endregion: selectin_polymorphic


# region: with_polymorphic
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import with_polymorphic


async def payments_ending_in(session: AsyncSession, digits: str) -> Sequence[Payment]:
    """Card payments and bank transfers whose card or account number ends with ``digits``."""
    if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 4):
        raise ValueError("digits must be 1-4 digits")
    # with_polymorphic: one SELECT with a LEFT OUTER JOIN per subclass table, so the WHERE
    # clause can use subclass columns, and every subclass column comes back in that row.
    every = with_polymorphic(Payment, [CardPayment, BankTransfer])
    stmt = (
        select(every)
        .where(
            or_(
                every.CardPayment.card_last4.endswith(digits),
                every.BankTransfer.iban.endswith(digits),
            )
        )
        .order_by(every.id)
    )
    return (await session.scalars(stmt)).all()


# endregion: with_polymorphic


# region: single_table
from collections.abc import Sequence

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class NotificationsBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Notification(NotificationsBase):
    """Single-table inheritance: one table holds every subclass's columns (nullable)."""

    __tablename__ = "notifications"
    __mapper_args__ = {"polymorphic_on": "channel", "polymorphic_identity": "notification"}

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str]


class EmailNotification(Notification):
    # "inline": select(Notification) lists this subclass's columns too. Without it they are
    # left out of the SELECT, and reading one raises MissingGreenlet like joined inheritance.
    __mapper_args__ = {"polymorphic_identity": "email", "polymorphic_load": "inline"}

    address: Mapped[str | None]


class SmsNotification(Notification):
    __mapper_args__ = {"polymorphic_identity": "sms", "polymorphic_load": "inline"}

    phone: Mapped[str | None] = mapped_column(String(20))


async def all_notifications(session: AsyncSession) -> Sequence[Notification]:
    # One SELECT, every subclass column included.
    return (await session.scalars(select(Notification).order_by(Notification.id))).all()


# endregion: single_table


from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import async_sessionmaker

METADATA: tuple[MetaData, ...] = (
    InheritanceBase.metadata,
    PaymentsBase.metadata,
    NotificationsBase.metadata,
)


async def seed(Session: async_sessionmaker[AsyncSession]) -> None:
    """Two engineers, a manager and a plain employee in one department; three payments
    (two by card, one by transfer); an email and an SMS notification."""
    async with Session() as session, session.begin():
        research = Department(name="Research")
        session.add(research)
        await session.flush()
        session.add_all(
            [
                Engineer(name="Ada", language="Python", department_id=research.id),
                Manager(name="Grace", reports=3, department_id=research.id),
                Employee(name="Bob", department_id=research.id),
                Engineer(name="Linus", language="C", department_id=research.id),
                CardPayment(amount_cents=1250, card_last4="4242"),
                BankTransfer(amount_cents=99900, iban="DE89370400440532013000"),
                CardPayment(amount_cents=500, card_last4="1881"),
                EmailNotification(text="Welcome", address="ada@example.com"),
                SmsNotification(text="Code 1234", phone="+15551234"),
            ]
        )


def contact(notification: Notification) -> str | None:
    """Where a notification goes: a subclass column, loaded by the base-class query."""
    if isinstance(notification, EmailNotification):
        return notification.address
    if isinstance(notification, SmsNotification):
        return notification.phone
    return None


def describe(employee: Employee) -> str:
    """A line per employee that reads the subclass columns: no IO, they are loaded."""
    if isinstance(employee, Engineer):
        return f"{employee.name} (engineer, {employee.language})"
    if isinstance(employee, Manager):
        return f"{employee.name} (manager of {employee.reports})"
    return f"{employee.name} (employee)"


async def main(url: str) -> None:
    from examples.errors import capture, open_database

    db = await open_database(url, *METADATA)
    Session = db.Session
    try:
        await seed(Session)
        async with Session() as session:
            print("staff:", [describe(e) for e in await all_staff(session)])
        async with Session() as session:
            departments = await departments_with_staff(session)
            print("departments:", {d.name: [describe(e) for e in d.staff] for d in departments})
        async with Session() as session:
            card = (await session.scalars(select(Payment).order_by(Payment.id))).first()

            async def read_last4() -> str:
                assert isinstance(card, CardPayment)
                return card.card_last4  # not loaded by select(Payment): SQL without await

            print(f"select(Payment), then card.card_last4: {await capture(read_last4())}")
        async with Session() as session:
            payments = await payments_with_details(session)
            print("selectin_polymorphic:", [type(p).__name__ for p in payments])
        async with Session() as session:
            found = await payments_ending_in(session, "3000")
            print("with_polymorphic:", [(type(p).__name__, p.amount_cents) for p in found])
        async with Session() as session:
            contacts = [contact(n) for n in await all_notifications(session)]
            print("single table:", contacts)
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
