"""Errors from columns a query did not load: subclass columns, deferred columns, raise loaders.

A query loads what its mapping and options say and nothing more. Reading an unloaded *column*
is implicit IO just like an unloaded relationship: ``MissingGreenlet`` under asyncio, for a
subclass column after a query of the base class and for a ``deferred`` column. The raise
settings turn that into an error that names the attribute, before any SQL: ``raiseload=True``
columns, and ``lazy="raise_on_sql"`` relationships when the object is not already in the
session. Each pair shows the access that fails and the query that loads what it needs.

Run: python -m examples.errors.loading
"""

# Each region carries its own imports so that it can be copied alone.

# region: models
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class FleetBase(DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Depot(FleetBase):
    __tablename__ = "err_depots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Vehicle(FleetBase):
    __tablename__ = "err_vehicles"
    # Joined-table inheritance, without polymorphic_load: a select(Vehicle) loads only
    # this table's columns, also for the Truck rows among the results.
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "vehicle"}

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    plate: Mapped[str] = mapped_column(String(20))
    # deferred: left out of every SELECT unless a query undefers it.
    notes: Mapped[str] = mapped_column(Text, deferred=True, default="")
    # deferred_raiseload: deferred, and reading it unloaded raises instead of loading.
    service_log: Mapped[str] = mapped_column(Text, deferred_raiseload=True, default="")
    depot_id: Mapped[int] = mapped_column(ForeignKey("err_depots.id"))
    # raise_on_sql: answered from the session's identity map when the depot is already
    # loaded; raises when it would need SQL.
    depot: Mapped[Depot] = relationship(lazy="raise_on_sql")


class Truck(Vehicle):
    __tablename__ = "err_trucks"
    __mapper_args__ = {"polymorphic_identity": "truck"}

    id: Mapped[int] = mapped_column(ForeignKey("err_vehicles.id"), primary_key=True)
    payload_kg: Mapped[int]


# endregion: models


from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from examples.errors import Database, open_database, pair


@dataclass(frozen=True)
class Rows:
    depot_id: int
    van_id: int
    truck_id: int


async def seed(Session: async_sessionmaker[AsyncSession]) -> Rows:
    """A depot with a van (a plain Vehicle, with notes and a service log) and a truck."""
    async with Session() as session, session.begin():
        depot = Depot(name="North")
        van = Vehicle(plate="VAN-1", notes="new tyres", service_log="2026-03 brakes", depot=depot)
        truck = Truck(plate="TRK-1", payload_kg=12000, depot=depot)
        session.add_all([van, truck])
    return Rows(depot.id, van.id, truck.id)


async def wrong_subclass_column(session: AsyncSession, truck_id: int) -> int:
    vehicle = (await session.scalars(select(Vehicle).where(Vehicle.id == truck_id))).one()
    assert isinstance(vehicle, Truck)  # the row's kind makes it a Truck...
    return vehicle.payload_kg  # ...but select(Vehicle) did not load err_trucks: MissingGreenlet


# region: fix-subclass-column
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectin_polymorphic


async def fixed_subclass_column(session: AsyncSession, truck_id: int) -> int:
    # Load the subclass columns with the query: one more SELECT per subclass in the result.
    # Better, when you own the models: "polymorphic_load": "selectin" in Truck's
    # __mapper_args__ does this for every query of Vehicle (loading.md, Inheritance).
    stmt = (
        select(Vehicle)
        .where(Vehicle.id == truck_id)
        .options(selectin_polymorphic(Vehicle, [Truck]))
    )
    vehicle = (await session.scalars(stmt)).one()
    assert isinstance(vehicle, Truck)
    return vehicle.payload_kg


# endregion: fix-subclass-column


async def wrong_deferred_column(session: AsyncSession, vehicle_id: int) -> str:
    vehicle = await session.get_one(Vehicle, vehicle_id)
    return vehicle.notes  # deferred: loading it on access is IO without await: MissingGreenlet


# region: fix-deferred-column
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer


async def fixed_deferred_column(session: AsyncSession, vehicle_id: int) -> str:
    # undefer(): this query loads the deferred column with the others, in the same SELECT.
    stmt = select(Vehicle).where(Vehicle.id == vehicle_id).options(undefer(Vehicle.notes))
    vehicle = (await session.scalars(stmt)).one()
    return vehicle.notes


# endregion: fix-deferred-column


async def wrong_raiseload_column(session: AsyncSession, vehicle_id: int) -> str:
    vehicle = await session.get_one(Vehicle, vehicle_id)
    return vehicle.service_log  # deferred_raiseload=True: raises before any SQL


# region: fix-raiseload-column
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer


async def fixed_raiseload_column(session: AsyncSession, vehicle_id: int) -> str:
    # The column said which load was missing: undefer it in the query that needs it.
    stmt = select(Vehicle).where(Vehicle.id == vehicle_id).options(undefer(Vehicle.service_log))
    vehicle = (await session.scalars(stmt)).one()
    return vehicle.service_log


# endregion: fix-raiseload-column


async def wrong_raise_on_sql(session: AsyncSession, vehicle_id: int) -> str:
    vehicle = await session.get_one(Vehicle, vehicle_id)
    return vehicle.depot.name  # the depot is not in this session: loading it needs SQL


# region: fix-raise-on-sql
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload


async def fixed_raise_on_sql(session: AsyncSession, vehicle_id: int) -> str:
    # Load the many-to-one in the query (one SELECT with a JOIN). raise_on_sql also accepts
    # a depot this session already holds, e.g. from an earlier select(Depot).
    stmt = select(Vehicle).where(Vehicle.id == vehicle_id).options(joinedload(Vehicle.depot))
    vehicle = (await session.scalars(stmt)).one()
    return vehicle.depot.name


# endregion: fix-raise-on-sql


async def main(url: str) -> None:
    db: Database = await open_database(url, FleetBase.metadata)
    try:
        rows = await seed(db.Session)
        async with db.Session() as one, db.Session() as two:
            await pair(
                "subclass_column",
                wrong_subclass_column(one, rows.truck_id),
                fixed_subclass_column(two, rows.truck_id),
            )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "deferred_column",
                wrong_deferred_column(one, rows.van_id),
                fixed_deferred_column(two, rows.van_id),
            )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "raiseload_column",
                wrong_raiseload_column(one, rows.van_id),
                fixed_raiseload_column(two, rows.van_id),
            )
        async with db.Session() as one, db.Session() as two:
            await pair(
                "raise_on_sql",
                wrong_raise_on_sql(one, rows.van_id),
                fixed_raise_on_sql(two, rows.van_id),
            )
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
