"""Errors from the mapping itself: relationships that do not match, classes the registry cannot
find, ambiguous or missing foreign keys, no primary key, a Python type with no column type.

These fail when the mappers are configured (the first query, or ``registry.configure()``) or
when the class is created, on every database alike. Each broken model here lives on its own
DeclarativeBase, created inside the function and disposed afterwards, so that it cannot break
any other mapper.

Run: python -m examples.errors.mapping
"""

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship

from examples.errors import capture_call, open_database, pair, report


def configured(base: type[DeclarativeBase]) -> list[str]:
    """Configure a throwaway registry, list its relationships, and dispose of it."""
    try:
        base.registry.configure()
        return sorted(
            f"{mapper.class_.__name__}.{rel.key}"
            for mapper in base.registry.mappers
            for rel in mapper.relationships
        )
    finally:
        base.registry.dispose()


def wrong_one_sided_back_populates() -> list[str]:
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)  # no "posts" relationship here

    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
        author: Mapped[User] = relationship(back_populates="posts")

    return configured(Base)


def fixed_one_sided_back_populates() -> list[str]:
    # region: fix-back-populates
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        # back_populates names the attribute on the other class: declare both sides.
        posts: Mapped[list["Post"]] = relationship(back_populates="author")

    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
        author: Mapped[User] = relationship(back_populates="posts")

    # endregion: fix-back-populates

    return configured(Base)


def wrong_class_not_found() -> list[str]:
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        # "Post" lives in a module nobody imported (or is misspelled): the registry lacks it.
        posts: Mapped[list["Post"]] = relationship()  # type: ignore[name-defined]  # noqa: F821

    return configured(Base)


def fixed_class_not_found() -> list[str]:
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        posts: Mapped[list["Post"]] = relationship()

    # region: fix-class-not-found
    # Every mapped class must be imported (defined) before the first query configures the
    # mappers: import all model modules in one place, e.g. models/__init__.py.
    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    # endregion: fix-class-not-found

    return configured(Base)


def wrong_ambiguous_foreign_keys() -> list[str]:
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
        editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
        author: Mapped[User] = relationship()  # which of the two foreign keys?

    return configured(Base)


def fixed_ambiguous_foreign_keys() -> list[str]:
    # region: fix-ambiguous-foreign-keys
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Post(Base):
        __tablename__ = "posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
        editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
        # Two paths to users: name the column each relationship uses.
        author: Mapped[User] = relationship(foreign_keys=[author_id])
        editor: Mapped[User | None] = relationship(foreign_keys=[editor_id])

    # endregion: fix-ambiguous-foreign-keys

    return configured(Base)


def wrong_no_primary_key() -> list[str]:
    class Base(DeclarativeBase):
        pass

    try:

        class Setting(Base):  # fails right here, when the class is created
            __tablename__ = "settings"
            name: Mapped[str] = mapped_column(String(50))
            value: Mapped[str] = mapped_column(String(200))

        return configured(Base)
    finally:
        Base.registry.dispose()


def fixed_no_primary_key() -> list[str]:
    # region: fix-no-primary-key
    class Base(DeclarativeBase):
        pass

    class Setting(Base):
        __tablename__ = "settings"
        # The ORM needs an identity for every row: a primary key (here a natural one).
        name: Mapped[str] = mapped_column(String(50), primary_key=True)
        value: Mapped[str] = mapped_column(String(200))

    # endregion: fix-no-primary-key

    return configured(Base)


def wrong_type_without_column_type() -> list[str]:
    class Base(DeclarativeBase):
        pass

    try:

        class Profile(Base):
            __tablename__ = "profiles"
            id: Mapped[int] = mapped_column(primary_key=True)
            settings: Mapped[dict[str, Any]]  # which SQL type is a dict?

        return configured(Base)
    finally:
        Base.registry.dispose()


def fixed_type_without_column_type() -> list[str]:
    # region: fix-type-without-column-type
    from typing import Any

    from sqlalchemy import JSON

    class Base(DeclarativeBase):
        # Either map the Python type once for the whole registry...
        type_annotation_map = {dict[str, Any]: JSON}

    class Profile(Base):
        __tablename__ = "profiles"
        id: Mapped[int] = mapped_column(primary_key=True)
        settings: Mapped[dict[str, Any]]
        # ...or give the column its type explicitly.
        extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # endregion: fix-type-without-column-type

    return configured(Base)


class FkBase(DeclarativeBase):
    pass


class Team(FkBase):
    __tablename__ = "err_teams"
    id: Mapped[int] = mapped_column(primary_key=True)


async def wrong_foreign_key_to_missing_table(engine: AsyncEngine) -> None:
    reg = registry(metadata=FkBase.metadata)  # share the metadata that holds err_teams

    class Base(DeclarativeBase):
        registry = reg

    class Player(Base):
        __tablename__ = "err_players"
        id: Mapped[int] = mapped_column(primary_key=True)
        team_id: Mapped[int] = mapped_column(ForeignKey("err_team.id"))  # class name? typo?

    try:
        async with engine.begin() as conn:
            await conn.run_sync(FkBase.metadata.create_all)
    finally:
        FkBase.metadata.remove(FkBase.metadata.tables["err_players"])
        reg.dispose()


async def fixed_foreign_key_to_missing_table(engine: AsyncEngine) -> list[str]:
    reg = registry(metadata=FkBase.metadata)

    class Base(DeclarativeBase):
        registry = reg

    # region: fix-foreign-key-target
    class Player(Base):
        __tablename__ = "err_players"
        id: Mapped[int] = mapped_column(primary_key=True)
        # ForeignKey takes "table.column" (the __tablename__), not the class name.
        team_id: Mapped[int] = mapped_column(ForeignKey("err_teams.id"))

    # endregion: fix-foreign-key-target

    try:
        async with engine.begin() as conn:
            await conn.run_sync(FkBase.metadata.create_all)
            players = FkBase.metadata.tables[Player.__tablename__]
            await conn.run_sync(FkBase.metadata.drop_all, tables=[players])
        return sorted(FkBase.metadata.tables)
    finally:
        FkBase.metadata.remove(FkBase.metadata.tables["err_players"])
        reg.dispose()


async def main(url: str) -> None:
    for name in (
        "one_sided_back_populates",
        "class_not_found",
        "ambiguous_foreign_keys",
        "no_primary_key",
        "type_without_column_type",
    ):
        report(f"wrong_{name}", capture_call(globals()[f"wrong_{name}"]))
        print(f"fixed_{name}: returned {globals()[f'fixed_{name}']()}")
    db = await open_database(url, FkBase.metadata)
    try:
        await pair(
            "foreign_key_to_missing_table",
            wrong_foreign_key_to_missing_table(db.engine),
            fixed_foreign_key_to_missing_table(db.engine),
        )
    finally:
        await db.close()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
