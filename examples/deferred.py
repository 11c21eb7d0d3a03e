"""Deferred columns and raise loaders under asyncio: every load is named in the query.

A ``deferred`` column (or one a query leaves out with ``load_only()``) is loaded on first
access, which under asyncio is IO without an await: ``MissingGreenlet``. Illustrates
``undefer()`` to load it with the query, ``load_only(..., raiseload=True)`` and
``deferred_raiseload=True`` to turn a forgotten load into an error that names the column,
``awaitable_attrs`` and ``session.refresh()`` to load one column of an object in hand, and
``lazy="raise_on_sql"`` on a many-to-one: unlike ``lazy="raise"`` it returns the related
object when the session already holds it, with no SQL, and raises only when SQL is needed.

Run: python -m examples.deferred
"""

# region: models
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class CatalogBase(AsyncAttrs, DeclarativeBase):
    type_annotation_map = {str: String(100)}


class Category(CatalogBase):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    products: Mapped[list["Product"]] = relationship(
        back_populates="category", lazy="raise", order_by="Product.id"
    )


class Product(CatalogBase):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    # deferred: not in select(Product); a query that needs it says undefer(Product.description).
    description: Mapped[str] = mapped_column(Text, deferred=True, default="")
    # deferred_raiseload: deferred, and reading it unloaded raises, naming the column, instead
    # of trying a load that cannot run without an await (MissingGreenlet).
    datasheet: Mapped[str] = mapped_column(Text, deferred_raiseload=True, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    # raise_on_sql: product.category comes from the session's identity map when that category
    # is already loaded (no SQL); it raises only when answering would need a SELECT.
    category: Mapped[Category] = relationship(back_populates="products", lazy="raise_on_sql")


# endregion: models


# region: undefer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer


async def product_page(session: AsyncSession, product_id: int) -> Product | None:
    # One SELECT that includes the deferred description; the datasheet stays unloaded.
    stmt = select(Product).where(Product.id == product_id).options(undefer(Product.description))
    return (await session.scalars(stmt)).one_or_none()


# endregion: undefer


# region: load_only
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only


async def product_names(session: AsyncSession) -> Sequence[Product]:
    # Only id and name. raiseload=True: reading any other column of these objects raises
    # "'Product.description' is not available due to raiseload=True" before any SQL.
    stmt = select(Product).options(load_only(Product.name, raiseload=True)).order_by(Product.id)
    return (await session.scalars(stmt)).all()


# endregion: load_only


# region: on_demand
from sqlalchemy.ext.asyncio import AsyncSession


async def load_description(product: Product) -> str:
    # A deferred column of an object in hand: AsyncAttrs runs its load as an await (1 SELECT).
    description: str = await product.awaitable_attrs.description
    return description


async def load_datasheet(session: AsyncSession, product: Product) -> str:
    # awaitable_attrs refuses a raiseload column too; refresh() names it and loads it (1 SELECT).
    await session.refresh(product, ["datasheet"])
    return product.datasheet


# endregion: on_demand


# region: raise_on_sql
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def products_by_category(session: AsyncSession) -> dict[str, list[str]]:
    # Categories are a small lookup table: one SELECT loads them all. Keep them referenced:
    # the session holds unchanged objects weakly, and a category that was garbage-collected
    # would need SQL again (raise_on_sql then raises).
    categories = (await session.scalars(select(Category).order_by(Category.name))).all()
    grouped: dict[str, list[str]] = {category.name: [] for category in categories}
    products = (await session.scalars(select(Product).order_by(Product.id))).all()
    for product in products:
        # Found in the identity map by primary key: no SQL, so raise_on_sql allows it.
        # lazy="raise" would raise here although every category is loaded.
        grouped[product.category.name].append(product.name)
    return grouped


# endregion: raise_on_sql


from sqlalchemy.ext.asyncio import async_sessionmaker


async def seed(Session: async_sessionmaker[AsyncSession]) -> list[int]:
    """Two categories, three products with descriptions and datasheets; the product ids."""
    async with Session() as session, session.begin():
        tools, books = Category(name="tools"), Category(name="books")
        products = [
            Product(name="hammer", description="steel", datasheet="DIN 1041", category=tools),
            Product(name="saw", description="sharp", datasheet="ISO 8442", category=tools),
            Product(name="SQL", description="a book", datasheet="ISBN 0", category=books),
        ]
        session.add_all(products)
    return [product.id for product in products]


async def main(url: str) -> None:
    from examples.errors import capture, open_database

    db = await open_database(url, CatalogBase.metadata)
    Session = db.Session
    try:
        ids = await seed(Session)
        async with Session() as session:
            product = await session.get_one(Product, ids[0])

            async def read_description() -> str:
                return product.description  # deferred, not loaded: SQL without await

            print(f"product.description unloaded: {await capture(read_description())}")
            print("awaitable_attrs:", await load_description(product))
            print("refresh:", await load_datasheet(session, product))
        async with Session() as session:
            page = await product_page(session, ids[1])
            print("undefer:", page.description if page else None)
        async with Session() as session:
            names = await product_names(session)

            async def read_category_id() -> int:
                return names[0].category_id

            print("load_only:", [p.name for p in names], await capture(read_category_id()))
        async with Session() as session:
            print("raise_on_sql:", await products_by_category(session))
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
