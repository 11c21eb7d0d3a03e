"""examples/deferred.py on every lane: which column and relationship accesses need SQL, which
raise before any, and how many statements each loading pattern sends (exact counts)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import URL, Column, ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    defer,
    deferred,
    load_only,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)

from examples import deferred as d
from examples.deferred import Category, Product
from examples.errors import Database, capture
from examples.models import Post, User
from tests.conftest import Lane
from tests.missing_greenlet import assert_missing_greenlet
from tools.statements import count_statements
from tools.versions import SA21

Seeded = tuple[Database, list[int]]


@pytest.fixture(scope="module")
async def db(lane: Lane) -> AsyncIterator[Seeded]:
    async with lane.database_with(d.CatalogBase.metadata) as database:
        yield database, await d.seed(database.Session)


def deferred_load_sql(column: str) -> str:
    """The SELECT that loading one deferred products column sends (2.1 drops the label)."""
    selected = f"products.{column}" if SA21 else f"products.{column} AS products_{column}"
    return f"SELECT {selected} \nFROM products \nWHERE products.id = {{pk_1}}"


async def read(obj: object, attribute: str) -> object:
    return getattr(obj, attribute)


async def test_deferred_column_is_left_out_and_reading_it_raises_missing_greenlet(
    db: Seeded, lane: Lane
) -> None:
    database, ids = db
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            product = await session.get_one(Product, ids[0])
        assert "description" not in log.statements[0]
        outcome = await capture(read(product, "description"))
    assert_missing_greenlet(
        outcome, lane, deferred_load_sql("description"), f"[{{'pk_1': {ids[0]}}}]"
    )


async def test_load_only_leaves_the_other_columns_to_a_load_on_access(
    db: Seeded, lane: Lane
) -> None:
    database, ids = db
    async with database.Session() as session:
        stmt = select(Product).where(Product.id == ids[0]).options(load_only(Product.name))
        product = (await session.scalars(stmt)).one()
        outcome = await capture(read(product, "category_id"))
    assert_missing_greenlet(
        outcome, lane, deferred_load_sql("category_id"), f"[{{'pk_1': {ids[0]}}}]"
    )


async def test_raiseload_star_does_not_cover_columns(db: Seeded, lane: Lane) -> None:
    """raiseload("*") is for relationships: a deferred column under it still tries SQL."""
    database, ids = db
    async with database.Session() as session:
        stmt = select(Product).where(Product.id == ids[0]).options(raiseload("*"))
        product = (await session.scalars(stmt)).one()
        outcome = await capture(read(product, "description"))
    assert_missing_greenlet(
        outcome, lane, deferred_load_sql("description"), f"[{{'pk_1': {ids[0]}}}]"
    )


async def test_undefer_loads_the_column_in_the_same_statement(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            product = await d.product_page(session, ids[1])
            assert product is not None
            assert product.description == "sharp"
        assert "datasheet" not in product.__dict__  # not undeferred: still unloaded
        assert log.count == 1
        assert await d.product_page(session, 10_000) is None


async def test_load_only_raiseload_names_every_column_left_out(db: Seeded) -> None:
    database, _ = db
    async with database.Session() as session:
        with count_statements(database.engine) as log:
            products = await d.product_names(session)
            assert [p.name for p in products] == ["hammer", "saw", "SQL"]
        assert log.count == 1
        for column in ("description", "datasheet", "category_id"):
            with count_statements(database.engine) as log:
                outcome = await capture(read(products[0], column))
            assert outcome.error is InvalidRequestError
            assert outcome.message == f"'Product.{column}' is not available due to raiseload=True"
            assert log.count == 0


async def test_defer_with_raiseload_raises_the_same_text(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        stmt = (
            select(Product)
            .where(Product.id == ids[0])
            .options(defer(Product.description, raiseload=True))
        )
        product = (await session.scalars(stmt)).one()
        with count_statements(database.engine) as log:
            outcome = await capture(read(product, "description"))
        assert outcome.error is InvalidRequestError
        assert outcome.message == "'Product.description' is not available due to raiseload=True"
        assert log.count == 0


async def test_deferred_raiseload_column_raises_before_any_sql(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        product = await session.get_one(Product, ids[0])
        with count_statements(database.engine) as log:
            outcome = await capture(read(product, "datasheet"))
        assert outcome.error is InvalidRequestError
        assert outcome.message == "'Product.datasheet' is not available due to raiseload=True"
        assert log.count == 0


class OlderSpellingBase(DeclarativeBase):
    pass


class Manual(OlderSpellingBase):
    """``deferred(column, raiseload=True)``: the pre-``mapped_column`` spelling."""

    __tablename__ = "manuals"

    id = Column(Integer, primary_key=True)
    title = Column(String(100))
    body = deferred(Column(Text), raiseload=True)


async def test_deferred_function_with_raiseload_raises_the_same_text(lane: Lane) -> None:
    async with (
        lane.database_with(OlderSpellingBase.metadata) as database,
        database.Session() as session,
    ):
        session.add(Manual(title="Lathe", body="..."))
        await session.commit()
        session.expunge_all()
        manual = (await session.scalars(select(Manual))).one()
        outcome = await capture(read(manual, "body"))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'Manual.body' is not available due to raiseload=True"


async def test_awaitable_attrs_loads_a_deferred_column_with_one_statement(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        product = await session.get_one(Product, ids[0])
        with count_statements(database.engine) as log:
            assert await d.load_description(product) == "steel"
        assert log.count == 1
        with count_statements(database.engine) as log:
            outcome = await capture(product.awaitable_attrs.datasheet)
        assert outcome.error is InvalidRequestError  # raiseload columns refuse it too
        assert outcome.message == "'Product.datasheet' is not available due to raiseload=True"
        assert log.count == 0


async def test_refresh_loads_a_raiseload_column_with_one_statement(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        product = await session.get_one(Product, ids[0])
        with count_statements(database.engine) as log:
            assert await d.load_datasheet(session, product) == "DIN 1041"
        assert log.count == 1


@pytest.mark.parametrize("more", [0, 40])
async def test_raise_on_sql_answers_from_the_identity_map_with_no_sql(
    db: Seeded, more: int
) -> None:
    database, _ = db
    async with database.Session() as session:
        # More products (rolled back with the session): still two statements.
        tools = (await session.scalars(select(Category).where(Category.name == "tools"))).one()
        session.add_all(Product(name=f"tool {n}", category=tools) for n in range(more))
        await session.flush()
        session.expunge_all()
        with count_statements(database.engine) as log:
            grouped = await d.products_by_category(session)
        assert log.count == 2  # the categories, the products; no SELECT per product.category
        assert grouped["books"] == ["SQL"]
        assert sum(len(names) for names in grouped.values()) == 3 + more


async def test_raise_on_sql_raises_when_the_target_is_not_in_the_session(db: Seeded) -> None:
    database, ids = db
    async with database.Session() as session:
        product = await session.get_one(Product, ids[0])
        with count_statements(database.engine) as log:
            outcome = await capture(read(product, "category"))
        assert outcome.error is InvalidRequestError
        assert outcome.message == "'Product.category' is not available due to lazy='raise_on_sql'"
        assert log.count == 0


async def test_raise_on_sql_needs_the_target_still_referenced(db: Seeded) -> None:
    """The identity map holds unchanged objects weakly: an unreferenced category is gone."""
    database, ids = db
    async with database.Session() as session:
        await session.scalars(select(Category))  # loaded, then nothing keeps the objects
        gc.collect()
        product = await session.get_one(Product, ids[0])
        outcome = await capture(read(product, "category"))
        assert outcome.message == "'Product.category' is not available due to lazy='raise_on_sql'"
        categories = (await session.scalars(select(Category))).all()
        assert (await capture(read(product, "category"))).value in categories


async def test_raise_on_sql_reads_the_parent_after_selectinload_of_its_collection(
    db: Seeded,
) -> None:
    database, _ = db
    async with database.Session() as session:
        stmt = select(Category).options(selectinload(Category.products))
        categories = (await session.scalars(stmt)).all()
        with count_statements(database.engine) as log:
            pairs = {(p.category.name, p.name) for c in categories for p in c.products}
        assert log.count == 0
        assert ("books", "SQL") in pairs


class ShelfBase(DeclarativeBase):
    pass


class Shelf(ShelfBase):
    __tablename__ = "shelves"

    id: Mapped[int] = mapped_column(primary_key=True)
    boxes: Mapped[list[Box]] = relationship(lazy="raise_on_sql")


class Box(ShelfBase):
    __tablename__ = "boxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))


async def test_raise_on_sql_on_a_collection_raises_with_its_items_in_the_session(
    lane: Lane,
) -> None:
    """The identity-map shortcut is a primary-key lookup: only a many-to-one has one."""
    async with lane.database_with(ShelfBase.metadata) as database, database.Session() as session:
        session.add(Shelf(id=1, boxes=[Box(id=1), Box(id=2)]))
        await session.commit()
        session.expunge_all()
        shelf = await session.get_one(Shelf, 1)
        boxes = (await session.scalars(select(Box))).all()
        assert len(boxes) == 2
        with count_statements(database.engine) as log:
            outcome = await capture(read(shelf, "boxes"))
        assert outcome.message == "'Shelf.boxes' is not available due to lazy='raise_on_sql'"
        assert log.count == 0


async def test_lazy_raise_refuses_even_an_object_in_the_identity_map(
    session: AsyncSession,
) -> None:
    """The contrast, on SKILL.md's models: Post.author is lazy="raise"."""
    session.add(User(email="ada@example.com", name="Ada", posts=[Post(title="Notes")]))
    await session.flush()
    session.expunge_all()
    users = (await session.scalars(select(User).options(selectinload(User.posts)))).all()
    post = users[0].posts[0]
    assert await session.get(User, users[0].id) is users[0]  # in the identity map
    outcome = await capture(read(post, "author"))
    assert outcome.error is InvalidRequestError
    assert outcome.message == "'Post.author' is not available due to lazy='raise'"


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await d.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "product.description unloaded: raised sqlalchemy.exc." in out
    assert "awaitable_attrs: steel" in out
    assert "refresh: DIN 1041" in out
    assert "undefer: sharp" in out
    assert "'Product.category_id' is not available due to raiseload=True" in out
    assert "raise_on_sql: {'books': ['SQL'], 'tools': ['hammer', 'saw']}" in out
