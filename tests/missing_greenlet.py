"""The exact MissingGreenlet each lane raises when an attribute access needs SQL.

Where the driver first awaits decides the exception (references/errors.md, "Reading the
texts"): asyncpg awaits at execute, so the access raises ``MissingGreenlet`` itself. aiomysql
(2.0 and 2.1), aiosqlite and psycopg on 2.1 await when the cursor is created, which SQLAlchemy
wraps in ``StatementError`` with the ``MissingGreenlet`` as ``.orig`` and the SQL in the text.
"""

from __future__ import annotations

from sqlalchemy.exc import MissingGreenlet, StatementError

from examples.errors import Outcome
from tests.conftest import Lane
from tools.versions import SA21

_AWAIT = "await_()" if SA21 else "await_only()"
_BACKGROUND = f"(Background on this error at: https://sqlalche.me/e/{21 if SA21 else 20}/xd2s)"
TEXT = (
    f"greenlet_spawn has not been called; can't call {_AWAIT} here. "
    "Was IO attempted in an unexpected place?"
)


def arrives_wrapped(lane: Lane) -> bool:
    """True where ``except MissingGreenlet`` does not catch it: it is a StatementError."""
    return lane.driver == "aiomysql" or (SA21 and lane.driver in ("aiosqlite", "psycopg"))


class _Placeholders(dict[str, str]):
    """``{name}`` in a SQL template becomes the lane's bound parameter for ``name``."""

    def __init__(self, driver: str) -> None:
        super().__init__()
        self.driver = driver

    def __missing__(self, name: str) -> str:
        if self.driver == "psycopg":
            return f"%({name})s::INTEGER"
        return {"aiosqlite": "?", "aiomysql": "%s"}[self.driver]


def expected_message(lane: Lane, sql: str, parameters: str) -> str:
    """The whole message: SQL written with ``{param_1}``-style placeholders."""
    if not arrives_wrapped(lane):
        return f"{TEXT} {_BACKGROUND}"
    statement = sql.format_map(_Placeholders(lane.driver))
    return (
        f"(sqlalchemy.exc.MissingGreenlet) {TEXT}\n[SQL: {statement}]\n"
        f"[parameters: {parameters}]\n{_BACKGROUND}"
    )


def assert_missing_greenlet(outcome: Outcome, lane: Lane, sql: str, parameters: str) -> None:
    """The exception class and the exact text this lane and SQLAlchemy release produce."""
    if arrives_wrapped(lane):
        assert outcome.error is StatementError, outcome
        assert outcome.cause is MissingGreenlet
    else:
        assert outcome.error is MissingGreenlet, outcome
    expected = expected_message(lane, sql, parameters)
    assert outcome.message == expected, f"\n got: {outcome.message!r}\nwant: {expected!r}"
