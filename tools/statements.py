"""Count the SQL statements an engine sends: exact, so tests can assert them (timings cannot)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN")


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)
    parameters: list[Any] = field(default_factory=list)  # the bound values, one per statement

    @property
    def count(self) -> int:
        """Statements that touch data: savepoint and BEGIN bookkeeping is not counted."""
        return len(
            [s for s in self.statements if not s.lstrip().upper().startswith(_TRANSACTION_CONTROL)]
        )

    @property
    def selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


@contextlib.contextmanager
def count_statements(engine: AsyncEngine | Engine) -> Iterator[StatementLog]:
    """Record every statement sent through ``engine`` (sync or async) inside the block."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    log = StatementLog()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        log.statements.append(statement)
        log.parameters.append(parameters)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
