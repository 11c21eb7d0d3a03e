"""The models every example shares: users who write posts, posts that carry tags.

Illustrates 2.0-style typed declarative mapping: ``Mapped[...]`` with ``mapped_column``,
reusable ``Annotated`` column types, ``type_annotation_map``, server defaults, indexes,
a naming convention (stable constraint names for Alembic), and relationships declared on
both sides with ``back_populates``.
"""

# region: models
import datetime
from typing import Annotated

from sqlalchemy import Column, DateTime, ForeignKey, Index, MetaData, String, Table, Text, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, WriteOnlyMapped, mapped_column, relationship

# Reusable column types: declare once, annotate many columns with them.
IntPK = Annotated[int, mapped_column(primary_key=True)]
CreatedAt = Annotated[datetime.datetime, mapped_column(server_default=func.now())]


class Base(AsyncAttrs, DeclarativeBase):
    # Named constraints, so Alembic migrations can find and drop them later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    # MySQL/MariaDB need a length on every VARCHAR; timestamps keep their time zone.
    type_annotation_map = {
        str: String(255),
        datetime.datetime: DateTime(timezone=True),
    }


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
    posts: Mapped[list["Post"]] = relationship(
        back_populates="author", cascade="all, delete-orphan", lazy="raise"
    )
    # A collection too large to load: never loaded whole, queried and appended through its API.
    events: WriteOnlyMapped["AuditEvent"] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AuditEvent.id"
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
