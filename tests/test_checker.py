"""scripts/check_async_sqlalchemy.py: each rule on small programs (the mistake, and the correct
code next to it), the command line as an assistant runs it, and the links it prints.

The checker on this project's examples is tested in test_checker_examples.py, on real packages
from PyPI in test_checker_corpus.py. None of these tests needs a database.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import check_async_sqlalchemy as checker
import pytest

from tools.snippets import ROOT

SCRIPT = ROOT / "scripts" / "check_async_sqlalchemy.py"

HEADER = """
import asyncio
from sqlalchemy import JSON, ForeignKey, String, Text, event, func, insert, select, text, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
)
from sqlalchemy.orm import (
    DeclarativeBase, Mapped, mapped_column, relationship, selectinload, undefer
)
from sqlalchemy.orm.attributes import flag_modified


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    balance: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[int] = mapped_column(server_default=func.now())
    posts: Mapped[list["Post"]] = relationship(back_populates="author", lazy="raise")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    author: Mapped[User] = relationship(back_populates="posts")
    body: Mapped[str] = mapped_column(Text, deferred=True)
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
"""


def codes(source: str) -> list[str]:
    """The rule codes found in ``source`` (after the shared models), in order."""
    program = HEADER + textwrap.dedent(source)
    findings, errors = checker.check_sources({"snippet.py": program})
    assert not errors, errors
    return [finding.code for finding in findings]


# (rule, wrong code, right code): the rule flags the first and not the second.
CASES: list[tuple[str, str, str]] = [
    (
        "SQA101",
        """
        async def f(session: AsyncSession, ids: list[int]) -> None:
            await asyncio.gather(*(session.get(User, i) for i in ids))
        """,
        """
        async def f(Session: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
            async def one(i: int) -> None:
                async with Session() as session:
                    await session.get(User, i)
            await asyncio.gather(*(one(i) for i in ids))
        """,
    ),
    (
        "SQA102",
        """
        engine = create_async_engine("sqlite+aiosqlite://")
        async def ping() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        def main() -> None:
            asyncio.run(ping())
            asyncio.run(ping())
        """,
        """
        async def ping() -> None:
            engine = create_async_engine("sqlite+aiosqlite://")
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            await engine.dispose()
        def main() -> None:
            asyncio.run(ping())
            asyncio.run(ping())
        """,
    ),
    (
        "SQA103",
        """
        from fastapi import APIRouter
        router = APIRouter()
        @router.get("/users")
        async def users(url: str) -> list[str]:
            engine = create_async_engine(url)
            async with AsyncSession(engine) as session:
                return list(await session.scalars(select(User.name)))
        """,
        """
        async def count(url: str) -> int:
            engine = create_async_engine(url)
            try:
                async with AsyncSession(engine) as session:
                    return len(list(await session.scalars(select(User.id))))
            finally:
                await engine.dispose()
        """,
    ),
    (
        "SQA104",
        """
        import httpx
        async def f(Session: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> None:
            async with Session() as session, session.begin():
                user = await session.get(User, 1)
                await client.post("https://example.com/hook", json={"id": 1})
        """,
        """
        import httpx
        async def f(Session: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> None:
            await client.post("https://example.com/hook", json={"id": 1})
            async with Session() as session, session.begin():
                await session.get(User, 1)
        """,
    ),
    (
        "SQA106",
        """
        async def f(session: AsyncSession, user: User) -> None:
            session.add(user)
            session.commit()
        """,
        """
        async def f(session: AsyncSession, user: User) -> None:
            session.add(user)
            await session.commit()
        """,
    ),
    (
        "SQA202",
        """
        Session = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))
        async def f() -> str:
            async with Session() as session:
                user = User(name="Ada")
                session.add(user)
                await session.commit()
                return user.name
        """,
        """
        Session = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))
        async def f() -> str:
            async with Session() as session:
                user = User(name="Ada")
                session.add(user)
                await session.commit()
                await session.refresh(user)
                return user.name
        """,
    ),
    (
        "SQA201",
        """
        async def f(session: AsyncSession) -> list[int]:
            user = await session.scalar(select(User).where(User.id == 1))
            return [p.id for p in user.posts]
        """,
        """
        async def f(session: AsyncSession) -> list[int]:
            stmt = select(User).where(User.id == 1).options(selectinload(User.posts))
            user = await session.scalar(stmt)
            return [p.id for p in user.posts]
        """,
    ),
    (
        "SQA201",
        """
        async def f(session: AsyncSession) -> str:
            post = await session.get_one(Post, 1)
            return post.body
        """,
        """
        async def f(session: AsyncSession) -> str:
            post = await session.get_one(Post, 1, options=[undefer(Post.body)])
            return post.body
        """,
    ),
    (
        "SQA310",
        """
        async def tag(session: AsyncSession, post_id: int) -> None:
            post = await session.get_one(Post, post_id)
            post.meta["reviewed"] = "yes"
            await session.commit()
        """,
        """
        async def tag(session: AsyncSession, post_id: int) -> None:
            post = await session.get_one(Post, post_id)
            post.meta["reviewed"] = "yes"
            flag_modified(post, "meta")
            await session.commit()
        """,
    ),
    (
        "SQA301",
        """
        async def f(session: AsyncSession) -> None:
            async with session.begin():
                session.add(User(name="Ada"))
                await session.commit()
        """,
        """
        async def f(session: AsyncSession) -> None:
            async with session.begin():
                session.add(User(name="Ada"))
                await session.flush()
        """,
    ),
    (
        "SQA309",
        """
        async def deposit(session: AsyncSession, user_id: int, amount: int) -> None:
            user = await session.get_one(User, user_id)
            user.balance = user.balance + amount
            await session.commit()
        """,
        """
        async def deposit(session: AsyncSession, user_id: int, amount: int) -> None:
            user = await session.get_one(User, user_id, with_for_update=True)
            user.balance += amount
            await session.commit()
        """,
    ),
    (
        "SQA406",
        """
        engine = create_async_engine("postgresql+asyncpg://db/app")
        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection: object, record: object) -> None:
            pass
        """,
        """
        engine = create_async_engine("postgresql+asyncpg://db/app")
        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: object, record: object) -> None:
            pass
        """,
    ),
    (
        "SQA407",
        """
        engine = create_async_engine("postgresql://scott:tiger@db/app")
        """,
        """
        engine = create_async_engine("postgresql+asyncpg://scott:tiger@db/app")
        """,
    ),
    (
        "SQA408",
        """
        from sqlalchemy import create_engine
        engine = create_engine("sqlite+aiosqlite:///app.db")
        """,
        """
        from sqlalchemy import create_engine
        engine = create_engine("sqlite:///app.db")
        """,
    ),
    (
        "SQA501",
        """
        async def find(session: AsyncSession, name: str) -> list[int]:
            rows = await session.execute(text(f"SELECT id FROM users WHERE name = '{name}'"))
            return [row.id for row in rows]
        """,
        """
        async def find(session: AsyncSession, name: str, table: str) -> list[int]:
            rows = await session.execute(
                text(f"SELECT id FROM {table} WHERE name = :name"), {"name": name}
            )
            return [row.id for row in rows]
        """,
    ),
    (
        "SQA502",
        """
        async def search(session: AsyncSession, q: str) -> list[str]:
            return list(await session.scalars(select(User.name).where(User.name.contains(q))))
        """,
        """
        async def search(session: AsyncSession, q: str) -> list[str]:
            stmt = select(User.name).where(User.name.contains(q, autoescape=True))
            return list(await session.scalars(stmt))
        """,
    ),
    (
        "SQA503",
        """
        async def page(session: AsyncSession, n: int) -> list[User]:
            stmt = select(User).order_by(User.name).offset(n * 10).limit(10)
            return list(await session.scalars(stmt))
        """,
        """
        async def page(session: AsyncSession, n: int) -> list[User]:
            stmt = select(User).order_by(User.name, User.id).offset(n * 10).limit(10)
            return list(await session.scalars(stmt))
        """,
    ),
    (
        "SQA505",
        """
        async def load(session: AsyncSession, rows: list[dict[str, str]]) -> None:
            await session.execute(insert(User), rows)
        """,
        """
        async def load(session: AsyncSession, rows: list[dict[str, str]]) -> None:
            if rows:
                await session.execute(insert(User), rows)
        """,
    ),
    (
        "SQA506",
        """
        async def rename(session: AsyncSession, names: dict[int, str], ids: list[int]) -> None:
            for user_id in ids:
                await session.execute(update(User).where(User.id == user_id).values(name="x"))
        """,
        """
        async def rename(session: AsyncSession, ids: list[int]) -> None:
            await session.execute(update(User).where(User.id.in_(ids)).values(name="x"))
        """,
    ),
    (
        "SQA206",
        """
        async def posts(session: AsyncSession) -> int:
            user = await session.scalar(select(User).where(User.name == "Ada"))
            again = await session.get(User, user.id, options=[selectinload(User.posts)])
            return len(again.posts)
        """,
        """
        async def posts(session: AsyncSession) -> int:
            user = await session.scalar(select(User).where(User.name == "Ada"))
            again = await session.get(
                User, user.id, options=[selectinload(User.posts)], populate_existing=True
            )
            return len(again.posts)
        """,
    ),
    (
        "SQA310",  # MutableDict sees meta["k"] = v, not a change inside a nested value
        """
        from sqlalchemy.ext.mutable import MutableDict
        class Prefs(Base):
            __tablename__ = "prefs"
            id: Mapped[int] = mapped_column(primary_key=True)
            data: Mapped[dict[str, dict[str, bool]]] = mapped_column(MutableDict.as_mutable(JSON))
        async def mute(session: AsyncSession, prefs_id: int) -> None:
            prefs = await session.get_one(Prefs, prefs_id)
            prefs.data["notify"]["email"] = False
            await session.commit()
        """,
        """
        from sqlalchemy.ext.mutable import MutableDict
        class Prefs(Base):
            __tablename__ = "prefs"
            id: Mapped[int] = mapped_column(primary_key=True)
            data: Mapped[dict[str, dict[str, bool]]] = mapped_column(MutableDict.as_mutable(JSON))
        async def mute(session: AsyncSession, prefs_id: int) -> None:
            prefs = await session.get_one(Prefs, prefs_id)
            prefs.data["muted"] = {"email": True}
            prefs.data.setdefault("notify", {})["email"] = False
            flag_modified(prefs, "data")
            await session.commit()
        """,
    ),
    (
        "SQA311",
        """
        async def escalate(engine: AsyncEngine) -> None:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TYPE status ADD VALUE 'escalated'"))
                await conn.execute(text("UPDATE tickets SET status = 'escalated'"))
        """,
        """
        async def escalate(engine: AsyncEngine) -> None:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TYPE status ADD VALUE 'escalated'"))
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE tickets SET status = 'escalated'"))
        """,
    ),
    (
        "SQA312",
        """
        async def lock(session: AsyncSession) -> list[User]:
            stmt = select(Post).options(selectinload(Post.author)).with_for_update()
            stmt = stmt.outerjoin(User, Post.author_id == User.id)
            return list(await session.scalars(stmt))
        """,
        """
        async def lock(session: AsyncSession) -> list[User]:
            stmt = select(Post).options(selectinload(Post.author)).with_for_update(of=Post)
            stmt = stmt.outerjoin(User, Post.author_id == User.id)
            return list(await session.scalars(stmt))
        """,
    ),
    (
        "SQA312",  # a lazy="joined" relationship is an outer join in every query of the class
        """
        class Ticket(Base):
            __tablename__ = "tickets"
            id: Mapped[int] = mapped_column(primary_key=True)
            owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
            owner: Mapped[User | None] = relationship(lazy="joined")
        async def claim(session: AsyncSession) -> Ticket | None:
            return await session.scalar(select(Ticket).limit(1).with_for_update(skip_locked=True))
        """,
        """
        class Ticket(Base):
            __tablename__ = "tickets"
            id: Mapped[int] = mapped_column(primary_key=True)
            owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
            owner: Mapped[User] = relationship(lazy="joined", innerjoin=True)
        async def claim(session: AsyncSession) -> Ticket | None:
            return await session.scalar(select(Ticket).limit(1).with_for_update(skip_locked=True))
        """,
    ),
    (
        "SQA410",
        """
        engine = create_async_engine("postgresql+asyncpg://db/app")
        @event.listens_for(engine.sync_engine, "connect")
        async def on_connect(dbapi_connection: object, record: object) -> None:
            pass
        """,
        """
        engine = create_async_engine("postgresql+asyncpg://db/app")
        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: object, record: object) -> None:
            pass
        """,
    ),
    (
        "SQA410",
        """
        async def setup(engine: AsyncEngine) -> None:
            async def create(conn: object) -> None:
                Base.metadata.create_all(conn)
            async with engine.begin() as conn:
                await conn.run_sync(create)
        """,
        """
        async def setup(engine: AsyncEngine) -> None:
            def create(conn: object) -> None:
                Base.metadata.create_all(conn)
            async with engine.begin() as conn:
                await conn.run_sync(create)
        """,
    ),
    (
        "SQA411",
        """
        from sqlalchemy.pool import NullPool
        engine = create_async_engine("sqlite+aiosqlite:///:memory:", poolclass=NullPool)
        """,
        """
        from sqlalchemy.pool import StaticPool
        engine = create_async_engine("sqlite+aiosqlite:///:memory:", poolclass=StaticPool)
        """,
    ),
    (
        "SQA412",
        """
        from sqlalchemy.pool import NullPool
        def make(url: str) -> AsyncEngine:
            return create_async_engine(url, poolclass=NullPool, pool_size=10)
        """,
        """
        def make(url: str) -> AsyncEngine:
            return create_async_engine(url, pool_size=10)
        """,
    ),
    (
        "SQA413",
        """
        engine = create_async_engine("sqlite+aiosqlite:///file:t?mode=memory&cache=shared&uri=true")
        """,
        """
        from sqlalchemy.pool import AsyncAdaptedQueuePool
        engine = create_async_engine(
            "sqlite+aiosqlite:///file:t?mode=memory&cache=shared&uri=true",
            poolclass=AsyncAdaptedQueuePool,
        )
        """,
    ),
    (
        "SQA414",
        """
        engine = create_async_engine("postgresql+asyncpg://app@db.pooler.supabase.com:6543/app")
        """,
        """
        engine = create_async_engine(
            "postgresql+asyncpg://app@db.pooler.supabase.com:6543/app",
            connect_args={"statement_cache_size": 0, "prepared_statement_cache_size": 0},
        )
        """,
    ),
    (
        "SQA414",
        """
        engine = create_async_engine(
            "postgresql+psycopg://app@pgbouncer/app",
            connect_args={"prepare_threshold": None, "options": "-c statement_timeout=5000"},
        )
        """,
        """
        engine = create_async_engine(
            "postgresql+psycopg://app@pgbouncer/app", connect_args={"prepare_threshold": None}
        )
        """,
    ),
    (
        "SQA415",
        """
        engine = create_async_engine(
            "postgresql+psycopg://app@db/app",
            connect_args={"server_settings": {"statement_timeout": "30000"}},
        )
        """,
        """
        engine = create_async_engine(
            "postgresql+psycopg://app@db/app",
            connect_args={"options": "-c statement_timeout=30000"},
        )
        """,
    ),
    (
        "SQA507",
        """
        import uuid
        class Invoice(Base):
            __tablename__ = "invoices"
            id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
        async def invoice(session: AsyncSession, raw_id: str) -> Invoice | None:
            return await session.get(Invoice, raw_id)
        """,
        """
        import uuid
        class Invoice(Base):
            __tablename__ = "invoices"
            id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
        async def invoice(session: AsyncSession, raw_id: str) -> Invoice | None:
            return await session.get(Invoice, uuid.UUID(raw_id))
        """,
    ),
    (
        "SQA605",
        """
        class Shelf(Base):
            __tablename__ = "shelves"
            id: Mapped[int] = mapped_column(primary_key=True)
            books: Mapped[list["Book"]] = relationship(cascade="all, delete-orphan")
        async def reload(session: AsyncSession, shelf: Shelf) -> None:
            await session.refresh(shelf)
        """,
        """
        class Shelf(Base):
            __tablename__ = "shelves"
            id: Mapped[int] = mapped_column(primary_key=True)
            books: Mapped[list["Book"]] = relationship(
                cascade="save-update, merge, expunge, delete, delete-orphan"
            )
        async def reload(session: AsyncSession, shelf: Shelf) -> None:
            await session.refresh(shelf)
        """,
    ),
    (
        "SQA606",
        """
        class Order(Base):
            __tablename__ = "orders"
            id: Mapped[int] = mapped_column(primary_key=True)
            unit_price: Mapped[float]
            tax_rate: Mapped[float]
        """,
        """
        from decimal import Decimal
        from sqlalchemy import Numeric
        class Order(Base):
            __tablename__ = "orders"
            id: Mapped[int] = mapped_column(primary_key=True)
            unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
            tax_rate: Mapped[float]
        """,
    ),
]


@pytest.mark.parametrize(
    ("rule", "wrong", "right"), CASES, ids=[f"{case[0]}-{n}" for n, case in enumerate(CASES)]
)
def test_rule_flags_the_mistake_and_not_the_fix(rule: str, wrong: str, right: str) -> None:
    assert codes(wrong) == [rule]
    assert codes(right) == []


def test_every_rule_is_exercised_by_a_test() -> None:
    """A rule without a test here is tested on examples/errors (test_checker_examples.py)."""
    import tomllib

    patterns = tomllib.loads((ROOT / "tests" / "checker" / "error_patterns.toml").read_text())
    on_examples = {code for rules in patterns["detected"].values() for code in rules}
    on_examples |= {code for entry in patterns["detected_at"].values() for code in entry["rules"]}
    here = {case[0] for case in CASES}
    assert set(checker.RULES) <= on_examples | here, set(checker.RULES) - on_examples - here


def test_noqa_silences_only_the_named_rule() -> None:
    wrong = """
    async def f(session: AsyncSession, user: User) -> None:
        session.commit()  # noqa: {codes}
    """
    assert codes(wrong.format(codes="SQA106")) == []
    assert codes(wrong.format(codes="SQA101, SQA106")) == []
    assert codes(wrong.format(codes="SQA101")) == ["SQA106"]
    assert codes(wrong.replace("  # noqa: {codes}", "  # noqa")) == ["SQA106"]


def test_session_of_unknown_origin_is_left_alone() -> None:
    """A relationship read on an object that came from elsewhere: nothing to go on, no finding."""
    assert (
        codes(
            """
            async def f(user: User) -> int:
                return len(user.posts)
            """
        )
        == []
    )


def test_the_relationship_heuristic_respects_eager_loading_in_the_model() -> None:
    assert codes(
        """
            async def f(session: AsyncSession) -> int:
                post = await session.get_one(Post, 1)
                return post.author.id
            """
    ) == ["SQA201"]
    assert (
        codes(
            """
            async def f(session: AsyncSession) -> int:
                post = await session.get_one(Post, 1)
                try:
                    return post.author.id
                except InvalidRequestError:
                    return 0
            """
        )
        == []
    )


def test_cascade_all_is_flagged_only_where_async_code_refreshes() -> None:
    """refresh-expire acts on refresh()/expire(): without them, or in sync code, "all" is
    harmless; a class defined in a function is used by that function only."""
    mapping = """
    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
    class Base(DeclarativeBase):
        pass
    class Shelf(Base):
        __tablename__ = "shelves"
        id: Mapped[int] = mapped_column(primary_key=True)
        books: Mapped[list["Book"]] = relationship(cascade="all")
    class Book(Base):
        __tablename__ = "books"
        id: Mapped[int] = mapped_column(primary_key=True)
        shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))
    """
    uses = """
    from sqlalchemy.ext.asyncio import AsyncSession
    from models import Shelf
    async def reload(session: AsyncSession, shelf: Shelf) -> None:
        await session.{method}(shelf)
    """

    def found(sources: dict[str, str]) -> list[str]:
        findings, errors = checker.check_sources(
            {path: textwrap.dedent(text) for path, text in sources.items()}
        )
        assert not errors, errors
        return [finding.code for finding in findings]

    assert found({"models.py": mapping, "app.py": uses.format(method="refresh")}) == ["SQA605"]
    assert found({"models.py": mapping, "app.py": uses.format(method="expire")}) == ["SQA605"]
    assert found({"models.py": mapping, "app.py": uses.format(method="flush")}) == []
    assert found({"models.py": mapping}) == []  # no asyncio extension in the run
    sync_script = "from sqlalchemy.orm import Session\n" + textwrap.dedent(mapping)
    assert found({"models.py": sync_script, "app.py": uses.format(method="refresh")}) == []
    in_sync_test = "from sqlalchemy.ext.asyncio import AsyncSession\ndef test_sync(session):\n"
    in_sync_test += textwrap.indent(textwrap.dedent(mapping), "    ")
    in_sync_test += "    session.refresh(Shelf())\n"
    assert found({"test_sync.py": in_sync_test}) == []


def test_one_in_memory_engine_per_branch_is_not_a_second_engine() -> None:
    """SQA411 counts engines on one in-memory URL that can exist together in a function, not
    alternatives, and not module-level engines (separate databases on purpose: shards)."""
    alternatives = """
    def make(fast: bool) -> AsyncEngine:
        if fast:
            return create_async_engine("sqlite+aiosqlite://")
        return create_async_engine("sqlite+aiosqlite://", echo=True)
    """
    together = """
    async def count_users() -> int:
        fixture_engine = create_async_engine("sqlite+aiosqlite://")
        app_engine = create_async_engine("sqlite+aiosqlite://")
        try:
            async with fixture_engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            async with AsyncSession(app_engine) as session:
                return len((await session.scalars(select(User.id))).all())  # no such table
        finally:
            await fixture_engine.dispose()
            await app_engine.dispose()
    """
    shards = """
    north = create_async_engine("sqlite+aiosqlite://")
    south = create_async_engine("sqlite+aiosqlite://")
    """
    assert codes(alternatives) == []
    assert codes(shards) == []
    assert codes(together) == ["SQA411"]


def test_money_names_and_float_types() -> None:
    """SQA606 reads the column's name: amounts and prices, not rates or percentages."""
    assert checker._money_name("amount")
    assert checker._money_name("unit_price")
    assert checker._money_name("totalCost")
    assert not checker._money_name("tax_rate")
    assert not checker._money_name("discount_pct")
    assert not checker._money_name("latitude")
    model = """
    from sqlalchemy import Float, Numeric
    class Payment(Base):
        __tablename__ = "payments"
        id: Mapped[int] = mapped_column(primary_key=True)
        amount: Mapped[float] = mapped_column({type_})
    """
    assert codes(model.format(type_="Float")) == ["SQA606"]
    assert codes(model.format(type_="Numeric(12, 2)")) == []


# ------------------------------------------------------------------------------ the command


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The script as an assistant runs it: its own interpreter, isolated (-I) and without
    site-packages (-S), so only the standard library is importable."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        check=False,
    )


def test_prints_file_line_col_rule_message_fix_and_reference(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n\n\n"
        "async def save(session: AsyncSession) -> None:\n"
        "    session.commit()\n"
    )
    result = run(str(app), cwd=tmp_path.parent)  # any working directory
    assert result.returncode == 1, result.stderr
    line = result.stdout.strip()
    rule = checker.RULES["SQA106"]
    assert line == (
        f"{app}:5:5 SQA106 {rule.message}: session.commit() ({rule.fix}; {rule.reference})"
    )


def test_exit_status_zero_when_clean_and_folders_are_walked(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.py").write_text("x = 1\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bad.py").write_text(
        "async def f(session: 'AsyncSession'):\n    session.commit()\n"
    )
    result = run(str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_json_output(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n\n\n"
        "async def q(session: AsyncSession) -> object:\n"
        "    return session.query(object).all()\n"
    )
    result = run("--json", str(app))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["errors"] == []
    (finding,) = data["findings"]
    assert finding["code"] == "SQA401"
    assert finding["line"] == 5
    assert finding["reference"] == checker.RULES["SQA401"].reference
    assert set(finding) >= {"path", "col", "name", "message", "fix", "heuristic"}


def test_bad_input_is_reported_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    good = tmp_path / "good.py"
    good.write_text("x = 1\n")
    result = run(str(tmp_path / "broken.py"), str(good), str(tmp_path / "missing.py"))
    assert result.returncode == 2
    assert "broken.py:1: cannot parse" in result.stderr
    assert "missing.py: no such file or directory" in result.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("async def f(session: 'AsyncSession'):\n    session.commit()\n")
    result = run(str(tmp_path / "broken.py"), str(bad))
    assert result.returncode == 1  # findings win over errors, and both are printed
    assert "SQA106" in result.stdout
    assert "cannot parse" in result.stderr


def test_help_lists_every_rule_and_select_rejects_unknown_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    for rule in checker.RULES.values():
        assert f"{rule.code} {rule.name}: {rule.message}" in result.stdout
        assert rule.reference in result.stdout
    bad = run("--select", "SQA999", ".")
    assert bad.returncode == 2
    assert "unknown rule(s) SQA999" in bad.stderr


def test_the_script_imports_only_the_standard_library() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names


# ---------------------------------------------------------------------------- the references


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub generates for the headings of a markdown file (not in code fences):
    lowercased, punctuation dropped, spaces to hyphens, repeats numbered -1, -2..."""
    anchors: set[str] = set()
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        match = re.match(r"#{1,6} (.+)", line)
        if in_fence or not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def test_github_anchor_rules() -> None:
    text = "# Can't operate (here)\n## `yield` twice\n## `yield` twice\n```\n# not a heading\n```\n"
    assert github_anchors(text) == {"cant-operate-here", "yield-twice", "yield-twice-1"}


@pytest.mark.parametrize("code", sorted(checker.RULES))
def test_every_reference_a_rule_prints_resolves_to_a_heading(code: str) -> None:
    path, _, anchor = checker.RULES[code].reference.partition("#")
    document = ROOT / path
    assert document.is_file(), f"{code}: {path} does not exist"
    assert anchor in github_anchors(document.read_text()), f"{code}: no heading #{anchor} in {path}"


def test_skill_md_tells_the_assistant_to_run_the_checker() -> None:
    skill = (ROOT / "SKILL.md").read_text()
    paragraphs = [" ".join(p.split()) for p in skill.split("\n\n")]
    found = [p for p in paragraphs if "scripts/check_async_sqlalchemy.py" in p]
    assert len(found) == 1, found
    assert "After writing or changing database code" in found[0]
    assert "--help" in found[0]


def test_speed_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/checker_speed.py still works (its numbers are in tests/checker/README.md)."""
    from benchmarks import checker_speed

    assert checker_speed.main(["--quick", str(ROOT / "examples" / "errors")]) == 0
    assert "lines/second" in capsys.readouterr().out
