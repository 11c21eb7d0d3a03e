"""The error index (references/errors.md): every entry is a pair of functions.

``wrong_<name>`` reproduces the mistake exactly as users write it; ``fixed_<name>`` is the fix.
Modules are grouped by family (``implicit_io``, ``sessions``, ``concurrency``, ...). Each has a
``main(url)`` that runs its pairs and prints what each wrong pattern raised and that each fix
works: ``python -m examples.errors.sessions`` (SQLite; set ``DATABASE_URL`` for another database).

This package module holds the plumbing the families share: running a pattern and recording what
it did (``capture``), running one in an interpreter of its own (``run_python``), and a database
with one family's tables (``open_database``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


@dataclass(frozen=True)
class Outcome:
    """What running one pattern did: the exception it raised, or the value it returned."""

    error: type[BaseException] | None = None
    message: str = ""
    # StatementError/DBAPIError carry the exception they wrap in ``.orig``; this is its type.
    cause: type[BaseException] | None = None
    value: Any = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The exception's qualified name, e.g. ``sqlalchemy.exc.MissingGreenlet``."""
        if self.error is None:
            return "no error"
        return f"{self.error.__module__}.{self.error.__qualname__}"

    def __str__(self) -> str:
        if self.error is None:
            return f"returned {self.value!r}"
        first_line = self.message.splitlines()[0] if self.message else ""
        return f"raised {self.name}: {first_line}"


def _texts(caught: Sequence[warnings.WarningMessage]) -> tuple[str, ...]:
    return tuple(f"{w.category.__name__}: {w.message}" for w in caught)


def _outcome(exc: BaseException) -> Outcome:
    orig = getattr(exc, "orig", None) if isinstance(exc, StatementError) else None
    return Outcome(
        error=type(exc),
        message=str(exc),
        cause=type(orig) if isinstance(orig, BaseException) else None,
    )


class _Recorder:
    """Record warnings while a wrong pattern runs (they are part of what it does)."""

    def __enter__(self) -> list[warnings.WarningMessage]:
        self._context = warnings.catch_warnings(record=True)
        caught = self._context.__enter__()
        warnings.simplefilter("always")
        # A failed call can leave a driver coroutine that was created but never awaited; the
        # interpreter warns about it when it is collected. That is noise, not the error.
        warnings.filterwarnings("ignore", r"coroutine .* was never awaited", RuntimeWarning)
        return caught

    def __exit__(self, *exc_info: object) -> None:
        gc.collect()  # collect what the failure left behind while the filters above apply
        self._context.__exit__(None, None, None)


async def capture(awaitable: Awaitable[Any]) -> Outcome:
    """Await a pattern; return what it raised (type, message, wrapped cause) or returned.

    Warnings it causes, including those issued when the garbage collector finds what it left
    behind, are recorded in ``Outcome.warnings``.
    """
    with _Recorder() as caught:
        try:
            outcome = Outcome(value=await awaitable)
        except Exception as exc:  # a wrong pattern may raise anything: that is the point
            outcome = _outcome(exc)
    return replace(outcome, warnings=_texts(caught))


def capture_call(function: Callable[..., Any], *args: Any) -> Outcome:
    """Like ``capture`` for a plain (sync) function call."""
    with _Recorder() as caught:
        try:
            outcome = Outcome(value=function(*args))
        except Exception as exc:
            outcome = _outcome(exc)
    return replace(outcome, warnings=_texts(caught))


def report(name: str, outcome: Outcome) -> None:
    print(f"{name}: {outcome}")


async def pair(name: str, wrong: Awaitable[Any], fixed: Awaitable[Any]) -> Outcome:
    """Run ``wrong_<name>`` (recording what it raises) then ``fixed_<name>``; print both."""
    outcome = await capture(wrong)
    report(f"wrong_{name}", outcome)
    print(f"fixed_{name}: returned {await fixed!r}")
    return outcome


ROOT = Path(__file__).resolve().parents[2]


async def run_python(code: str, *args: str) -> Any:
    """Run ``code`` in a fresh interpreter that can import ``examples``; return the JSON it prints.

    For patterns that need a process of their own: event loops of their own, or a module that
    must fail to import. A child that crashes raises RuntimeError with its stderr.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"child failed: {err.decode()}")
    return json.loads(out)


@dataclass
class Database:
    """One family's tables on a database: an engine and a session factory for it."""

    engine: AsyncEngine
    Session: async_sessionmaker[AsyncSession]
    metadata: Sequence[MetaData]

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        async with self.engine.begin() as conn:
            for metadata in reversed(self.metadata):
                await conn.run_sync(metadata.drop_all)
        await self.engine.dispose()


async def open_database(url: str, *metadata: MetaData) -> Database:
    """Create the tables of ``metadata`` on ``url``; ``Database.close()`` drops them again.

    The engine has SKILL.md's per-connection settings (set_connection_defaults), so each
    family shows what happens with the skill's setup on any server configuration."""
    from examples.quickstart import set_connection_defaults

    engine = create_async_engine(url)
    set_connection_defaults(engine)
    async with engine.begin() as conn:
        for meta in metadata:
            await conn.run_sync(meta.create_all)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), metadata)
