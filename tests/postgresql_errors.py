"""How a PostgreSQL error arrives through each driver, for the tests that assert one.

psycopg raises the PEP 249 class of the SQLSTATE and names its own exception class. asyncpg
errors arrive as a plain ``DBAPIError``, or since SQLAlchemy 2.0.59/2.1.10 as that PEP 249 class
(sqlalchemy#13636); 2.0 also names asyncpg's exception class in the message.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError

from examples.errors import Outcome
from tests.conftest import Lane
from tools.versions import ASYNCPG_ERRORS_BY_SQLSTATE


def asyncpg_error(
    outcome: Outcome, pep249_class: type[DBAPIError], asyncpg_class: str, text: str
) -> None:
    """``text`` is a regular expression for the message after the class names."""
    expected = pep249_class if ASYNCPG_ERRORS_BY_SQLSTATE else DBAPIError
    assert outcome.error is expected, outcome
    adapter_class = pep249_class.__name__ if ASYNCPG_ERRORS_BY_SQLSTATE else "Error"
    assert re.match(
        rf"\(sqlalchemy\.dialects\.postgresql\.asyncpg\.{adapter_class}\) "
        rf"(<class 'asyncpg\.exceptions\.{asyncpg_class}'>: )?" + text,
        outcome.message,
    ), outcome.message


def postgresql_error(
    outcome: Outcome,
    lane: Lane,
    pep249_class: type[DBAPIError],
    driver_classes: tuple[str, str],
    text: str,
) -> None:
    """The error through the lane's driver; ``driver_classes`` is (asyncpg's, psycopg's)."""
    asyncpg_class, psycopg_class = driver_classes
    if lane.driver == "psycopg":
        assert outcome.error is pep249_class, outcome
        assert re.match(rf"\(psycopg\.errors\.{psycopg_class}\) " + text, outcome.message), (
            outcome.message
        )
    else:
        asyncpg_error(outcome, pep249_class, asyncpg_class, text)
