"""The models every example shares: users who write posts, posts that carry tags.

Illustrates 2.0-style typed declarative mapping: ``Mapped[...]`` with ``mapped_column``,
reusable ``Annotated`` column types, ``type_annotation_map``, server defaults, indexes,
a naming convention (stable constraint names for Alembic), and relationships declared on
both sides with ``back_populates``.
"""

# region: base
import datetime
from typing import Annotated, Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database. SQLite and MariaDB
    store no offset: values are stored as UTC wall-clock time (MariaDB's NOW() too, once
    make_engine() pins the session time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value}: pass an aware one (datetime.UTC)")
        if value is None or dialect.name == "postgresql":
            return value  # TIMESTAMPTZ stores the instant
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


# Reusable column types: declare once, annotate many columns with them.
IntPK = Annotated[int, mapped_column(primary_key=True)]
CreatedAt = Annotated[datetime.datetime, mapped_column(server_default=func.now())]


class Base(AsyncAttrs, DeclarativeBase):
    # Named constraints: Alembic migrations can find and drop them later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    # MySQL/MariaDB need a length on every VARCHAR; datetimes are aware and in UTC.
    type_annotation_map = {
        str: String(255),
        datetime.datetime: UTCDateTime,
    }
    # Fetch server defaults (created_at) with the INSERT: RETURNING on PostgreSQL, SQLite and
    # MariaDB >= 10.5; a SELECT on MySQL, which otherwise leaves them unloaded (MissingGreenlet).
    __mapper_args__: Any = {"eager_defaults": True}


# endregion: base


# region: models
post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[IntPK]
    email: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[CreatedAt]
    # lazy="raise": a relationship you forgot to load fails loudly instead of doing hidden IO.
    # Not cascade="all": its refresh-expire makes refresh(user) unload the posts' relations.
    posts: Mapped[list["Post"]] = relationship(
        back_populates="author",
        cascade="save-update, merge, expunge, delete, delete-orphan",
        lazy="raise",
    )
    # Too large to load: queried and appended through its API. passive_deletes: the foreign
    # key's ON DELETE CASCADE removes them (on SQLite only with foreign keys on: make_engine).
    events: WriteOnlyMapped["AuditEvent"] = relationship(
        cascade="save-update, merge, expunge, delete, delete-orphan",
        passive_deletes=True,
        order_by="AuditEvent.id",
    )


class Post(Base):
    __tablename__ = "posts"
    # Serves the newest-first listing and its keyset pagination: ORDER BY created_at, id.
    __table_args__ = (Index("ix_posts_created_at_id", "created_at", "id"),)

    id: Mapped[IntPK]
    title: Mapped[str]
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[CreatedAt]
    author: Mapped[User] = relationship(back_populates="posts", lazy="raise")
    tags: Mapped[list["Tag"]] = relationship(
        secondary=post_tags, back_populates="posts", lazy="raise"
    )


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(50), unique=True)
    posts: Mapped[list[Post]] = relationship(
        secondary=post_tags, back_populates="tags", lazy="raise"
    )


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[CreatedAt]
# endregion: models
