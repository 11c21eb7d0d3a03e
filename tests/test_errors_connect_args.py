"""examples/errors/connect_args.py on both PostgreSQL lanes: one driver's connect arguments fail
on the other, with the texts references/errors.md quotes; the per-driver arguments work."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import URL
from sqlalchemy.exc import ProgrammingError

from examples.errors import capture
from examples.errors import connect_args as m
from tests.conftest import Lane


@pytest.mark.lanes("postgresql")
async def test_connect_args_per_driver(db_url: URL, lane: Lane) -> None:
    url = db_url.render_as_string(hide_password=False)
    for written_for in ("asyncpg", "psycopg"):
        outcome = await capture(m.wrong_connect_args_per_driver(url, written_for))
        if written_for == lane.driver:
            assert outcome.error is None
            assert outcome.value == "30s"
        elif lane.driver == "psycopg":  # asyncpg's keys reach psycopg's connect(): refused
            assert outcome.error is ProgrammingError
            assert re.fullmatch(
                r'\(psycopg\.ProgrammingError\) invalid connection option "server_settings"\n\n'
                r"\(Background on this error at: https://sqlalche\.me/e/2[01]/f405\)",
                outcome.message,
            ), outcome.message
        else:  # psycopg's keys reach asyncpg.connect(): not even wrapped by SQLAlchemy
            assert outcome.error is TypeError
            assert outcome.message == "connect() got an unexpected keyword argument 'options'"
    assert await m.fixed_connect_args_per_driver(url) == "30s"


@pytest.mark.parametrize("key", ["command_timeout", "timeout"])
@pytest.mark.lanes("postgresql+psycopg")
async def test_psycopg_refuses_asyncpg_timeouts(db_url: URL, key: str) -> None:
    """asyncpg's client-side command_timeout and its connect timeout have no psycopg key."""
    url = db_url.render_as_string(hide_password=False)
    outcome = await capture(m.show_statement_timeout(url, {key: 5}))
    assert outcome.error is ProgrammingError
    assert outcome.message.startswith(
        f'(psycopg.ProgrammingError) invalid connection option "{key}"'
    )


@pytest.mark.lanes("postgresql+asyncpg")
async def test_asyncpg_refuses_libpq_connect_timeout(db_url: URL) -> None:
    url = db_url.render_as_string(hide_password=False)
    outcome = await capture(m.show_statement_timeout(url, {"connect_timeout": 5}))
    assert outcome.error is TypeError
    assert outcome.message == "connect() got an unexpected keyword argument 'connect_timeout'"


def test_statement_timeout_args() -> None:
    assert m.statement_timeout_args("postgresql+asyncpg://u@h/db", 1.5) == {
        "server_settings": {"statement_timeout": "1500"},
        "timeout": 10,
    }
    assert m.statement_timeout_args("postgresql+psycopg://u@h/db", 1.5) == {
        "options": "-c statement_timeout=1500",
        "connect_timeout": 10,
    }
    with pytest.raises(ValueError, match="no PostgreSQL connect arguments for driver 'aiomysql'"):
        m.statement_timeout_args("mysql+aiomysql://u@h/db", 1)


async def test_main(db_url: URL, lane: Lane, capsys: pytest.CaptureFixture[str]) -> None:
    await m.main(db_url.render_as_string(hide_password=False))
    out = capsys.readouterr().out
    if lane.backend == "postgresql":
        other = "psycopg" if lane.driver == "asyncpg" else "asyncpg"
        assert f"wrong_connect_args_per_driver ({lane.driver}'s): returned '30s'\n" in out
        assert f"wrong_connect_args_per_driver ({other}'s): raised " in out
        assert "fixed_connect_args_per_driver: returned '30s'\n" in out
    else:
        assert out == "connect arguments differ between PostgreSQL drivers: set DATABASE_URL\n"
