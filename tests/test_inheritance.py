"""examples/inheritance.py on every lane: a base-class query leaves subclass columns unloaded
(MissingGreenlet on access), and each way of loading them sends the statements the reference
states (exact counts, subclass attributes read inside the count)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import URL, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, with_polymorphic

from examples import inheritance as m
from examples.errors import Database, capture
from examples.inheritance import (
    BankTransfer,
    CardPayment,
    Employee,
    Engineer,
    Manager,
    Payment,
)
from tests.conftest import Lane
from tests.missing_greenlet import assert_missing_greenlet
from tools.statements import count_statements
from tools.versions import SA21


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Database]:
    async with lane.database_with(*m.METADATA) as database:
        await m.seed(database.Session)
        yield database


def details(employees: Sequence[Employee]) -> list[str]:
    return [m.describe(employee) for employee in employees]


STAFF = [
    "Ada (engineer, Python)",
    "Grace (manager of 3)",
    "Bob (employee)",
    "Linus (engineer, C)",
]


async def read(obj: object, attribute: str) -> object:
    return getattr(obj, attribute)


async def test_base_class_query_leaves_subclass_columns_unloaded(db: Database, lane: Lane) -> None:
    async with db.Session() as session:
        payments = (await session.scalars(select(Payment).order_by(Payment.id))).all()
        card = payments[0]
        assert isinstance(card, CardPayment)  # the right class...
        assert "card_last4" not in card.__dict__  # ...without its own table's columns
        outcome = await capture(read(card, "card_last4"))
    assert_missing_greenlet(
        outcome,
        lane,
        "SELECT card_payments.card_last4 AS card_payments_card_last4 \nFROM card_payments \n"
        "WHERE {param_1} = card_payments.id",
        "[{}]",
    )


class SingleTableBase(DeclarativeBase):
    pass


class Alert(SingleTableBase):
    """Single-table inheritance without polymorphic_load="inline"."""

    __tablename__ = "alerts"
    __mapper_args__ = {"polymorphic_on": "channel", "polymorphic_identity": "alert"}

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))


class PagerAlert(Alert):
    __mapper_args__ = {"polymorphic_identity": "pager"}

    pager: Mapped[str | None] = mapped_column(String(20))


async def test_single_table_without_inline_leaves_subclass_columns_unloaded_too(
    lane: Lane,
) -> None:
    async with (
        lane.database_with(SingleTableBase.metadata) as database,
        database.Session() as session,
    ):
        session.add(PagerAlert(pager="p-1"))
        await session.commit()
        session.expunge_all()
        with count_statements(database.engine) as log:
            alert = (await session.scalars(select(Alert))).one()
        assert "pager" not in log.statements[0]  # the column is in the table, not the SELECT
        outcome = await capture(read(alert, "pager"))
        alert_id = alert.id
    # 2.1 no longer labels the column in this SELECT.
    column = "alerts.pager" if SA21 else "alerts.pager AS alerts_pager"
    assert_missing_greenlet(
        outcome,
        lane,
        f"SELECT {column} \nFROM alerts \n"
        "WHERE alerts.id = {pk_1} AND alerts.channel IN (__[POSTCOMPILE_channel_1])",
        f"[{{'pk_1': {alert_id}}}]",
    )


async def test_querying_the_subclass_loads_its_columns_in_one_statement(db: Database) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            engineers = (await session.scalars(select(Engineer).order_by(Engineer.id))).all()
            assert [e.language for e in engineers] == ["Python", "C"]
    assert log.count == 1


async def test_polymorphic_load_selectin_adds_one_select_per_subclass_present(
    db: Database,
) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            assert details(await m.all_staff(session)) == STAFF
    assert log.count == 3  # employees, engineers, managers
    assert all(" IN (" in statement for statement in log.statements[1:])


@pytest.mark.parametrize(
    ("types", "statements"),
    [(["engineer"], 2), (["employee"], 1), (["engineer", "manager"], 3)],
)
async def test_only_subclasses_in_the_result_cost_a_select(
    db: Database, types: list[str], statements: int
) -> None:
    async with db.Session() as session:
        stmt = select(Employee).where(Employee.type.in_(types)).order_by(Employee.id)
        with count_statements(db.engine) as log:
            employees = (await session.scalars(stmt)).all()
            assert details(employees)  # reads every subclass column
    assert log.count == statements


async def test_polymorphic_load_selectin_covers_session_get(db: Database) -> None:
    async with db.Session() as session:
        ada_id = await session.scalar(select(Employee.id).where(Employee.name == "Ada"))
        assert ada_id is not None
        with count_statements(db.engine) as log:
            ada = await session.get_one(Employee, ada_id)
            assert m.describe(ada) == "Ada (engineer, Python)"
    assert log.count == 2


async def test_polymorphic_load_selectin_covers_relationship_loaders(db: Database) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            departments = await m.departments_with_staff(session)
            assert {d.name: details(d.staff) for d in departments} == {"Research": STAFF}
    assert log.count == 4  # departments, staff, engineers, managers


async def test_polymorphic_load_selectin_covers_joinedload_too(db: Database) -> None:
    async with db.Session() as session:
        stmt = select(m.Department).options(joinedload(m.Department.staff))
        with count_statements(db.engine) as log:
            departments = (await session.scalars(stmt)).unique().all()
            assert {d.name: details(d.staff) for d in departments} == {"Research": STAFF}
    assert log.count == 3  # departments JOIN staff, then engineers, managers


async def test_polymorphic_load_selectin_batches_500_rows_per_select(lane: Lane) -> None:
    async with lane.database_with(m.InheritanceBase.metadata) as database:
        async with database.Session() as session:
            session.add_all(Engineer(name=f"e{n}", language="SQL") for n in range(501))
            await session.commit()
            session.expunge_all()
            with count_statements(database.engine) as log:
                staff = await m.all_staff(session)
                assert {m.describe(e).split(", ")[1] for e in staff} == {"SQL)"}
        assert log.count == 3  # employees, then engineers in IN batches of 500 and 1


async def test_selectin_polymorphic_option(db: Database) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            payments = await m.payments_with_details(session)
            assert [
                p.card_last4 if isinstance(p, CardPayment) else p.iban
                for p in payments
                if isinstance(p, CardPayment | BankTransfer)
            ] == ["4242", "DE89370400440532013000", "1881"]
    assert log.count == 3  # payments, card_payments, bank_transfers


async def test_with_polymorphic_is_one_statement_filtering_on_subclass_columns(
    db: Database,
) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            found = await m.payments_ending_in(session, "3000")
            assert [(type(p).__name__, p.amount_cents) for p in found] == [("BankTransfer", 99900)]
            assert isinstance(found[0], BankTransfer)
            assert found[0].iban == "DE89370400440532013000"
        assert log.count == 1
        assert log.statements[0].count("LEFT OUTER JOIN") == 2
        cards = await m.payments_ending_in(session, "42")
        assert [p.card_last4 for p in cards if isinstance(p, CardPayment)] == ["4242"]


@pytest.mark.parametrize("digits", ["", "abc", "12345", "4_", "%", "٣"])
async def test_with_polymorphic_rejects_bad_digits_before_any_sql(
    db: Database, digits: str
) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log, pytest.raises(ValueError, match="1-4 digits"):
            await m.payments_ending_in(session, digits)
    assert log.count == 0


async def test_with_polymorphic_on_a_selectin_hierarchy_still_runs_the_subclass_selects(
    db: Database,
) -> None:
    async with db.Session() as session:
        everyone = with_polymorphic(Employee, [Engineer, Manager])
        with count_statements(db.engine) as log:
            employees = (await session.scalars(select(everyone).order_by(everyone.id))).all()
            assert details(employees) == STAFF
    assert log.count == 3  # the LEFT OUTER JOIN, then the polymorphic_load selects anyway
    assert "LEFT OUTER JOIN" in log.statements[0]


async def test_single_table_inline_is_one_statement(db: Database) -> None:
    async with db.Session() as session:
        with count_statements(db.engine) as log:
            notifications = await m.all_notifications(session)
            contacts = [m.contact(n) for n in notifications]
    assert contacts == ["ada@example.com", "+15551234"]
    assert log.count == 1


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert f"staff: {STAFF}" in out
    assert f"departments: {{'Research': {STAFF}}}" in out
    assert "select(Payment), then card.card_last4: raised sqlalchemy.exc." in out
    assert "selectin_polymorphic: ['CardPayment', 'BankTransfer', 'CardPayment']" in out
    assert "with_polymorphic: [('BankTransfer', 99900)]" in out
    assert "single table: ['ada@example.com', '+15551234']" in out
