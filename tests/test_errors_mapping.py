"""examples/errors/mapping.py: mapping mistakes raise the texts references/errors.md quotes
(the same on every database, so they run once); the foreign key target runs on every lane."""

from __future__ import annotations

import re

import pytest
import sqlalchemy
from sqlalchemy import URL
from sqlalchemy.exc import (
    AmbiguousForeignKeysError,
    ArgumentError,
    InvalidRequestError,
    NoReferencedTableError,
)
from sqlalchemy.orm.exc import MappedAnnotationError

from examples.errors import capture, capture_call, open_database
from examples.errors import mapping as m


def test_one_sided_back_populates() -> None:
    outcome = capture_call(m.wrong_one_sided_back_populates)
    assert outcome.error is InvalidRequestError
    assert outcome.message == (
        "Mapper 'Mapper[User(users)]' has no property 'posts'.  If this property was indicated "
        "from other mappers or configure events, ensure registry.configure() has been called."
    )
    assert m.fixed_one_sided_back_populates() == ["Post.author", "User.posts"]


def test_class_not_found() -> None:
    outcome = capture_call(m.wrong_class_not_found)
    assert outcome.error is InvalidRequestError
    assert re.fullmatch(
        r"When initializing mapper Mapper\[User\(users\)\], expression 'Post' failed to locate a "
        r"name \('Post'\)\. If this is a class name, consider adding this relationship\(\) to "
        r"the <class '[\w.<>]+\.User'> class after both dependent classes have been defined\.",
        outcome.message,
    ), outcome.message
    assert m.fixed_class_not_found() == ["User.posts"]


def test_ambiguous_foreign_keys() -> None:
    outcome = capture_call(m.wrong_ambiguous_foreign_keys)
    assert outcome.error is AmbiguousForeignKeysError
    assert outcome.message == (
        "Could not determine join condition between parent/child tables on relationship "
        "Post.author - there are multiple foreign key paths linking the tables.  Specify the "
        "'foreign_keys' argument, providing a list of those columns which should be counted as "
        "containing a foreign key reference to the parent table."
    )
    assert m.fixed_ambiguous_foreign_keys() == ["Post.author", "Post.editor"]


def test_no_primary_key() -> None:
    outcome = capture_call(m.wrong_no_primary_key)
    assert outcome.error is ArgumentError
    assert outcome.message == (
        "Mapper Mapper[Setting(settings)] could not assemble any primary key columns for mapped "
        "table 'settings'"
    )
    assert m.fixed_no_primary_key() == []


def test_type_without_column_type() -> None:
    outcome = capture_call(m.wrong_type_without_column_type)
    assert outcome.error is MappedAnnotationError
    assert outcome.message == (
        "Could not locate SQLAlchemy Core type when resolving for Python type indicated by "
        "'dict[str, typing.Any]' inside the Mapped[] annotation for the 'settings' attribute; "
        "the type object is not resolvable by the registry"
    )
    assert m.fixed_type_without_column_type() == []


async def test_foreign_key_to_missing_table(db_url: URL) -> None:
    db = await open_database(db_url.render_as_string(hide_password=False), m.FkBase.metadata)
    try:
        outcome = await capture(m.wrong_foreign_key_to_missing_table(db.engine))
        assert outcome.error is NoReferencedTableError
        assert outcome.message == (
            "Foreign key associated with column 'err_players.team_id' could not find table "
            "'err_team' with which to generate a foreign key to target column 'id'"
        )
        assert await m.fixed_foreign_key_to_missing_table(db.engine) == ["err_players", "err_teams"]
        assert sorted(m.FkBase.metadata.tables) == ["err_teams"]  # nothing left behind
    finally:
        await db.close()


async def test_main(db_url: sqlalchemy.URL, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    assert "wrong_no_primary_key: raised sqlalchemy.exc.ArgumentError" in out
    assert "fixed_foreign_key_to_missing_table: returned ['err_players', 'err_teams']" in out
