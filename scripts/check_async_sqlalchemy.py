#!/usr/bin/env python3
"""Find the async SQLAlchemy mistakes of this skill in Python source, without running it.

    python3 scripts/check_async_sqlalchemy.py PATH...        # files or folders
    python3 scripts/check_async_sqlalchemy.py --json PATH... # one JSON object per run
    python3 scripts/check_async_sqlalchemy.py --help          # the rules

Each finding is printed as ``file:line:col RULE message (fix; references/X.md#section)``; the
reference is relative to the skill's directory. ``# noqa: SQA101`` (several codes separated by
commas) silences a rule on that line. Exit status: 1 when something was found, 2 when a path
could not be read or parsed (and nothing was found), 0 otherwise.

Standard library only (``ast``), Python >= 3.11. The analysis is per function and follows names
through assignments, annotations and ``async with``; what it cannot see (a session passed in from
elsewhere, a statement built in another module) it leaves alone rather than guess, so it misses
some mistakes instead of reporting correct code. Rules marked "heuristic" infer intent and can
still be wrong: silence them with ``# noqa`` where the code is right.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import re
import sys
import tokenize
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Pos = tuple[int, int]
FAR: Pos = (10**9, 0)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


# --------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    message: str
    fix: str
    reference: str  # relative to the skill's directory
    heuristic: bool = False


_ERR = "references/errors.md#"
RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            "SQA101",
            "shared-session",
            "one AsyncSession/AsyncConnection used by several concurrent tasks",
            "give each task its own session: `async with Session() as session` inside the task",
            _ERR + "isce-one-asyncsession-used-by-several-tasks",
        ),
        Rule(
            "SQA102",
            "engine-across-event-loops",
            "one engine used by more than one asyncio.run() event loop",
            "create the engine inside the coroutine that asyncio.run() runs; dispose it there",
            _ERR + "attached-to-a-different-loop-and-event-loop-is-closed",
        ),
        Rule(
            "SQA103",
            "engine-per-call",
            "engine created per request or per call (a new pool each time)",
            "create one engine at startup, share it, `await engine.dispose()` at shutdown",
            "references/production.md#startup-and-shutdown",
        ),
        Rule(
            "SQA104",
            "session-held-across-io",
            "session holds its transaction across an await of non-database IO",
            "do the slow call before the session starts its transaction (or after it ends)",
            "references/performance.md#slow-calls-between-the-read-and-the-write",
        ),
        Rule(
            "SQA105",
            "session-never-closed",
            "session created without `async with` and never closed",
            "`async with Session() as session:` closes it on every path",
            _ERR + "the-garbage-collector-is-trying-to-clean-up-non-checked-in-connection",
        ),
        Rule(
            "SQA106",
            "missing-await",
            "coroutine method called without await: nothing ran",
            "await it: `await session.execute(...)`",
            _ERR + "coroutine-object-has-no-attribute-missing-await",
        ),
        Rule(
            "SQA201",
            "attribute-not-loaded",
            "relationship or deferred column read from an object whose query did not load it "
            "(heuristic)",
            "load it in the query: `.options(selectinload(Model.rel))` (joinedload for "
            "many-to-one, undefer() for a column), or `await session.refresh(obj, ['attr'])`",
            _ERR + "missinggreenlet-lazy-loaded-relationship",
            heuristic=True,
        ),
        Rule(
            "SQA202",
            "read-after-commit",
            "attribute read after commit() with expire_on_commit left on",
            "`async_sessionmaker(engine, expire_on_commit=False)`, or `await session.refresh(obj)`"
            " after the commit",
            _ERR + "missinggreenlet-attribute-read-after-commit",
        ),
        Rule(
            "SQA203",
            "server-value-after-flush",
            "column the database sets on UPDATE read after the flush expired it",
            "`__mapper_args__ = {'eager_defaults': True}`, or "
            "`await session.refresh(obj, ['col'])`",
            _ERR + "missinggreenlet-server-generated-value-after-update",
        ),
        Rule(
            "SQA204",
            "stream-without-yield-per",
            "session.stream() without yield_per builds every object before the first arrives",
            "`stmt.execution_options(yield_per=1000)`",
            _ERR + "stream-that-loads-everything-first",
        ),
        Rule(
            "SQA205",
            "joinedload-collection-without-unique",
            "joinedload() of a collection, result read without .unique()",
            "`result.unique().scalars()`, or selectinload() for collections",
            _ERR + "the-unique-method-must-be-invoked-on-this-result",
        ),
        Rule(
            "SQA206",
            "get-options-ignored",
            "session.get() with options for an object the session already holds: the options "
            "are not applied",
            "`session.get(Model, pk, options=[...], populate_existing=True)`",
            _ERR + "not-available-due-to-lazyraise-after-sessionget-with-options",
        ),
        Rule(
            "SQA301",
            "commit-inside-begin",
            "commit() inside a begin() block that owns the transaction",
            "let the block commit when it ends; `await session.flush()` to send SQL early",
            _ERR + "cant-operate-on-closed-transaction-inside-context-manager",
        ),
        Rule(
            "SQA302",
            "begin-after-autobegin",
            "session.begin() after the session already ran a statement (autobegin)",
            "open the block first: `async with Session() as session, session.begin():`",
            _ERR + "a-transaction-is-already-begun-on-this-session",
        ),
        Rule(
            "SQA303",
            "no-rollback-after-error",
            "database error caught, then the session used again without rollback()",
            "`await session.rollback()` in the except block (or re-raise)",
            _ERR + "pendingrollbackerror-after-an-integrityerror",
        ),
        Rule(
            "SQA304",
            "object-in-two-sessions",
            "object that belongs to one open session added to another",
            "`obj = await other.merge(obj)`",
            _ERR + "object-is-already-attached-to-session",
        ),
        Rule(
            "SQA305",
            "refresh-before-flush",
            "refresh() of an object that was added but never flushed",
            "`await session.flush()` before `refresh()`",
            _ERR + "instance-is-not-persistent-within-this-session",
        ),
        Rule(
            "SQA306",
            "rows-from-dml",
            "rows read from an INSERT/UPDATE/DELETE that has no RETURNING",
            "read `result.rowcount`, or add `.returning(...)`",
            _ERR + "this-result-object-does-not-return-rows",
        ),
        Rule(
            "SQA307",
            "result-read-twice",
            "Result read a second time: it is exhausted, the second read is empty",
            "keep the rows: `rows = (await session.scalars(stmt)).all()`",
            _ERR + "a-result-read-twice",
        ),
        Rule(
            "SQA308",
            "driver-exception",
            "except clause for the driver's exception around SQLAlchemy calls: "
            "never raised as such",
            "`except sqlalchemy.exc.IntegrityError` (the driver's error is in `.orig`)",
            _ERR + "integrityerror-escapes-an-except-for-the-drivers-exception",
        ),
        Rule(
            "SQA309",
            "lost-update",
            "loaded column changed in Python and written back: concurrent updates are lost",
            "compute in SQL: `update(M).values(n=M.n + 1)`; or lock the read "
            "(`with_for_update()`), or a version_id_col",
            "references/production.md#conflicting-writes-retry-the-transaction",
        ),
        Rule(
            "SQA310",
            "json-changed-in-place",
            "JSON column changed in place: the ORM does not see it, nothing is saved",
            "assign a new value (`obj.data = {**obj.data, 'k': v}`), call "
            "`flag_modified(obj, 'data')`, or map it with `MutableDict.as_mutable(JSON)`",
            _ERR + "json-changed-in-place-never-saved",
        ),
        Rule(
            "SQA311",
            "enum-value-used-in-its-transaction",
            "enum value added by ALTER TYPE ... ADD VALUE used in the same transaction",
            "commit the ALTER TYPE first: its own `async with engine.begin()` block (or migration)",
            _ERR + "unsafe-use-of-new-value-of-enum-type",
        ),
        Rule(
            "SQA312",
            "lock-with-outer-join",
            "with_for_update() over an outer join (joinedload, lazy='joined', outerjoin): "
            "PostgreSQL cannot lock its nullable side",
            "lock the main table only: `.with_for_update(of=Model)` (or selectinload)",
            _ERR + "for-update-cannot-be-applied-to-the-nullable-side-of-an-outer-join",
        ),
        Rule(
            "SQA401",
            "session-query",
            "AsyncSession has no query() (1.x API)",
            "`await session.scalars(select(Model).where(...))`",
            _ERR + "asyncsession-object-has-no-attribute-query",
        ),
        Rule(
            "SQA402",
            "create-all-on-async-engine",
            "metadata.create_all()/drop_all() given an async engine or connection",
            "`async with engine.begin() as conn: await conn.run_sync(metadata.create_all)`",
            _ERR + "asyncengine-object-has-no-attribute-_run_ddl_visitor",
        ),
        Rule(
            "SQA403",
            "inspect-async-engine",
            "inspect() of an async engine or connection",
            "inspect inside `await conn.run_sync(fn)`, where fn gets a sync connection",
            _ERR + "inspection-on-an-asyncengine-is-currently-not-supported",
        ),
        Rule(
            "SQA404",
            "plain-sql-string",
            "SQL passed as a plain string",
            "`text('... WHERE id = :id')` with the values as bound parameters",
            _ERR + "textual-sql-expression-should-be-explicitly-declared-as-text",
        ),
        Rule(
            "SQA405",
            "sync-pool-class",
            "sync pool class given to create_async_engine()",
            "`AsyncAdaptedQueuePool` (the default) or `NullPool`",
            _ERR + "pool-class-queuepool-cannot-be-used-with-asyncio-engine",
        ),
        Rule(
            "SQA406",
            "event-on-async-object",
            "event listener on an async object: events live on the sync objects",
            "listen on `engine.sync_engine` (sessions: `Session` or the sync_session_class)",
            "references/events.md#the-rule-listeners-go-on-the-sync-objects",
        ),
        Rule(
            "SQA407",
            "async-engine-sync-driver",
            "create_async_engine() with a URL that names no async driver",
            "name the driver: postgresql+asyncpg://, mysql+aiomysql://, sqlite+aiosqlite://",
            _ERR + "the-asyncio-extension-requires-an-async-driver",
        ),
        Rule(
            "SQA408",
            "sync-engine-async-driver",
            "create_engine() with an async driver URL",
            "`create_async_engine(url)`; run sync-only code with `await conn.run_sync(fn)`",
            _ERR + "missinggreenlet-sync-create_engine-with-an-async-driver",
        ),
        Rule(
            "SQA409",
            "get-bind-async-engine",
            "get_bind() returns an AsyncEngine to the sync Session",
            "return `engine.sync_engine`",
            _ERR + "asynccontextnotstarted-get_bind-returns-an-asyncengine",
        ),
        Rule(
            "SQA410",
            "async-def-where-sync-called",
            "async def given as an event listener or to run_sync(): its body never runs",
            "a plain `def` (its IO needs no await there: the sync connection or session)",
            _ERR + "coroutine-was-never-awaited-async-def-listener-or-run_sync-function",
        ),
        Rule(
            "SQA411",
            "memory-database-per-connection",
            "in-memory SQLite opened by more than one connection (another pool class, a second "
            "engine): each has its own empty database",
            "one engine with `poolclass=StaticPool` for the whole run; or a shared-cache or file "
            "database",
            _ERR + "no-such-table-in-memory-sqlite",
        ),
        Rule(
            "SQA412",
            "pool-size-without-a-pool",
            "pool_size/max_overflow/pool_timeout for a pool that takes none (NullPool, the "
            "StaticPool of in-memory SQLite)",
            "size the pool only where the engine gets a QueuePool (server databases)",
            _ERR + "invalid-argument-pool_size-sent-to-create_engine-with-staticpool",
        ),
        Rule(
            "SQA413",
            "memory-database-default-pool",
            "named in-memory SQLite (mode=memory) without poolclass: one connection shared by "
            "every session",
            "name the pool: `poolclass=AsyncAdaptedQueuePool` (one connection per session) or "
            "`StaticPool`",
            _ERR + "selection-of-the-staticpool-pool-class-based-on-modememory-is-deprecated",
        ),
        Rule(
            "SQA414",
            "pooler-prepared-statements",
            "engine for a transaction pooler (port 6432/6543, pgbouncer) with prepared "
            "statements or startup settings on (heuristic)",
            "asyncpg: `connect_args={'statement_cache_size': 0, "
            "'prepared_statement_cache_size': 0}`; psycopg: `{'prepare_threshold': None}`; "
            "timeouts per transaction",
            _ERR + "prepared-statement-does-not-exist-behind-a-pooler",
            heuristic=True,
        ),
        Rule(
            "SQA415",
            "connect-args-other-driver",
            "connect_args of another PostgreSQL driver than the URL names: its connect() refuses "
            "them",
            "asyncpg: `server_settings`, `timeout`; psycopg: `options`, `connect_timeout` "
            "(build them from the URL's driver)",
            "references/drivers.md#connect-arguments-server_settings-or-options",
        ),
        Rule(
            "SQA501",
            "text-from-formatted-string",
            "text() SQL built with string formatting: SQL injection",
            "bound parameters: `text('... WHERE name = :name')`, `{'name': value}`",
            "references/queries.md#raw-sql-with-text",
        ),
        Rule(
            "SQA502",
            "like-without-autoescape",
            "LIKE pattern from a value that is not escaped: its % and _ match anything",
            "`Model.col.icontains(value, autoescape=True)` (startswith/endswith likewise)",
            _ERR + "like-wildcards-from-user-input",
        ),
        Rule(
            "SQA503",
            "unstable-pagination",
            "OFFSET paging ordered without a unique key: pages repeat and skip rows",
            "end the ORDER BY with a unique column (`Model.id`); prefer keyset pagination",
            _ERR + "pages-that-repeat-and-skip-rows",
        ),
        Rule(
            "SQA504",
            "python-operator-in-sql",
            "Python and/or/not/is on a column inside a SQL expression",
            "`and_()`, `or_()`, `not_()`, `.is_(None)`, `.is_not(None)`",
            _ERR + "python-and-is-none-inside-where",
        ),
        Rule(
            "SQA507",
            "string-for-uuid",
            "str given where a UUID column takes a uuid.UUID",
            "parse it first: `uuid.UUID(raw_id)` (a 404/422 when it is not a UUID)",
            _ERR + "str-object-has-no-attribute-hex-a-string-where-a-uuid-goes",
        ),
        Rule(
            "SQA505",
            "bulk-insert-maybe-empty",
            "bulk INSERT from a list that may be empty (INSERT ... DEFAULT VALUES)",
            "`if rows: await session.execute(insert(Model), rows)`",
            "references/performance.md#bulk-insert",
        ),
        Rule(
            "SQA506",
            "statement-per-item",
            "statement awaited once per item of a loop",
            "one statement for all items: `insert(M)` with a list of rows, `update(M)` with a "
            "list of dicts with primary keys, or `where(M.id.in_(ids))`",
            "references/performance.md#bulk-insert",
        ),
        Rule(
            "SQA601",
            "back-populates-mismatch",
            "back_populates names an attribute the other class does not have",
            "declare the relationship on both sides, each naming the other",
            _ERR + "mapper-has-no-property-back_populates",
        ),
        Rule(
            "SQA602",
            "ambiguous-foreign-keys",
            "relationship between tables joined by several foreign keys, none named",
            "`relationship(foreign_keys=[Model.author_id])`",
            _ERR + "ambiguousforeignkeyserror-multiple-foreign-key-paths",
        ),
        Rule(
            "SQA603",
            "no-primary-key",
            "mapped class without a primary key",
            "`id: Mapped[int] = mapped_column(primary_key=True)` (or a natural key)",
            _ERR + "could-not-assemble-any-primary-key-columns",
        ),
        Rule(
            "SQA604",
            "type-without-column-type",
            "Mapped[...] of a Python type that has no SQL type",
            "`mapped_column(JSON)`, or the type in the base's type_annotation_map",
            _ERR + "could-not-locate-sqlalchemy-core-type",
        ),
        Rule(
            "SQA605",
            "cascade-all",
            'cascade="all" in async code: refresh(parent) expires the loaded children too '
            "(refresh-expire)",
            "list the cascades: `cascade='save-update, merge, expunge, delete, delete-orphan'`",
            _ERR + "not-available-due-to-lazyraise-after-refresh",
        ),
        Rule(
            "SQA606",
            "float-money",
            "money in a float column (an amount by its name): floating point loses cents "
            "(heuristic)",
            "`Mapped[Decimal] = mapped_column(Numeric(12, 2))`",
            _ERR + "money-in-a-float-column",
            heuristic=True,
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    col: int
    code: str
    detail: str = ""

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def text(self) -> str:
        rule = self.rule
        message = f"{rule.message}: {self.detail}" if self.detail else rule.message
        where = f"{self.path}:{self.line}:{self.col}"
        return f"{where} {self.code} {message} ({rule.fix}; {rule.reference})"

    def as_dict(self) -> dict[str, object]:
        rule = self.rule
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "name": rule.name,
            "message": rule.message,
            "detail": self.detail,
            "fix": rule.fix,
            "reference": rule.reference,
            "heuristic": rule.heuristic,
        }


# ------------------------------------------------------------------------------ small helpers


def pos(node: ast.AST) -> Pos:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def end(node: ast.AST) -> Pos:
    line: int = getattr(node, "end_lineno", None) or pos(node)[0]
    col: int = getattr(node, "end_col_offset", None) or 0
    return (line, col)


def dotted(node: ast.AST | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def last_name(node: ast.AST | None) -> str | None:
    """The final name of ``a.b.c`` or ``c``; of a call, the called name."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def method_call(node: ast.AST | None) -> tuple[ast.expr, str, ast.Call] | None:
    """(receiver, method, call) for ``receiver.method(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value, node.func.attr, node
    return None


def kwarg(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def unwrap_await(node: ast.AST | None) -> ast.AST | None:
    return node.value if isinstance(node, ast.Await) else node


def names_in(node: ast.AST) -> Iterator[ast.Name]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub


NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function (or module) body, without descending into nested functions,
    classes or lambdas (their decorators and defaults belong to this scope and are included)."""
    stack: list[ast.AST] = list(reversed(list(_scope_children(node))))
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, NESTED_SCOPES):
            outer: list[ast.AST] = list(getattr(current, "decorator_list", []))
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                outer += [d for d in current.args.defaults + current.args.kw_defaults if d]
            if isinstance(current, ast.ClassDef):
                outer += current.bases + [k.value for k in current.keywords]
            stack.extend(reversed(outer))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(current))))


def _scope_children(node: ast.AST) -> Iterator[ast.AST]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        yield from node.body
    elif isinstance(node, ast.Lambda):
        yield node.body
    elif isinstance(node, ast.ClassDef | ast.Module):
        yield from node.body
    else:
        yield from ast.iter_child_nodes(node)


def strip_optional(annotation: ast.expr | None) -> ast.expr | None:
    """``X | None``, ``Optional[X]``, ``Annotated[X, ...]``, ``"X"`` -> ``X``."""
    node = annotation
    for _ in range(6):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            left, right = node.left, node.right
            node = right if _is_none(left) else left
        elif isinstance(node, ast.Subscript) and last_name(node.value) in ("Optional", "Annotated"):
            inner = node.slice
            node = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
        elif isinstance(node, ast.Subscript) and last_name(node.value) == "Union":
            inner = node.slice
            elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            rest = [e for e in elts if not _is_none(e)]
            node = rest[0] if len(rest) == 1 else None
        else:
            return node
    return node


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def annotation_args(annotation: ast.expr) -> list[ast.expr]:
    """The type arguments of ``X[a, b]``."""
    if isinstance(annotation, ast.Subscript):
        inner = annotation.slice
        return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    return []


# ------------------------------------------------------------------------------------ models

EAGER_LAZY = {"selectin", "joined", "subquery", "immediate", "noload", "dynamic", "write_only"}
JSON_TYPES = {"JSON", "JSONB"}
FLOAT_TYPES = {"Float", "FLOAT", "Double", "DOUBLE", "DOUBLE_PRECISION", "REAL"}
STRING_TYPES = {
    "String",
    "Text",
    "Unicode",
    "UnicodeText",
    "VARCHAR",
    "NVARCHAR",
    "CHAR",
    "NCHAR",
    "TEXT",
    "CITEXT",
    "AutoString",
}
COLUMN_CALLS = {"mapped_column", "Column", "column_property", "Field", "deferred"}
RELATIONSHIP_CALLS = {"relationship", "Relationship", "relation"}
SQL_SIDE_CALLS = {"text", "literal_column", "now", "current_timestamp", "localtimestamp"}


@dataclass
class Attr:
    name: str
    relationship: bool = False
    collection: bool | None = None
    lazy: str | None = None
    target: str | None = None
    back_populates: str | None = None
    foreign_keys_given: bool = False
    primary_key: bool = False
    unique: bool = False
    string: bool | None = None
    server_onupdate: bool = False
    foreign_table: str | None = None
    python_type: ast.expr | None = None  # the X of Mapped[X] for plain columns without a type
    has_sql_type: bool = False
    uuid: bool = False  # holds uuid.UUID values (Mapped[uuid.UUID], Uuid, UUID)
    deferred: bool = False  # loaded on first access: IO under asyncio
    json: bool = False  # a JSON column whose in-place changes are not tracked
    json_mutable: bool = False  # MutableDict/MutableList JSON: nested changes are not tracked
    float_type: bool = False  # binary floating point (Mapped[float], Float, Double, REAL)
    cascade_all: bool = False  # relationship(cascade="all, ...")
    innerjoin: bool = False  # relationship(innerjoin=True): joined eager loads use INNER JOIN
    node: ast.AST | None = None


@dataclass
class Model:
    name: str
    path: str
    node: ast.ClassDef
    bases: list[str]
    tablename: str | None = None
    attrs: dict[str, Attr] = field(default_factory=dict)
    eager_defaults: bool = False
    version_id: bool = False
    mapper_pk: bool = False  # primary key given in __mapper_args__, __table__ or __table_args__
    declared_table: bool = False  # __table__ = Table(...): columns come from elsewhere
    annotation_map: list[str] = field(default_factory=list)  # type_annotation_map keys
    is_declarative_base: bool = False


class ModuleInfo:
    """One parsed file: its tree, parents, imports and the models it defines."""

    def __init__(self, path: str, source: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.lines = source.splitlines()
        self.parents: dict[ast.AST, ast.AST] = {}
        # local name -> fully qualified import ("sqlalchemy.ext.asyncio.AsyncSession")
        self.imports: dict[str, str] = {}
        self.classes: list[ast.ClassDef] = []
        # obj refreshed or expired somewhere here: what the refresh-expire cascade acts on.
        self.refreshes = False
        self.backrefs: set[str] = set()  # relationship(backref="name"): attributes made elsewhere
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.ClassDef):
                self.classes.append(node)
            elif isinstance(node, ast.Call) and _refresh_call(node):
                self.refreshes = True
            elif isinstance(node, ast.keyword) and node.arg == "backref":
                self.backrefs.add(const_str(node.value) or "")
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        uses_asyncio = any(
            full.startswith(("sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio"))
            for full in self.imports.values()
        )
        # A sync program (a script with its own Session or engine): its mappings are sync code's.
        self.sync_only = not uses_asyncio and any(
            full in SYNC_SESSION_IMPORTS for full in self.imports.values()
        )
        self.module_aliases: dict[str, ast.expr] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    self.module_aliases[target.id] = stmt.value
            elif (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.value is not None
            ):
                self.module_aliases[stmt.target.id] = stmt.value
        self.models: list[Model] = []
        self.uses_serializable = bool(
            re.search(r"SERIALIZABLE|REPEATABLE READ", source)
            and re.search(r"isolation_level", source)
        )

    def imported_from(self, name: str, *modules: str) -> bool:
        full = self.imports.get(name, "")
        return any(full == m or full.startswith(m + ".") for m in modules)

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...]) -> ast.AST | None:
        current = self.parents.get(node)
        while current is not None and not isinstance(current, kinds):
            current = self.parents.get(current)
        return current

    def noqa(self, line: int) -> set[str]:
        if not 1 <= line <= len(self.lines):
            return set()
        match = re.search(r"#\s*noqa:\s*([A-Z0-9, ]+)", self.lines[line - 1])
        if not match:
            return set()
        return {code.strip() for code in match.group(1).split(",") if code.strip()}


class Project:
    """Every module checked in one run: mapped classes are looked up across all of them."""

    def __init__(self, modules: list[ModuleInfo]) -> None:
        self.modules = modules
        self.models_by_name: dict[str, list[Model]] = {}
        # Classes of the run that subclass AsyncSession: calling one makes a session.
        self.session_classes = {
            node.name
            for module in modules
            for node in module.tree.body
            if isinstance(node, ast.ClassDef)
            and any(last_name(b) == "AsyncSession" for b in node.bases)
        }
        # Mappings are async code's concern when the run uses the asyncio extension somewhere.
        self.uses_asyncio = any(
            full.startswith(("sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio"))
            for module in modules
            for full in module.imports.values()
        )
        for module in modules:
            collect_models(module)
            for model in module.models:
                self.models_by_name.setdefault(model.name, []).append(model)
        # Rules about kinds of columns run only when the run maps such a column.
        attrs = [a for ms in self.models_by_name.values() for m in ms for a in m.attrs.values()]
        self.maps_json = any(a.json or a.json_mutable for a in attrs)
        self.maps_uuid = any(a.uuid for a in attrs)

    def model(
        self, name: str | None, module: ModuleInfo, near: ast.AST | None = None
    ) -> Model | None:
        """The mapped class ``name`` as seen from ``module``: defined there (the nearest
        definition wins), imported from a module of the run, or unique among all of them."""
        if not name:
            return None
        candidates = self.models_by_name.get(name, [])
        here = [m for m in candidates if m.path == module.path]
        if here:
            if len(here) == 1:
                return here[0]
            # Several classes of that name in one file (defined inside functions): the one
            # in the same function, else the module-level one.
            functions = (ast.FunctionDef, ast.AsyncFunctionDef)
            scope = module.enclosing(near, functions) if near is not None else None
            for wanted in (scope, None):
                same = [m for m in here if module.enclosing(m.node, functions) is wanted]
                if same:
                    return same[-1]
            return None
        full = module.imports.get(name)
        if full and "." in full:
            suffix = full.rsplit(".", 1)[0].replace(".", "/")
            for model in candidates:
                stem = model.path[:-3] if model.path.endswith(".py") else model.path
                if stem.endswith(suffix) or stem.endswith(suffix + "/__init__"):
                    return model
        if len(candidates) == 1:
            return candidates[0]
        return None

    def attr(self, model: Model | None, name: str, depth: int = 0) -> Attr | None:
        """An attribute of a mapped class or of one of its bases (mixins included)."""
        if model is None or depth > 8:
            return None
        if name in model.attrs:
            return model.attrs[name]
        module = self.module_of(model)
        for base in model.bases:
            found = self.attr(self.model(base, module, model.node), name, depth + 1)
            if found is not None:
                return found
        return None

    def module_of(self, model: Model) -> ModuleInfo:
        for module in self.modules:
            if module.path == model.path:
                return module
        raise KeyError(model.path)

    def ancestors(self, model: Model) -> Iterator[Model]:
        seen: set[int] = set()
        stack = [model]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            yield current
            module = self.module_of(current)
            for base in current.bases:
                found = self.model(base, module, current.node)
                if found is not None:
                    stack.append(found)

    def bases_known(self, model: Model, depth: int = 0) -> bool:
        """Whether the class is mapped through a declarative base of the run and every base
        class on the way is known (a mixin from a library may add any column)."""
        if depth > 8:
            return False
        module = self.module_of(model)
        rooted = model.is_declarative_base
        for base in model.bases:
            if base in DECLARATIVE_ROOTS:
                continue
            alias = module.module_aliases.get(base)
            if isinstance(alias, ast.Call) and last_name(alias) in (
                "declarative_base",
                "generate_base",
            ):
                rooted = True
                continue
            found = self.model(base, module, model.node)
            if found is None or not self.bases_known(found, depth + 1):
                return False
            rooted = True
        return rooted

    def flag(self, model: Model, flag: str) -> bool:
        return any(getattr(m, flag) for m in self.ancestors(model))


DECLARATIVE_ROOTS = {"DeclarativeBase", "AsyncAttrs", "DeclarativeBaseNoMeta", "MappedAsDataclass"}


def collect_models(module: ModuleInfo) -> None:
    for node in module.classes:
        model = _model_from_class(module, node)
        if model is not None:
            module.models.append(model)


def _model_from_class(module: ModuleInfo, node: ast.ClassDef) -> Model | None:
    bases = [last_name(b) or "?" for b in node.bases]  # "?": Generic[T] and other expressions
    model = Model(node.name, module.path, node, bases)
    model.is_declarative_base = any(
        b in ("DeclarativeBase", "DeclarativeBaseNoMeta") for b in bases
    )
    mapped = model.is_declarative_base
    for stmt in _class_statements(node.body):
        target: ast.expr | None = None
        value: ast.expr | None = None
        annotation: ast.expr | None = None
        if isinstance(stmt, ast.AnnAssign):
            target, value, annotation = stmt.target, stmt.value, stmt.annotation
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        if not isinstance(target, ast.Name):
            continue
        name = target.id
        if name == "__tablename__":
            model.tablename = const_str(value)
            mapped = True
            continue
        if name == "__table__":
            model.declared_table = True
            mapped = True
            continue
        if name == "__mapper_args__" and isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values, strict=True):
                key_name = const_str(key)
                if key_name == "eager_defaults" and not (
                    isinstance(item, ast.Constant) and item.value is False
                ):
                    model.eager_defaults = True
                elif key_name == "version_id_col":
                    model.version_id = True
                elif key_name == "primary_key":
                    model.mapper_pk = True
            continue
        if name == "__table_args__" and value is not None:
            if any(last_name(c) == "PrimaryKeyConstraint" for c in ast.walk(value)):
                model.mapper_pk = True
            continue
        if name == "type_annotation_map" and isinstance(value, ast.Dict):
            model.annotation_map = [ast.unparse(k) for k in value.keys if k is not None]
            continue
        attr = _attr(module, name, annotation, value)
        if attr is not None:
            model.attrs[name] = attr
            mapped = True
    return model if mapped else None


def _class_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """A class body's statements, including those under if/else and try (TYPE_CHECKING)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _class_statements(stmt.body)
            yield from _class_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _class_statements(stmt.body)
        else:
            yield stmt


def _attr(
    module: ModuleInfo, name: str, annotation: ast.expr | None, value: ast.expr | None
) -> Attr | None:
    inner: ast.expr | None = None
    wrapper = None
    if annotation is not None:
        ann = annotation
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(ann, ast.Subscript):
            wrapper = last_name(ann.value)
            if wrapper in ("Mapped", "WriteOnlyMapped", "DynamicMapped"):
                inner = ann.slice
    call = value if isinstance(value, ast.Call) else None
    call_name = last_name(call) if call else None
    if wrapper is None and call_name not in COLUMN_CALLS | RELATIONSHIP_CALLS:
        return None
    attr = Attr(name, node=value or annotation)
    if wrapper in ("WriteOnlyMapped", "DynamicMapped"):
        attr.relationship = True
        attr.lazy = "write_only"
        return attr
    if call is not None and call_name in RELATIONSHIP_CALLS:
        attr.relationship = True
        lazy = kwarg(call, "lazy")
        attr.lazy = const_str(lazy) if lazy is not None else None
        kwargs = kwarg(call, "sa_relationship_kwargs")
        if isinstance(kwargs, ast.Dict):
            for key, item in zip(kwargs.keys, kwargs.values, strict=True):
                if const_str(key) == "lazy":
                    attr.lazy = const_str(item)
        attr.back_populates = const_str(kwarg(call, "back_populates"))
        attr.innerjoin = _true_kwarg(call, "innerjoin")
        cascade = const_str(kwarg(call, "cascade"))
        if isinstance(kwargs, ast.Dict):
            for key, item in zip(kwargs.keys, kwargs.values, strict=True):
                if const_str(key) == "cascade":
                    cascade = const_str(item)
        attr.cascade_all = cascade is not None and "all" in {
            part.strip() for part in cascade.lower().split(",")
        }
        attr.foreign_keys_given = any(
            kwarg(call, k) is not None for k in ("foreign_keys", "primaryjoin", "secondaryjoin")
        ) or bool(kwarg(call, "secondary"))
        uselist = kwarg(call, "uselist")
        if isinstance(uselist, ast.Constant):
            attr.collection = bool(uselist.value)
        if call.args:
            first = call.args[0]
            attr.target = const_str(first) or last_name(first)
        if inner is not None:
            target, collection = _relationship_target(inner)
            attr.target = attr.target or target
            if attr.collection is None:
                attr.collection = collection
        return attr
    # A column.
    column_calls: list[ast.Call] = []
    if call is not None and call_name in COLUMN_CALLS:
        column_calls.append(call)
    if inner is not None:
        alias = _annotated_alias(module, inner)
        if alias is not None:
            column_calls.extend(alias)
    python_type = strip_optional(inner) if inner is not None else None
    alias_name = last_name(python_type) if python_type is not None else None
    if alias_name and alias_name in module.module_aliases:
        python_type = strip_optional(_annotated_base(module.module_aliases[alias_name]))
    attr.python_type = python_type
    if python_type is not None and last_name(python_type) == "str":
        attr.string = True
    if python_type is not None and last_name(python_type) == "UUID":
        attr.uuid = True
    if python_type is not None and last_name(python_type) == "float":
        attr.float_type = True  # unless a column call below names an exact type
    for column in column_calls:
        flags = [kwarg(column, "deferred"), kwarg(column, "deferred_raiseload")]
        if last_name(column) == "deferred" or any(
            isinstance(flag, ast.Constant) and flag.value for flag in flags
        ):
            attr.deferred = True  # deferred_raiseload=True defers the column too
        type_args = [a for a in [*column.args, kwarg(column, "type_")] if a is not None]
        # Every type name in the type argument: JSON in MutableDict.as_mutable(JSON), in
        # JSON().with_variant(JSONB(), "postgresql")...
        sql_types = {
            last_name(sub)
            for a in type_args
            for sub in ast.walk(a)
            if isinstance(sub, ast.Name | ast.Attribute)
        }
        mutable = any(t and t.startswith("Mutable") for t in sql_types)
        if sql_types & JSON_TYPES:
            attr.json = not mutable
            attr.json_mutable = mutable
        if {last_name(a) for a in type_args} & FLOAT_TYPES:
            attr.float_type = True
        if {last_name(a) for a in type_args} & {"Uuid", "UUID"}:
            attr.uuid = True
        pk = kwarg(column, "primary_key")
        if isinstance(pk, ast.Constant) and pk.value:
            attr.primary_key = True
        unique = kwarg(column, "unique")
        if isinstance(unique, ast.Constant) and unique.value:
            attr.unique = True
        for arg in column.args:
            type_name = last_name(arg)
            if type_name in STRING_TYPES:
                attr.string = True
                attr.has_sql_type = True
            elif type_name == "ForeignKey" and isinstance(arg, ast.Call) and arg.args:
                target = const_str(arg.args[0])
                if target and "." in target:
                    attr.foreign_table = target.rsplit(".", 1)[0]
            elif (type_name is not None and type_name[:1].isupper()) or (
                isinstance(arg, ast.Call)
                and isinstance(arg.func, ast.Attribute)
                and any((last_name(sub) or "")[:1].isupper() for sub in ast.walk(arg.func.value))
            ):
                # JSON, Numeric(12, 2); MutableDict.as_mutable(JSON), JSON().with_variant(...)
                attr.has_sql_type = True
                if type_name not in STRING_TYPES and attr.string is None:
                    attr.string = False
        if kwarg(column, "type_") is not None or kwarg(column, "sa_column") is not None:
            attr.has_sql_type = True
        if type_args and not ({last_name(a) for a in type_args} & FLOAT_TYPES):
            attr.float_type = False  # Numeric(12, 2) under Mapped[float]: exact in the database
        onupdate = kwarg(column, "onupdate")
        if kwarg(column, "server_onupdate") is not None or _is_sql_expression(onupdate):
            attr.server_onupdate = True
    return attr


def _is_sql_expression(node: ast.expr | None) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = dotted(node.func) or ""
    return (
        name.startswith(("func.", "sa.func.", "sqlalchemy.func."))
        or last_name(node) in SQL_SIDE_CALLS
    )


def _annotated_base(value: ast.expr) -> ast.expr | None:
    if isinstance(value, ast.Subscript) and last_name(value.value) == "Annotated":
        args = annotation_args(value)
        return args[0] if args else None
    return value


def _annotated_alias(module: ModuleInfo, inner: ast.expr) -> list[ast.Call] | None:
    """``IntPK = Annotated[int, mapped_column(primary_key=True)]``: the mapped_column calls."""
    name = last_name(strip_optional(inner))
    value = module.module_aliases.get(name or "")
    if isinstance(value, ast.Subscript) and last_name(value.value) == "Annotated":
        return [a for a in annotation_args(value)[1:] if isinstance(a, ast.Call)]
    if isinstance(inner, ast.Subscript) and last_name(inner.value) == "Annotated":
        return [a for a in annotation_args(inner)[1:] if isinstance(a, ast.Call)]
    return None


def _relationship_target(inner: ast.expr) -> tuple[str | None, bool | None]:
    node = strip_optional(inner)
    if isinstance(node, ast.Subscript) and last_name(node.value) in (
        "list",
        "List",
        "set",
        "Set",
        "Sequence",
        "dict",
        "Dict",
    ):
        args = annotation_args(node)
        element = strip_optional(args[-1]) if args else None
        return last_name(element), True
    return last_name(node), False


# ----------------------------------------------------------------------------- name bindings


@dataclass(eq=False)
class Binding:
    name: str
    at: Pos  # the binding is visible from here on
    kind: str  # param | assign | with | for | def | import | comp
    value: ast.expr | None = None
    annotation: ast.expr | None = None
    node: ast.AST | None = None


class Scope:
    """A function (or module, or class body): its bindings, and its nodes by type."""

    def __init__(self, module: ModuleInfo, node: ast.AST, parent: Scope | None) -> None:
        self.module = module
        self.node = node
        self.parent = parent
        self.bindings: dict[str, list[Binding]] = {}
        self.nodes: list[ast.AST] = []
        self.children: list[Scope] = []
        self._by_type: dict[tuple[type[ast.AST], ...], list[ast.AST]] = {}
        self.is_async = isinstance(node, ast.AsyncFunctionDef)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            for arg in (
                args.posonlyargs
                + args.args
                + args.kwonlyargs
                + [a for a in (args.vararg, args.kwarg) if a]
            ):
                self._bind(Binding(arg.arg, (0, 0), "param", annotation=arg.annotation, node=arg))
        for sub in walk_scope(node):
            self.nodes.append(sub)
            self._collect(sub)

    def _bind(self, binding: Binding) -> None:
        self.bindings.setdefault(binding.name, []).append(binding)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, end(node), "assign", node.value, node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            self._bind(
                Binding(node.target.id, end(node), "assign", node.value, node.annotation, node)
            )
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            self._bind(Binding(node.target.id, end(node), "aug", None, None, node))
        elif isinstance(node, ast.NamedExpr):
            self._bind(Binding(node.target.id, end(node), "assign", node.value, None, node))
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind_target(
                        item.optional_vars, end(item.context_expr), "with", item.context_expr, node
                    )
        elif isinstance(node, ast.For | ast.AsyncFor):
            self._bind_target(node.target, end(node.iter), "for", node.iter, node)
        elif isinstance(node, ast.comprehension):
            comp = self.module.parents.get(node)
            at = pos(comp) if comp is not None else pos(node.iter)
            self._bind_target(node.target, at, "for", node.iter, node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._bind(Binding(node.name, pos(node), "def", None, None, node))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                self._bind(
                    Binding(
                        alias.asname or alias.name.split(".")[0],
                        pos(node),
                        "import",
                        None,
                        None,
                        node,
                    )
                )

    def _bind_target(
        self, target: ast.AST, at: Pos, kind: str, value: ast.expr | None, node: ast.AST
    ) -> None:
        if isinstance(target, ast.Name):
            self._bind(Binding(target.id, at, kind, value, None, node))
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                inner = element.value if isinstance(element, ast.Starred) else element
                self._bind_target(inner, at, "unpack", None, node)

    def lookup(self, name: str, at: Pos) -> Binding | None:
        best: Binding | None = None
        for binding in self.bindings.get(name, []):
            if binding.at <= at and (best is None or binding.at >= best.at):
                best = binding
        if best is not None:
            return best
        scope = self.parent
        while scope is not None:
            if not isinstance(scope.node, ast.ClassDef):
                found = scope.bindings.get(name)
                if found:
                    return found[-1]
            scope = scope.parent
        return None

    def owner(self, binding: Binding) -> Scope:
        scope: Scope | None = self
        while scope is not None:
            if binding in scope.bindings.get(binding.name, []):
                return scope
            scope = scope.parent
        return self

    def class_scope(self) -> Scope | None:
        scope = self.parent
        while scope is not None and not isinstance(scope.node, ast.ClassDef):
            if isinstance(scope.node, ast.Module):
                return None
            scope = scope.parent
        return scope

    def of_type(self, kind: type[ast.AST] | tuple[type[ast.AST], ...]) -> list[ast.AST]:
        """The scope's nodes of these types, in walk order (cached: every rule asks)."""
        key = kind if isinstance(kind, tuple) else (kind,)
        found = self._by_type.get(key)
        if found is None:
            found = [node for node in self.nodes if isinstance(node, key)]
            self._by_type[key] = found
        return found


def build_scopes(module: ModuleInfo) -> list[Scope]:
    scopes: list[Scope] = []

    def visit(node: ast.AST, parent: Scope | None) -> None:
        scope = Scope(module, node, parent)
        if parent is not None:
            parent.children.append(scope)
        scopes.append(scope)
        for sub in scope.nodes:
            if isinstance(sub, NESTED_SCOPES):
                visit(sub, scope)

    visit(module.tree, None)
    return scopes


# ------------------------------------------------------------------------------- value kinds


@dataclass(frozen=True)
class Kind:
    """What an expression holds, as far as the rules care."""

    type: str  # session | connection | engine | sessionmaker | scoped
    expire: bool | None = None  # expire_on_commit (sessions, sessionmakers); None: unknown
    in_begin: bool = False  # a session from Session.begin()
    created: bool = False  # made in the code at hand (not a parameter)


ANNOTATION_KINDS = {
    "AsyncSession": "session",
    "AsyncConnection": "connection",
    "AsyncEngine": "engine",
    "async_sessionmaker": "sessionmaker",
    "async_scoped_session": "scoped",
}
SESSION_ASYNC_METHODS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "get_one",
    "stream",
    "stream_scalars",
    "flush",
    "commit",
    "rollback",
    "close",
    "refresh",
    "merge",
    "delete",
    "connection",
    "run_sync",
    "invalidate",
    "reset",
    "exec",
}
CONNECTION_ASYNC_METHODS = {
    "execute",
    "scalar",
    "scalars",
    "stream",
    "stream_scalars",
    "exec_driver_sql",
    "commit",
    "rollback",
    "close",
    "run_sync",
    "start",
    "invalidate",
    "get_raw_connection",
}
DB_METHODS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "get_one",
    "stream",
    "stream_scalars",
    "flush",
    "refresh",
    "merge",
    "connection",
    "exec",
    "exec_driver_sql",
    "run_sync",
}


class Analyzer:
    """Infers what names hold inside one module, with the project's models at hand."""

    def __init__(self, project: Project, module: ModuleInfo, scopes: list[Scope]) -> None:
        self.project = project
        self.module = module
        self.scopes = scopes
        self.scope_of_node: dict[ast.AST, Scope] = {s.node: s for s in scopes}
        self._class_attr_cache: dict[tuple[int, str], Kind | None] = {}

    # -- kinds of expressions

    def kind(
        self, expr: ast.AST | None, scope: Scope, at: Pos | None = None, depth: int = 0
    ) -> Kind | None:
        if expr is None or depth > 12:
            return None
        at = at if at is not None else pos(expr)
        if isinstance(expr, ast.Await):
            inner = expr.value
            call = method_call(inner)
            if call is not None:
                receiver = self.kind(call[0], scope, at, depth + 1)
                if receiver and receiver.type == "session" and call[1] == "connection":
                    return Kind("connection", created=True)
                if receiver and receiver.type == "engine" and call[1] in ("connect", "begin"):
                    return Kind("connection", created=True)
            return None
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, at)
            return self.binding_kind(binding, scope, depth + 1) if binding else None
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
                return self.self_attr_kind(scope, expr.attr, depth + 1)
            return None
        if isinstance(expr, ast.Call):
            return self.call_kind(expr, scope, at, depth + 1)
        return None

    def binding_kind(self, binding: Binding, scope: Scope, depth: int) -> Kind | None:
        owner = scope.owner(binding)
        if binding.annotation is not None:
            found = self.annotation_kind(binding.annotation, owner, depth)
            if found is not None:
                return found
        if binding.kind == "param":
            node = binding.node
            if isinstance(node, ast.arg):
                default = self._param_default(owner, node)
                if (
                    isinstance(default, ast.Call)
                    and last_name(default) == "Depends"
                    and default.args
                ):
                    return self.dependency_kind(default.args[0], owner, depth)
            return None
        if binding.kind == "assign" and binding.value is not None:
            return self.kind(binding.value, owner, binding.at, depth + 1)
        if binding.kind == "with" and binding.value is not None:
            return self.kind(binding.value, owner, binding.at, depth + 1)
        return None

    def _param_default(self, scope: Scope, arg: ast.arg) -> ast.expr | None:
        node = scope.node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return None
        args = node.args
        positional = args.posonlyargs + args.args
        if arg in positional:
            index = positional.index(arg) - (len(positional) - len(args.defaults))
            return args.defaults[index] if index >= 0 else None
        if arg in args.kwonlyargs:
            return args.kw_defaults[args.kwonlyargs.index(arg)]
        return None

    def dependency_kind(self, dependency: ast.expr, scope: Scope, depth: int) -> Kind | None:
        """``Depends(get_session)``: what the dependency yields or returns."""
        binding = scope.lookup(last_name(dependency) or "", FAR)
        if binding is None or not isinstance(binding.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return None
        function = binding.node
        returns = self.annotation_kind(function.returns, scope, depth) if function.returns else None
        inner = self.scope_of_node.get(function)
        if inner is None:
            return returns
        for node in inner.nodes:
            if isinstance(node, ast.Yield | ast.Return) and node.value is not None:
                found = self.kind(node.value, inner, end(node), depth + 1)
                if found is not None:
                    return Kind(found.type, found.expire)
        if returns is not None and returns.type in ("session", "connection"):
            return returns
        return None

    def annotation_kind(
        self, annotation: ast.expr | None, scope: Scope, depth: int = 0
    ) -> Kind | None:
        node = strip_optional(annotation)
        if node is None or depth > 12:
            return None
        if isinstance(node, ast.Subscript):
            head = last_name(node.value)
            if head in ("AsyncIterator", "AsyncGenerator", "Iterator", "Generator"):
                return None
            node = node.value
        name = last_name(node)
        if name in ANNOTATION_KINDS:
            return Kind(ANNOTATION_KINDS[name])
        if isinstance(node, ast.Name):
            alias = self.module.module_aliases.get(node.id)
            if alias is not None and isinstance(
                alias, ast.Subscript | ast.Name | ast.Attribute | ast.BinOp
            ):
                return self.annotation_kind(alias, scope, depth + 1)
        return None

    def call_kind(self, call: ast.Call, scope: Scope, at: Pos, depth: int) -> Kind | None:
        name = last_name(call)
        if name in ("create_async_engine", "async_engine_from_config"):
            return Kind("engine", created=True)
        if name == "async_sessionmaker" or (name == "sessionmaker" and self._async_class(call)):
            return Kind("sessionmaker", self._expire(call), created=True)
        if name == "AsyncSession" or (name and self._project_session_class(name)):
            return Kind("session", self._expire(call), created=True)
        if name == "async_scoped_session":
            factory = self.kind(call.args[0], scope, at, depth + 1) if call.args else None
            return Kind("scoped", factory.expire if factory else None, created=True)
        called = method_call(call)
        if called is not None:
            receiver = self.kind(called[0], scope, at, depth + 1)
            if receiver is not None:
                if receiver.type == "sessionmaker" and called[1] == "begin":
                    return Kind("session", receiver.expire, in_begin=True, created=True)
                if receiver.type == "engine" and called[1] in ("connect", "begin"):
                    return Kind("connection", created=True)
                if receiver.type == "sessionmaker" and called[1] == "__call__":
                    return Kind("session", receiver.expire, created=True)
        else:
            factory = self.kind(call.func, scope, at, depth + 1)
            if factory is not None and factory.type in ("sessionmaker", "scoped"):
                return Kind("session", factory.expire, created=factory.type == "sessionmaker")
        # A function of the run whose return annotation says what it returns.
        if isinstance(call.func, ast.Name):
            binding = scope.lookup(call.func.id, at)
            if binding is not None and isinstance(
                binding.node, ast.FunctionDef | ast.AsyncFunctionDef
            ):
                returns = binding.node.returns
                found = self.annotation_kind(returns, scope, depth + 1) if returns else None
                if found is not None and found.type in ("engine", "sessionmaker"):
                    return found
        return None

    def _async_class(self, call: ast.Call) -> bool:
        return last_name(kwarg(call, "class_")) == "AsyncSession"

    def _project_session_class(self, name: str) -> bool:
        return name in self.project.session_classes

    def _expire(self, call: ast.Call) -> bool | None:
        value = kwarg(call, "expire_on_commit")
        if value is None:
            if any(k.arg is None for k in call.keywords):
                return None  # **kwargs may set it
            return True
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            return value.value
        return None

    def self_attr_kind(self, scope: Scope, attr: str, depth: int) -> Kind | None:
        klass = scope.class_scope()
        if klass is None or not isinstance(klass.node, ast.ClassDef):
            return None
        key = (id(klass.node), attr)
        if key in self._class_attr_cache:
            return self._class_attr_cache[key]
        self._class_attr_cache[key] = None
        found: Kind | None = None
        for stmt in klass.node.body:
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == attr
            ):
                found = self.annotation_kind(stmt.annotation, klass, depth + 1)
        if found is None:
            for child in klass.children:
                for node in child.nodes:
                    if isinstance(node, ast.AnnAssign | ast.Assign):
                        targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                        for target in targets:
                            if (
                                isinstance(target, ast.Attribute)
                                and target.attr == attr
                                and isinstance(target.value, ast.Name)
                                and target.value.id == "self"
                            ):
                                if isinstance(node, ast.AnnAssign):
                                    found = found or self.annotation_kind(
                                        node.annotation, child, depth + 1
                                    )
                                if found is None and node.value is not None:
                                    found = self.kind(node.value, child, end(node), depth + 1)
                                    if found is not None:
                                        found = Kind(found.type, found.expire)
                    if found is not None:
                        break
                if found is not None:
                    break
        self._class_attr_cache[key] = found
        return found

    def is_async_db(self, expr: ast.AST | None, scope: Scope, at: Pos | None = None) -> Kind | None:
        found = self.kind(expr, scope, at)
        return found if found is not None and found.type in ("session", "connection") else None

    def is_session(self, expr: ast.AST | None, scope: Scope, at: Pos | None = None) -> Kind | None:
        found = self.kind(expr, scope, at)
        return found if found is not None and found.type == "session" else None

    # -- identity of a name at a point (for "the same session")

    def identity(self, expr: ast.AST, scope: Scope, at: Pos | None = None) -> object | None:
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, at or pos(expr))
            return binding if binding is not None else None
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id == "self"
        ):
            return ("self", expr.attr)
        return None

    # -- statements

    def statement(self, expr: ast.AST | None, scope: Scope, depth: int = 0) -> Statement:
        info = Statement()
        self._statement(expr, scope, info, depth)
        return info

    def _statement(self, expr: ast.AST | None, scope: Scope, info: Statement, depth: int) -> None:
        if expr is None or depth > 20:
            info.root = None
            return
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                self._statement(binding.value, scope.owner(binding), info, depth + 1)
            else:
                info.root = None
            return
        if not isinstance(expr, ast.Call):
            info.root = None
            return
        name = last_name(expr)
        called = method_call(expr)
        if name in ("select", "insert", "update", "delete", "text") and (
            called is None
            or dotted(called[0])
            in ("sa", "sqlalchemy", "sqlmodel", "postgresql", "mysql", "sqlite", "sa.sql", "sql")
        ):
            info.root = name
            info.entities = list(expr.args)
            info.calls.append(expr)
            return
        if called is None:
            info.root = None
            return
        receiver, method, call = called
        self._statement(receiver, scope, info, depth + 1)
        info.calls.append(call)
        if method == "options":
            for arg in call.args:
                if isinstance(arg, ast.Starred) or not isinstance(arg, ast.Call):
                    info.options_unknown = True
                    continue
                for sub in ast.walk(arg):
                    if (
                        isinstance(sub, ast.Call)
                        and last_name(sub) == "joinedload"
                        and not _true_kwarg(sub, "innerjoin")
                    ):
                        info.outer_join = True  # joinedload() is a LEFT OUTER JOIN by default
                    if isinstance(sub, ast.Call) and last_name(sub) in LOADERS and sub.args:
                        info.loaders.extend((last_name(sub) or "", a) for a in sub.args)
                    elif isinstance(sub, ast.Call) and last_name(sub) in LOADERS:
                        info.options_unknown = True
        elif method == "order_by":
            if len(call.args) == 1 and _is_none(call.args[0]):
                info.order_by = []
            else:
                info.order_by = (info.order_by or []) + list(call.args)
                if any(isinstance(a, ast.Starred) for a in call.args):
                    info.order_unknown = True
        elif method in ("offset", "slice"):
            info.offset = call
        elif method == "limit":
            info.limit = call
        elif method == "execution_options":
            if kwarg(call, "yield_per") is not None or any(k.arg is None for k in call.keywords):
                info.yield_per = True
        elif method == "returning":
            info.returning = True
        elif method == "with_for_update":
            info.for_update = True
            info.lock_of = kwarg(call, "of") is not None
        elif method == "outerjoin" or (
            method == "join" and (_true_kwarg(call, "isouter") or _true_kwarg(call, "full"))
        ):
            info.outer_join = True
        elif method == "from_statement":
            info.root = info.root or "select"


LOADERS = {
    "undefer_group",
    "selectinload",
    "joinedload",
    "subqueryload",
    "immediateload",
    "lazyload",
    "raiseload",
    "noload",
    "defaultload",
    "contains_eager",
    "load_only",
    "selectin_polymorphic",
    "defer",
    "undefer",
    "Load",
}
LOADING = {
    "selectinload",
    "joinedload",
    "subqueryload",
    "immediateload",
    "contains_eager",
    "noload",
}


@dataclass
class Statement:
    """What a SQL statement built in the function at hand looks like."""

    root: str | None = "?"  # select/insert/update/delete/text; None when not visible
    entities: list[ast.expr] = field(default_factory=list)
    loaders: list[tuple[str, ast.expr]] = field(default_factory=list)
    options_unknown: bool = False
    order_by: list[ast.expr] | None = None
    order_unknown: bool = False
    offset: ast.Call | None = None
    limit: ast.Call | None = None
    yield_per: bool = False
    returning: bool = False
    for_update: bool = False
    lock_of: bool = False  # with_for_update(of=...)
    outer_join: bool = False  # an outer join: joinedload(), outerjoin(), join(isouter=True)
    calls: list[ast.Call] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.root not in (None, "?")

    def entity_name(self) -> str | None:
        if len(self.entities) == 1 and isinstance(self.entities[0], ast.Name):
            return self.entities[0].id
        return None


# -------------------------------------------------------------------------- the rule checker


class Checker:
    """Runs every rule over one module."""

    def __init__(self, project: Project, module: ModuleInfo) -> None:
        self.project = project
        self.module = module
        self.scopes = build_scopes(module)
        self.an = Analyzer(project, module, self.scopes)
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, int, str]] = set()

    def report(self, node: ast.AST, code: str, detail: str = "") -> None:
        line, col = pos(node)
        key = (line, col, code)
        if key in self._seen or code in self.module.noqa(line):
            return
        self._seen.add(key)
        self.findings.append(Finding(self.module.path, line, col + 1, code, detail))

    def run(self) -> list[Finding]:
        for scope in self.scopes:
            if isinstance(scope.node, ast.ClassDef):
                continue
            for check in (
                self.check_shared_session,
                self.check_engine_across_loops,
                self.check_engine_per_call,
                self.check_session_across_io,
                self.check_session_never_closed,
                self.check_missing_await,
                self.check_relationship_not_loaded,
                self.check_read_after_commit,
                self.check_server_value_after_flush,
                self.check_get_options_ignored,
                self.check_statement_execution,
                self.check_begin_blocks,
                self.check_begin_after_autobegin,
                self.check_no_rollback,
                self.check_object_in_two_sessions,
                self.check_refresh_before_flush,
                self.check_results,
                self.check_enum_value_in_its_transaction,
                self.check_driver_exception,
                self.check_lost_update,
                self.check_json_in_place,
                self.check_sync_api,
                self.check_events,
                self.check_urls,
                self.check_get_bind,
                self.check_text_formatting,
                self.check_like,
                self.check_pagination,
                self.check_python_operators,
                self.check_string_for_uuid,
                self.check_statement_per_item,
            ):
                check(scope)
        self.check_mappings()
        return sorted(self.findings, key=lambda f: (f.line, f.col, f.code))

    # ------------------------------------------------------------------ SQA101 shared session

    def _db_names(self, expr: ast.AST, scope: Scope, at: Pos, depth: int = 0) -> set[object]:
        """Sessions/connections an awaitable expression uses: as receiver, as argument, or
        through the free variables of a local function it calls."""
        found: set[object] = set()
        for name in names_in(expr):
            if self.an.is_async_db(name, scope, at):
                ident = self.an.identity(name, scope, at)
                if ident is not None:
                    found.add(ident)
        for sub in ast.walk(expr):
            if (
                isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == "self"
            ) and self.an.is_async_db(sub, scope, at):
                found.add(("self", sub.attr))
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and depth < 3:
                binding = scope.lookup(sub.func.id, at)
                if binding is not None and isinstance(
                    binding.node, ast.FunctionDef | ast.AsyncFunctionDef
                ):
                    inner = self.an.scope_of_node.get(binding.node)
                    if (
                        inner is not None
                        and inner.parent is not None
                        and not isinstance(inner.parent.node, ast.Module)
                    ):
                        for node in inner.nodes:
                            if (
                                isinstance(node, ast.Name)
                                and node.id not in inner.bindings
                                and self.an.is_async_db(node, inner, pos(node))
                            ):
                                ident = self.an.identity(node, inner, pos(node))
                                if ident is not None:
                                    found.add(ident)
        return found

    def _awaitables(self, call: ast.Call, scope: Scope) -> list[tuple[ast.expr, bool]]:
        """The awaitables given to gather(): (expression, whether it stands for many)."""
        items: list[tuple[ast.expr, bool]] = []
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                items.extend(self._many(arg.value, scope, 0))
            else:
                items.append((arg, False))
        return items

    def _many(self, expr: ast.expr, scope: Scope, depth: int) -> list[tuple[ast.expr, bool]]:
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return [(e, False) for e in expr.elts]
        if isinstance(expr, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            return [(expr.elt, True)]
        if isinstance(expr, ast.Call) and last_name(expr) in ("list", "tuple") and expr.args:
            return self._many(expr.args[0], scope, depth + 1)
        if isinstance(expr, ast.Name) and depth < 4:
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._many(binding.value, scope.owner(binding), depth + 1)
        return []

    def check_shared_session(self, scope: Scope) -> None:
        task_calls: list[tuple[ast.Call, set[object], bool]] = []
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = last_name(node)
            if name in ("gather", "wait", "as_completed") and (dotted(node.func) or "").startswith(
                ("asyncio.", "gather", "wait", "as_completed")
            ):
                counts: dict[object, int] = {}
                for item, many in self._awaitables(node, scope):
                    for ident in self._db_names(item, scope, pos(node)):
                        counts[ident] = counts.get(ident, 0) + (2 if many else 1)
                if any(n >= 2 for n in counts.values()):
                    self.report(node, "SQA101")
            elif name in ("create_task", "ensure_future", "start_soon") and node.args:
                used = self._db_names(node.args[0], scope, pos(node))
                if used:
                    in_loop = self.module.enclosing(
                        node, (ast.For, ast.AsyncFor, ast.While, ast.comprehension, *NESTED_SCOPES)
                    )
                    task_calls.append(
                        (
                            node,
                            used,
                            isinstance(
                                in_loop, ast.For | ast.AsyncFor | ast.While | ast.comprehension
                            ),
                        )
                    )
        for index, (call, used, many) in enumerate(task_calls):
            others: set[object] = set()
            for other_index, (_, other_used, _) in enumerate(task_calls):
                if other_index != index:
                    others |= other_used
            if many or used & others or self._used_while_task_runs(call, used, scope):
                self.report(call, "SQA101")

    def _used_while_task_runs(self, call: ast.Call, used: set[object], scope: Scope) -> bool:
        """After create_task(...uses S...), S is used again before the task is awaited."""
        parent = self.module.parents.get(call)
        task_binding: Binding | None = None
        if (
            isinstance(parent, ast.Assign)
            and len(parent.targets) == 1
            and isinstance(parent.targets[0], ast.Name)
        ):
            task_binding = scope.lookup(parent.targets[0].id, end(parent))
        task_awaited_at: Pos = FAR
        if task_binding is not None:
            for node in scope.of_type(ast.Await):
                assert isinstance(node, ast.Await)
                if pos(node) > end(call) and any(
                    scope.lookup(n.id, pos(n)) is task_binding for n in names_in(node.value)
                ):
                    task_awaited_at = min(task_awaited_at, pos(node))
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None or not end(call) < pos(node) < task_awaited_at:
                continue
            ident = self.an.identity(called[0], scope, pos(node))
            if ident in used and called[1] in SESSION_ASYNC_METHODS | CONNECTION_ASYNC_METHODS:
                return True
        return False

    # ------------------------------------------------------------- SQA102 engine across loops

    def check_engine_across_loops(self, scope: Scope) -> None:
        seen: dict[object, ast.Call] = {}
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = dotted(node.func) or ""
            if not (
                name in ("asyncio.run", "anyio.run", "trio.run")
                or name.endswith("run_until_complete")
            ):
                continue
            if not node.args:
                continue
            engines = self._engines_reached(node.args[0], scope, set())
            for engine in engines:
                if engine in seen:
                    self.report(node, "SQA102")
                else:
                    seen[engine] = node

    def _engines_reached(self, expr: ast.AST, scope: Scope, visited: set[int]) -> set[object]:
        found: set[object] = set()
        for name in names_in(expr):
            binding = scope.lookup(name.id, pos(name))
            if binding is None:
                continue
            if binding.kind == "assign" and self.an.kind(
                binding.value, scope.owner(binding), binding.at
            ) == Kind("engine", created=True):
                found.add(binding)
            elif (
                isinstance(binding.node, ast.FunctionDef | ast.AsyncFunctionDef)
                and id(binding.node) not in visited
            ):
                visited.add(id(binding.node))
                inner = self.an.scope_of_node.get(binding.node)
                if inner is None:
                    continue
                for node in inner.nodes:
                    if isinstance(node, ast.Name) and node.id not in inner.bindings:
                        found |= self._engines_reached(node, inner, visited)
        return found

    # ----------------------------------------------------------------- SQA103 engine per call

    def check_engine_per_call(self, scope: Scope) -> None:
        node_fn = scope.node
        if not isinstance(node_fn, ast.FunctionDef | ast.AsyncFunctionDef):
            return
        route = any(
            isinstance(d, ast.Call) and last_name(d) in ROUTE_DECORATORS
            for d in node_fn.decorator_list
        )
        if any(
            "fixture" in (dotted(d.func if isinstance(d, ast.Call) else d) or "")
            for d in node_fn.decorator_list
        ):
            return  # a test fixture: one engine per test (or per session) is the point
        yields_session = any(
            isinstance(n, ast.Yield)
            and n.value is not None
            and self.an.is_async_db(n.value, scope, end(n))
            for n in scope.nodes
        )
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            if last_name(node) not in ("create_async_engine", "async_engine_from_config"):
                continue
            loop = self.module.enclosing(node, (ast.For, ast.AsyncFor, ast.While, *NESTED_SCOPES))
            if route or yields_session or isinstance(loop, ast.For | ast.AsyncFor | ast.While):
                self.report(node, "SQA103", "inside a request handler or loop")
                continue
            parent = self.module.parents.get(node)
            if not (
                isinstance(parent, ast.Assign)
                and len(parent.targets) == 1
                and isinstance(parent.targets[0], ast.Name)
            ):
                continue
            binding = scope.lookup(parent.targets[0].id, end(parent))
            if binding is None or not self._engine_leaks(binding, scope):
                continue
            self.report(node, "SQA103", "never disposed")

    def _engine_leaks(self, binding: Binding, scope: Scope) -> bool:
        """The engine is only used here: never disposed, returned, stored or handed on."""
        for node in scope.nodes:
            if (
                isinstance(node, ast.Name)
                and node.id == binding.name
                and scope.lookup(node.id, pos(node)) is binding
            ):
                parent = self.module.parents.get(node)
                if isinstance(parent, ast.Attribute):
                    if parent.attr in ("dispose", "sync_engine"):
                        return False
                    continue
                if isinstance(parent, ast.Call) and last_name(parent) in (
                    "async_sessionmaker",
                    "AsyncSession",
                    "sessionmaker",
                ):
                    continue
                if isinstance(parent, ast.keyword):
                    grand = self.module.parents.get(parent)
                    if isinstance(grand, ast.Call) and last_name(grand) in (
                        "async_sessionmaker",
                        "AsyncSession",
                        "sessionmaker",
                    ):
                        continue
                return False
            if self._closure_uses(node, binding):
                return False
        return True

    # ----------------------------------------------------------- SQA104 session held across IO

    def check_session_across_io(self, scope: Scope) -> None:
        if not scope.is_async:
            return
        for with_node in scope.of_type(ast.AsyncWith):
            assert isinstance(with_node, ast.AsyncWith)
            sessions: list[tuple[object, bool]] = []
            for item in with_node.items:
                kind = self.an.kind(item.context_expr, scope, end(item.context_expr))
                if kind is not None and kind.type == "session" and item.optional_vars is not None:
                    ident = self.an.identity(
                        item.optional_vars, scope, end(with_node.items[-1].context_expr)
                    )
                    sessions.append((ident, kind.in_begin))
                called = method_call(item.context_expr)
                if called and called[1] == "begin" and self.an.is_session(called[0], scope):
                    ident = self.an.identity(called[0], scope, pos(item.context_expr))
                    sessions.append((ident, True))
            if not sessions:
                continue
            idents = {ident for ident, _ in sessions}
            started: Pos | None = None
            for node in self._body_nodes(with_node.body):
                if isinstance(node, ast.Await):
                    called = method_call(node.value)
                    if (
                        called
                        and called[1] in DB_METHODS
                        and self.an.identity(called[0], scope, pos(node)) in idents
                    ):
                        started = started or pos(node)
                        continue
                    if started is not None and self._is_foreign_io(node.value, scope):
                        self.report(node, "SQA104", ast.unparse(node.value)[:60])
                        break

    def _body_nodes(self, body: list[ast.stmt]) -> Iterator[ast.AST]:
        """Nodes of a block in source order, not entering nested functions."""
        nodes: list[ast.AST] = []
        for stmt in body:
            nodes.append(stmt)
            nodes.extend(walk_scope_stmt(stmt))
        nodes.sort(key=pos)
        yield from nodes

    def _is_foreign_io(self, expr: ast.AST, scope: Scope) -> bool:
        if not isinstance(expr, ast.Call):
            return False
        name = dotted(expr.func) or ""
        if name in FOREIGN_IO_CALLS:
            return True
        called = method_call(expr)
        if called is None:
            return False
        receiver = (dotted(called[0]) or "").lower()
        last = receiver.rsplit(".", 1)[-1]
        return bool(
            called[1] in HTTP_METHODS
            and any(word in last for word in ("client", "http", "requests"))
        )

    # --------------------------------------------------------------- SQA105 session not closed

    def check_session_never_closed(self, scope: Scope) -> None:
        if not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return
        for node in scope.of_type(ast.Assign):
            assert isinstance(node, ast.Assign)
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                continue
            if not isinstance(node.value, ast.Call):
                continue
            kind = self.an.kind(node.value, scope, pos(node))
            if kind is None or kind.type != "session" or not kind.created:
                continue
            binding = scope.lookup(node.targets[0].id, end(node))
            if binding is None or self._session_escapes(binding, scope):
                continue
            if self._holds_connection(binding, scope):
                self.report(node, "SQA105", node.targets[0].id)

    def _holds_connection(self, binding: Binding, scope: Scope) -> bool:
        """A statement ran outside a begin() block and no commit/rollback came after it: the
        session still holds its pooled connection when it is dropped."""
        last_use: Pos | None = None
        ended: Pos | None = None
        for node in scope.of_type(ast.Await):
            assert isinstance(node, ast.Await)
            called = method_call(node.value)
            if (
                called is None
                or not isinstance(called[0], ast.Name)
                or called[0].id != binding.name
            ):
                continue
            if scope.lookup(binding.name, pos(node)) is not binding:
                continue
            if called[1] in DB_METHODS and not self._inside_begin(node, binding.name):
                last_use = max(last_use or pos(node), pos(node))
            elif called[1] in ("commit", "rollback"):
                ended = max(ended or pos(node), pos(node))
        return last_use is not None and (ended is None or ended < last_use)

    def _inside_begin(self, node: ast.AST, name: str) -> bool:
        current = self.module.parents.get(node)
        while current is not None and not isinstance(current, NESTED_SCOPES):
            if isinstance(current, ast.AsyncWith):
                for item in current.items:
                    called = method_call(item.context_expr)
                    if (
                        called
                        and called[1] == "begin"
                        and isinstance(called[0], ast.Name)
                        and called[0].id == name
                    ):
                        return True
            current = self.module.parents.get(current)
        return False

    def _session_escapes(self, binding: Binding, scope: Scope) -> bool:
        for node in scope.nodes:
            if not (isinstance(node, ast.Name) and node.id == binding.name):
                continue
            if scope.lookup(node.id, pos(node)) is not binding:
                continue
            parent = self.module.parents.get(node)
            if isinstance(parent, ast.Attribute):
                if parent.attr in ("close", "aclose", "__aenter__", "remove"):
                    return True
                continue
            if isinstance(parent, ast.withitem):
                return True
            return True  # returned, yielded, stored or handed to a call: someone else closes it
        return any(self._closure_uses(node, binding) for node in scope.nodes)

    def _closure_uses(self, node: ast.AST, binding: Binding) -> bool:
        """True when ``node`` is a nested function or lambda that reads ``binding`` as a
        closure variable (a name it does not bind itself)."""
        if not isinstance(node, NESTED_SCOPES):
            return False
        inner = self.an.scope_of_node.get(node)
        return inner is not None and any(
            isinstance(n, ast.Name) and n.id == binding.name and n.id not in inner.bindings
            for n in inner.nodes
        )

    # ------------------------------------------------------------------- SQA106 missing await

    def check_missing_await(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None:
                continue
            receiver, method, _ = called
            if method not in SESSION_ASYNC_METHODS | CONNECTION_ASYNC_METHODS | {"dispose"}:
                continue
            parent = self.module.parents.get(node)
            if isinstance(parent, ast.Await):
                continue
            kind = self.an.kind(receiver, scope, pos(node))
            if kind is None:
                continue
            methods = {
                "session": SESSION_ASYNC_METHODS,
                "connection": CONNECTION_ASYNC_METHODS,
                "engine": {"dispose"},
            }.get(kind.type, set())
            if method not in methods:
                continue
            if isinstance(parent, ast.Expr) or (
                isinstance(parent, ast.Assign)
                and len(parent.targets) == 1
                and isinstance(parent.targets[0], ast.Name)
                and self._coroutine_used_as_value(parent.targets[0].id, parent, scope)
            ):
                self.report(node, "SQA106", f"{ast.unparse(node.func)}()")

    def _coroutine_used_as_value(self, name: str, assign: ast.Assign, scope: Scope) -> bool:
        binding = scope.lookup(name, end(assign))
        used = False
        for node in scope.nodes:
            if (
                isinstance(node, ast.Name)
                and node.id == name
                and scope.lookup(name, pos(node)) is binding
                and pos(node) > end(assign)
            ):
                parent = self.module.parents.get(node)
                if isinstance(parent, ast.Await) or (
                    isinstance(parent, ast.Call) and last_name(parent) in AWAITING_CALLS
                ):
                    return False
                if isinstance(
                    parent, ast.Starred | ast.List | ast.Tuple | ast.Return | ast.keyword
                ):
                    return False
                if isinstance(parent, ast.Call) and node in parent.args:
                    return False
                if isinstance(parent, (ast.Attribute | ast.Subscript, ast.For | ast.comprehension)):
                    used = True
        return used

    # -------------------------------------------------------- SQA201 relationship not loaded

    def orm_origin(self, name: ast.Name, scope: Scope, depth: int = 0) -> Origin | None:
        """Where the object held by ``name`` came from, when it came from a query or a
        constructor in this function."""
        binding = scope.lookup(name.id, pos(name))
        if binding is None or depth > 6:
            return None
        owner = scope.owner(binding)
        if owner is not scope:
            return None  # a closure variable: its history is elsewhere
        if binding.kind == "assign" and binding.value is not None:
            return self._origin_of_value(binding.value, scope, binding, depth)
        if binding.kind == "for" and binding.value is not None:
            rows = self._origin_of_rows(binding.value, scope, depth)
            if rows is not None:
                return Origin(
                    rows.model, rows.session, rows.statement, binding, rows.via, rows.node
                )
        if binding.kind == "with" and binding.value is not None:
            return None
        return None

    def _origin_of_value(
        self, value: ast.expr, scope: Scope, binding: Binding, depth: int
    ) -> Origin | None:
        value_inner = unwrap_await(value)
        # Model(...) constructor
        if isinstance(value_inner, ast.Call) and isinstance(value_inner.func, ast.Name):
            model = self.project.model(value_inner.func.id, self.module, value_inner)
            if model is not None and not isinstance(value, ast.Await):
                return Origin(model, None, None, binding, "new", value_inner)
        # await S.get(M, ...)
        if isinstance(value, ast.Await):
            called = method_call(value.value)
            if called is not None:
                receiver, method, call = called
                if (
                    method in ("get", "get_one")
                    and call.args
                    and self.an.is_session(receiver, scope, pos(call))
                ):
                    model = self.project.model(last_name(call.args[0]), self.module, call)
                    statement = Statement(root="select")
                    options = kwarg(call, "options")
                    if isinstance(options, ast.List | ast.Tuple):
                        for item in options.elts:
                            for sub in ast.walk(item):
                                if (
                                    isinstance(sub, ast.Call)
                                    and last_name(sub) in LOADERS
                                    and sub.args
                                ):
                                    name = last_name(sub) or ""
                                    statement.loaders.extend((name, a) for a in sub.args)
                    elif options is not None:
                        statement.options_unknown = True
                    wfu = kwarg(call, "with_for_update")
                    statement.for_update = wfu is not None and not (
                        isinstance(wfu, ast.Constant) and not wfu.value
                    )
                    return Origin(model, receiver, statement, binding, "get", call)
                if (
                    method == "scalar"
                    and call.args
                    and self.an.is_session(receiver, scope, pos(call))
                ):
                    statement = self.an.statement(call.args[0], scope)
                    if statement.root == "select":
                        model = self.project.model(statement.entity_name(), self.module, call)
                        return Origin(model, receiver, statement, binding, "query", call)
        # (await S.execute(stmt)).scalar_one() and friends; result.scalar_one()
        called = method_call(value_inner)
        if called is not None and called[1] in ONE_ROW:
            rows = self._origin_of_rows(called[0], scope, depth, one=True)
            if rows is not None:
                return Origin(
                    rows.model, rows.session, rows.statement, binding, rows.via, rows.node
                )
        return None

    def _origin_of_rows(
        self, expr: ast.expr, scope: Scope, depth: int, one: bool = False
    ) -> Origin | None:
        """Rows of ORM objects: ``await S.scalars(stmt)``, ``(await S.execute(stmt)).scalars()``,
        ``.all()`` of those, or a name bound to one of them."""
        node: ast.AST = expr
        for _ in range(4):
            called = method_call(node)
            if called is not None and called[1] in (
                "all",
                "scalars",
                "unique",
                "fetchall",
                "first",
                "one",
                "one_or_none",
            ):
                node = called[0]
                continue
            break
        if isinstance(node, ast.Name) and depth < 6:
            binding = scope.lookup(node.id, pos(node))
            if (
                binding is not None
                and binding.kind == "assign"
                and binding.value is not None
                and scope.owner(binding) is scope
            ):
                return self._origin_of_rows(binding.value, scope, depth + 1, one)
            return None
        if isinstance(node, ast.Await):
            called = method_call(node.value)
            if (
                called is not None
                and called[1] in ("scalars", "execute", "stream_scalars")
                and called[2].args
            ):
                receiver, _, call = called
                if self.an.is_session(receiver, scope, pos(call)):
                    statement = self.an.statement(call.args[0], scope)
                    if statement.root == "select":
                        model = self.project.model(statement.entity_name(), self.module, call)
                        return Origin(model, receiver, statement, None, "query", call)
        return None

    def _loaded_attribute_reads(
        self, scope: Scope
    ) -> Iterator[tuple[ast.Attribute, ast.Name, Origin, Model]]:
        """``obj.attr`` reads in async code where ``obj`` came from a query or ``get()`` in this
        function (not a constructor): (the read, ``obj``, where it came from, its model)."""
        if not scope.is_async:
            return
        for node in scope.of_type(ast.Attribute):
            assert isinstance(node, ast.Attribute)
            if not isinstance(node.value, ast.Name) or not isinstance(node.ctx, ast.Load):
                continue
            origin = self.orm_origin(node.value, scope)
            if origin is None or origin.via == "new" or origin.model is None:
                continue
            yield node, node.value, origin, origin.model

    def check_relationship_not_loaded(self, scope: Scope) -> None:
        for node, obj, origin, model in self._loaded_attribute_reads(scope):
            if origin.statement is None:
                continue
            attr = self.project.attr(model, node.attr)
            statement = origin.statement
            if attr is None or statement.options_unknown:
                continue
            if attr.relationship:
                # A many-to-one declared raise_on_sql is answered from the identity map when
                # its target is loaded: whether it is depends on the run, not on this source.
                if attr.lazy == "raise_on_sql" and attr.collection is not True:
                    continue
                if attr.lazy in EAGER_LAZY or any(
                    loader in LOADING and self._names_attr(target, node.attr)
                    for loader, target in statement.loaders
                ):
                    continue
            elif not self._column_deferred(attr, statement):
                continue
            if self._loaded_later(node, origin, scope) or self._catches_load_error(node):
                continue
            self.report(node, "SQA201", f"{obj.id}.{node.attr}")

    def _column_deferred(self, attr: Attr, statement: Statement) -> bool:
        """A column the query leaves unloaded: deferred in the model (and not undeferred), or
        left out of a load_only()."""
        if any(
            loader in ("undefer", "undefer_group") and self._names_attr(target, attr.name)
            for loader, target in statement.loaders
        ) or any(loader == "undefer_group" for loader, _ in statement.loaders):
            return False
        if attr.deferred or any(
            loader == "defer" and self._names_attr(target, attr.name)
            for loader, target in statement.loaders
        ):
            return True
        only = [target for loader, target in statement.loaders if loader == "load_only"]
        return (
            bool(only)
            and not attr.primary_key
            and not any(self._names_attr(target, attr.name) for target in only)
        )

    def _names_attr(self, target: ast.expr, attr: str) -> bool:
        if isinstance(target, ast.Attribute):
            return target.attr == attr
        value = const_str(target)
        return value is not None and (value == attr or value == "*")

    def _loaded_later(self, use: ast.Attribute, origin: Origin, scope: Scope) -> bool:
        """refresh(obj, [...'rel'...]), obj.rel assigned, or awaitable_attrs, before the read."""
        start = origin.binding.at if origin.binding else (0, 0)
        assert isinstance(use.value, ast.Name)
        name = use.value.id
        for node in scope.nodes:
            if not start <= pos(node) < pos(use):
                continue
            called = method_call(node)
            if called is not None and called[1] == "refresh" and called[2].args:
                first = called[2].args[0]
                if isinstance(first, ast.Name) and first.id == name:
                    names = (
                        called[2].args[1]
                        if len(called[2].args) > 1
                        else kwarg(called[2], "attribute_names")
                    )
                    if names is not None and any(const_str(n) == use.attr for n in ast.walk(names)):
                        return True
            if (
                isinstance(node, ast.Attribute)
                and node.attr == use.attr
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "awaitable_attrs"
            ):
                return True
            if (
                (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and node.attr == use.attr
                )
                and isinstance(node.value, ast.Name)
                and node.value.id == name
            ):
                return True
        return False

    def _catches_load_error(self, node: ast.AST) -> bool:
        current = self.module.parents.get(node)
        child: ast.AST = node
        while current is not None and not isinstance(current, NESTED_SCOPES):
            if isinstance(current, ast.Try) and child in current.body:
                for handler in current.handlers:
                    names = (
                        {last_name(n) for n in ast.walk(handler.type)} if handler.type else set()
                    )
                    if names & {
                        "InvalidRequestError",
                        "MissingGreenlet",
                        "DetachedInstanceError",
                        "StatementError",
                    }:
                        return True
            child, current = current, self.module.parents.get(current)
        return False

    # ----------------------------------------------------------- SQA202 read after commit

    def check_read_after_commit(self, scope: Scope) -> None:
        if not scope.is_async:
            return
        commits: list[tuple[Pos, object]] = []  # (where, session identity)
        for node in scope.of_type(ast.Await):
            assert isinstance(node, ast.Await)
            called = method_call(node.value)
            if called is not None and called[1] == "commit":
                kind = self.an.is_session(called[0], scope, pos(node))
                if kind is not None and kind.expire is True:
                    commits.append((end(node), self.an.identity(called[0], scope, pos(node))))
        for with_node in scope.of_type(ast.AsyncWith):
            assert isinstance(with_node, ast.AsyncWith)
            for item in with_node.items:
                kind = self.an.kind(item.context_expr, scope, end(item.context_expr))
                if (
                    kind is not None
                    and kind.type == "session"
                    and kind.in_begin
                    and kind.expire is True
                ) and item.optional_vars is not None:
                    ident = self.an.identity(item.optional_vars, scope, end(item.context_expr))
                    commits.append((end(with_node), ident))
                called = method_call(item.context_expr)
                if called and called[1] == "begin":
                    session_kind = self.an.is_session(called[0], scope, pos(item.context_expr))
                    if session_kind is not None and session_kind.expire is True:
                        commits.append(
                            (
                                end(with_node),
                                self.an.identity(called[0], scope, pos(item.context_expr)),
                            )
                        )
        if not commits:
            return
        for node in scope.of_type(ast.Attribute):
            assert isinstance(node, ast.Attribute)
            if not isinstance(node.value, ast.Name) or not isinstance(node.ctx, ast.Load):
                continue
            if node.attr.startswith("__") or node.attr == "awaitable_attrs":
                continue
            parent = self.module.parents.get(node)
            if isinstance(parent, ast.Call) and parent.func is node:
                continue
            objects = self._session_objects(node.value, scope)
            if objects is None:
                continue
            model, session, since = objects
            if model is None or self.project.attr(model, node.attr) is None:
                continue
            for at, ident in commits:
                if (
                    ident == session
                    and since <= at <= pos(node)
                    and not self._refreshed(node.value.id, at, pos(node), scope)
                ):
                    self.report(node, "SQA202", f"{node.value.id}.{node.attr}")
                    break

    def _session_objects(
        self, name: ast.Name, scope: Scope
    ) -> tuple[Model | None, object, Pos] | None:
        """(model, session identity, from when) for an object added to or loaded by a session."""
        binding = scope.lookup(name.id, pos(name))
        if binding is None or scope.owner(binding) is not scope:
            return None
        origin = self.orm_origin(name, scope)
        if origin is not None and origin.session is not None:
            return (
                origin.model,
                self.an.identity(origin.session, scope, pos(origin.node)),
                binding.at,
            )
        if origin is not None and origin.via == "new":
            for node in scope.of_type(ast.Call):
                assert isinstance(node, ast.Call)
                called = method_call(node)
                if called is None or called[1] not in ("add", "add_all") or pos(node) < binding.at:
                    continue
                mentions = any(isinstance(n, ast.Name) and n.id == name.id for n in ast.walk(node))
                if mentions and self.an.is_session(called[0], scope, pos(node)):
                    return (
                        origin.model,
                        self.an.identity(called[0], scope, pos(node)),
                        pos(node),
                    )
        return None

    def _refreshed(self, name: str, start: Pos, stop: Pos, scope: Scope) -> bool:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if (
                called is not None
                and called[1] in ("refresh", "merge")
                and start <= pos(node) <= stop
            ) and any(isinstance(a, ast.Name) and a.id == name for a in called[2].args[:1]):
                return True
        return False

    # -------------------------------------------------- SQA203 server value after the flush

    def check_server_value_after_flush(self, scope: Scope) -> None:
        for node, obj, origin, model in self._loaded_attribute_reads(scope):
            if origin.session is None:
                continue
            attr = self.project.attr(model, node.attr)
            if (
                attr is None
                or not attr.server_onupdate
                or self.project.flag(model, "eager_defaults")
            ):
                continue
            name = obj.id
            changed: Pos | None = None
            flushed: Pos | None = None
            for sub in scope.nodes:
                at = pos(sub)
                if origin.binding is None or not origin.binding.at <= at < pos(node):
                    continue
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == name
                ):
                    changed = changed or at
                called = method_call(sub)
                if called and called[1] in ("flush", "commit") and changed and at > changed:
                    flushed = at
                if (
                    called
                    and called[1] == "refresh"
                    and flushed
                    and any(isinstance(a, ast.Name) and a.id == name for a in called[2].args[:1])
                ):
                    flushed = None
            if flushed is not None:
                self.report(node, "SQA203", f"{name}.{node.attr}")

    # ------------------------------------------- SQA206 get() options on a loaded object

    def check_get_options_ignored(self, scope: Scope) -> None:
        if not scope.is_async:
            return
        earlier: list[tuple[Pos, object, str | None, Binding | None]] = []  # get(M, key) calls
        for node in sorted(scope.of_type(ast.Await), key=pos):
            assert isinstance(node, ast.Await)
            called = method_call(node.value)
            if called is None or called[1] not in ("get", "get_one") or not called[2].args:
                continue
            receiver, _, call = called
            if not self.an.is_session(receiver, scope, pos(node)):
                continue
            session = self.an.identity(receiver, scope, pos(node))
            model_name = last_name(call.args[0])
            key = call.args[1] if len(call.args) > 1 else kwarg(call, "ident")
            key_binding = scope.lookup(key.id, pos(key)) if isinstance(key, ast.Name) else None
            if (
                kwarg(call, "options") is not None
                and not self._populates_existing(call)
                and session is not None
                and key is not None
            ):
                since = self._loaded_by(key, session, model_name, scope)
                for at, other_session, other_model, other_key in earlier:
                    if (
                        other_session == session
                        and other_model == model_name
                        and key_binding is not None
                        and other_key is key_binding
                    ):
                        since = at if since is None else min(since, at)
                if since is not None and not self._session_reset(session, since, pos(node), scope):
                    self.report(call, "SQA206", f"{ast.unparse(call.args[0])}, {ast.unparse(key)}")
            earlier.append((pos(node), session, model_name, key_binding))

    def _populates_existing(self, call: ast.Call) -> bool:
        value = kwarg(call, "populate_existing")
        if value is not None:
            return not _is_false(value)
        options = kwarg(call, "execution_options")
        return options is not None and "populate_existing" in ast.unparse(options)

    def _loaded_by(
        self, key: ast.expr, session: object, model_name: str | None, scope: Scope
    ) -> Pos | None:
        """``obj.id`` where obj is a ``model_name`` this session loaded: from when."""
        if not (isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name)):
            return None
        origin = self.orm_origin(key.value, scope)
        if (
            origin is None
            or origin.session is None
            or origin.model is None
            or origin.model.name != model_name
            or self.an.identity(origin.session, scope, pos(origin.node)) != session
        ):
            return None
        attr = self.project.attr(origin.model, key.attr)
        return pos(origin.node) if attr is not None and attr.primary_key else None

    def _session_reset(self, session: object, start: Pos, stop: Pos, scope: Scope) -> bool:
        """commit/rollback/expire/expunge/close between two points: the object may be gone or
        expired, and get() then loads it again with the options."""
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if (
                called is not None
                and start < pos(node) < stop
                and called[1] in SESSION_RESETS
                and self.an.identity(called[0], scope, pos(node)) == session
            ):
                return True
        return False

    # ------------------------------------- SQA204/205/306/401/404/505 statements executed

    def check_statement_execution(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None:
                continue
            receiver, method, call = called
            if method not in (
                "execute",
                "scalars",
                "scalar",
                "stream",
                "stream_scalars",
                "query",
                "exec",
            ):
                continue
            kind = self.an.is_async_db(receiver, scope, pos(node))
            if kind is None:
                continue
            if method == "query":
                if kind.type == "session":
                    self.report(node, "SQA401")
                continue
            if not call.args:
                continue
            first = call.args[0]
            if self._is_plain_string(first, scope):
                self.report(first, "SQA404")
                continue
            statement = self.an.statement(first, scope)
            if (
                method in ("stream", "stream_scalars")
                and kind.type == "session"
                and (
                    statement.root == "select"
                    and not statement.yield_per
                    and kwarg(call, "execution_options") is None
                )
            ):
                self.report(node, "SQA204")
            if statement.root == "select" and method in (
                "execute",
                "scalars",
                "stream",
                "stream_scalars",
            ):
                self._check_joined_collection(node, statement, scope)
            if statement.root == "select":
                self._check_lock_with_outer_join(node, statement)
            if (
                statement.root == "insert" and not statement.returning
            ) or statement.root == "insert":
                params = call.args[1] if len(call.args) > 1 else kwarg(call, "params")
                if isinstance(params, ast.Name) and self._maybe_empty(params, node, scope):
                    self.report(node, "SQA505", params.id)

    def _is_plain_string(self, expr: ast.expr, scope: Scope) -> bool:
        if isinstance(expr, ast.JoinedStr) or const_str(expr) is not None:
            return True
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                value = binding.value
                return isinstance(value, ast.JoinedStr) or const_str(value) is not None
        return False

    def _check_joined_collection(self, node: ast.Call, statement: Statement, scope: Scope) -> None:
        model = self.project.model(statement.entity_name(), self.module, node)
        joined = False
        for loader, target in statement.loaders:
            if loader != "joinedload" or not isinstance(target, ast.Attribute):
                continue
            target_model = self.project.model(last_name(target.value), self.module, node)
            attr = self.project.attr(target_model or model, target.attr)
            if attr is not None and attr.relationship and attr.collection:
                joined = True
        if not joined:
            return
        # .unique() on the result, directly or through the name it is bound to.
        current: ast.AST | None = self.module.parents.get(node)
        holder: ast.AST = node
        while current is not None and not isinstance(current, ast.stmt):
            if isinstance(current, ast.Attribute) and current.attr == "unique":
                return
            holder, current = current, self.module.parents.get(current)
        if (
            isinstance(current, ast.Assign)
            and len(current.targets) == 1
            and isinstance(current.targets[0], ast.Name)
        ):
            name = current.targets[0].id
            for sub in scope.of_type(ast.Attribute):
                assert isinstance(sub, ast.Attribute)
                if (
                    sub.attr == "unique"
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == name
                ):
                    return
        del holder
        self.report(node, "SQA205")

    def _check_lock_with_outer_join(self, node: ast.Call, statement: Statement) -> None:
        """SQA312: FOR UPDATE over an outer join, from the statement or from the entity's own
        lazy="joined" relationships (which every query of it joins unless an option says not)."""
        if not statement.for_update or statement.lock_of:
            return
        outer = statement.outer_join
        model = self.project.model(statement.entity_name(), self.module, node)
        if not outer and model is not None and not statement.options_unknown:
            overridden = {
                target.attr
                for loader, target in statement.loaders
                if isinstance(target, ast.Attribute) and loader != "joinedload"
            }
            outer = any(
                attr.relationship
                and attr.lazy == "joined"
                and not attr.innerjoin
                and name not in overridden
                for ancestor in self.project.ancestors(model)
                for name, attr in ancestor.attrs.items()
            )
        if outer:
            self.report(node, "SQA312")

    def _maybe_empty(self, params: ast.Name, call: ast.Call, scope: Scope) -> bool:
        """The rows come from the caller (or from a comprehension over what the caller gave) and
        nothing checked they are not empty."""
        if not self._from_parameter(params, scope, 0):
            return False
        binding = scope.lookup(params.id, pos(params))
        names = {params.id}
        if binding is not None and binding.kind == "assign" and binding.value is not None:
            names |= {n.id for n in names_in(binding.value)}
        # A guard: an enclosing if/while that tests the list, an earlier `if not rows: return`.
        current = self.module.parents.get(call)
        while current is not None and not isinstance(current, NESTED_SCOPES):
            if (
                isinstance(current, ast.If | ast.While | ast.IfExp)
                and {n.id for n in names_in(current.test)} & names
            ):
                return False
            current = self.module.parents.get(current)
        for node in scope.nodes:
            if pos(node) >= pos(call):
                continue
            tests_rows = isinstance(node, ast.If) and {n.id for n in names_in(node.test)} & names
            if tests_rows and any(
                isinstance(s, ast.Return | ast.Raise | ast.Continue) for s in ast.walk(node)
            ):
                return False
            if isinstance(node, ast.Assert) and {n.id for n in names_in(node.test)} & names:
                return False
        return True

    def _from_parameter(self, expr: ast.AST, scope: Scope, depth: int) -> bool:
        if depth > 5:
            return False
        for name in names_in(expr):
            binding = scope.lookup(name.id, pos(name))
            if binding is None or scope.owner(binding) is not scope:
                continue
            if binding.kind == "param":
                return True
            if (
                binding.kind in ("assign", "for")
                and binding.value is not None
                and self._from_parameter(binding.value, scope, depth + 1)
            ):
                return True
        return False

    # -------------------------------------------------- SQA301 commit inside a begin() block

    def check_begin_blocks(self, scope: Scope) -> None:
        for with_node in scope.of_type((ast.AsyncWith, ast.With)):
            assert isinstance(with_node, ast.AsyncWith | ast.With)
            idents: set[object] = set()
            for item in with_node.items:
                called = method_call(item.context_expr)
                if (
                    called
                    and called[1] in ("begin", "begin_nested")
                    and self.an.is_session(called[0], scope, pos(item.context_expr))
                ):
                    idents.add(self.an.identity(called[0], scope, pos(item.context_expr)))
                kind = self.an.kind(item.context_expr, scope, end(item.context_expr))
                if kind is not None and kind.in_begin and item.optional_vars is not None:
                    idents.add(self.an.identity(item.optional_vars, scope, end(item.context_expr)))
            idents.discard(None)
            if not idents:
                continue
            for node in self._body_nodes(with_node.body):
                called = method_call(node)
                if (
                    called
                    and called[1] == "commit"
                    and self.an.identity(called[0], scope, pos(node)) in idents
                ):
                    self.report(node, "SQA301")

    # ---------------------------------------------------------- SQA302 begin after autobegin

    def check_begin_after_autobegin(self, scope: Scope) -> None:
        if not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef) or any(
            isinstance(n, ast.Attribute) and n.attr == "in_transaction" for n in scope.nodes
        ):
            return
        begins: list[tuple[ast.Call, object]] = []
        for with_node in scope.of_type(ast.AsyncWith):
            assert isinstance(with_node, ast.AsyncWith)
            for item in with_node.items:
                called = method_call(item.context_expr)
                if (
                    called
                    and called[1] == "begin"
                    and self.an.is_session(called[0], scope, pos(item.context_expr))
                ):
                    begins.append(
                        (called[2], self.an.identity(called[0], scope, pos(item.context_expr)))
                    )
        for call, ident in begins:
            if ident is None:
                continue
            ran: Pos | None = None
            for node in scope.of_type(ast.Await):
                assert isinstance(node, ast.Await)
                if pos(node) >= pos(call):
                    continue
                called = method_call(node.value)
                if called is None or self.an.identity(called[0], scope, pos(node)) != ident:
                    continue
                if called[1] in DB_METHODS:
                    ran = pos(node)
                elif (
                    called[1] in ("commit", "rollback", "close")
                    and ran is not None
                    and pos(node) > ran
                ):
                    ran = None
            if ran is not None:
                self.report(call, "SQA302")

    # -------------------------------------------------------- SQA303 no rollback after error

    def check_no_rollback(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Try):
            assert isinstance(node, ast.Try)
            sessions: set[object] = set()
            for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
                if isinstance(sub, ast.AsyncWith) and any(
                    (method_call(i.context_expr) or (None, "", None))[1]
                    in ("begin", "begin_nested")
                    for i in sub.items
                ):
                    break
                if isinstance(sub, ast.Await):
                    called = method_call(sub.value)
                    if (
                        called
                        and called[1] in DB_METHODS | {"commit"}
                        and self.an.is_session(called[0], scope, pos(sub))
                    ):
                        sessions.add(self.an.identity(called[0], scope, pos(sub)))
            else:
                sessions.discard(None)
                if not sessions:
                    continue
                for handler in node.handlers:
                    if not self._catches_db_error(handler):
                        continue
                    if self._handler_recovers(handler, sessions, scope):
                        continue
                    if self._session_used_after(node, sessions, scope):
                        self.report(handler, "SQA303")

    def _catches_db_error(self, handler: ast.ExceptHandler) -> bool:
        if handler.type is None:
            return True
        names = {last_name(n) for n in ast.walk(handler.type)}
        return bool(names & DB_ERRORS)

    def _handler_recovers(
        self, handler: ast.ExceptHandler, sessions: set[object], scope: Scope
    ) -> bool:
        for sub in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
            if isinstance(sub, ast.Raise | ast.Return | ast.Break | ast.Continue):
                return True
            called = method_call(sub)
            if called and called[1] in ("rollback", "close", "invalidate", "reset"):
                return True
            if isinstance(sub, ast.Call) and last_name(sub) in ("exit", "abort"):
                return True
        return False

    def _session_used_after(self, try_node: ast.Try, sessions: set[object], scope: Scope) -> bool:
        loop = self.module.enclosing(try_node, (ast.For, ast.AsyncFor, ast.While, *NESTED_SCOPES))
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None or called[1] not in DB_METHODS | {"commit", "add", "add_all"}:
                continue
            after = pos(node) > end(try_node)
            in_loop = isinstance(loop, ast.For | ast.AsyncFor | ast.While) and pos(loop) <= pos(
                node
            ) <= end(loop)
            outside_try = not pos(try_node) <= pos(node) <= end(try_node)
            if (
                (after or in_loop)
                and (outside_try or in_loop)
                and self.an.identity(called[0], scope, pos(node)) in sessions
            ):
                return True
        return False

    # ---------------------------------------------------- SQA304 object in two open sessions

    def check_object_in_two_sessions(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if (
                called is None
                or called[1] != "add"
                or not node.args
                or not isinstance(node.args[0], ast.Name)
            ):
                continue
            if not self.an.is_session(called[0], scope, pos(node)):
                continue
            origin = self.orm_origin(node.args[0], scope)
            if origin is None or origin.session is None:
                continue
            first = self.an.identity(origin.session, scope, pos(origin.node))
            second = self.an.identity(called[0], scope, pos(node))
            if first is None or second is None or first == second:
                continue
            if self._session_open_at(origin.session, scope, pos(node)):
                self.report(node, "SQA304", node.args[0].id)

    def _session_open_at(self, session: ast.expr, scope: Scope, at: Pos) -> bool:
        if not isinstance(session, ast.Name):
            return False
        binding = scope.lookup(session.id, at)
        if binding is None or binding.kind != "with" or not isinstance(binding.node, ast.AsyncWith):
            return False
        with_node = binding.node
        if not pos(with_node) <= at <= end(with_node):
            return False
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if (
                (
                    called
                    and called[1] in ("close", "expunge", "expunge_all")
                    and isinstance(called[0], ast.Name)
                )
                and called[0].id == session.id
                and pos(with_node) < pos(node) < at
            ):
                return False
        return True

    # ------------------------------------------------------ SQA305 refresh before the flush

    def check_refresh_before_flush(self, scope: Scope) -> None:
        adds: dict[str, tuple[Pos, object]] = {}
        events = sorted(
            (n for n in scope.nodes if isinstance(n, ast.Call) and method_call(n) is not None),
            key=pos,
        )
        for node in events:
            assert isinstance(node, ast.Call)
            called = method_call(node)
            assert called is not None
            receiver, method, call = called
            if method not in ("add", "refresh") and method not in DB_METHODS | {"commit"}:
                continue
            kind = self.an.is_session(receiver, scope, pos(node))
            if kind is None:
                continue
            ident = self.an.identity(receiver, scope, pos(node))
            if method == "add" and call.args and isinstance(call.args[0], ast.Name):
                origin = self.orm_origin(call.args[0], scope)
                if origin is not None and origin.via == "new":
                    adds[call.args[0].id] = (pos(node), ident)
            elif method == "refresh" and call.args and isinstance(call.args[0], ast.Name):
                added = adds.get(call.args[0].id)
                if added is not None and added[1] == ident:
                    self.report(node, "SQA305", call.args[0].id)
            else:
                adds = {k: v for k, v in adds.items() if v[1] != ident}

    # ------------------------------------------ SQA306/307 results: DML rows, read twice

    def check_results(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Assign):
            assert isinstance(node, ast.Assign)
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                continue
            if not isinstance(node.value, ast.Await):
                continue
            called = method_call(node.value.value)
            if called is None or called[1] != "execute" or not called[2].args:
                continue
            if not self.an.is_async_db(called[0], scope, pos(node)):
                continue
            binding = scope.lookup(node.targets[0].id, end(node))
            reads = self._result_reads(binding, scope)
            statement = self.an.statement(called[2].args[0], scope)
            if statement.root in ("insert", "update", "delete") and not statement.returning:
                for read in reads:
                    self.report(read, "SQA306")
                continue
            for earlier, later in itertools.pairwise(reads):
                if not self._exclusive(earlier, later):
                    self.report(later, "SQA307", node.targets[0].id)
                    break
        for node in scope.of_type(ast.Await):
            assert isinstance(node, ast.Await)
            called = method_call(node.value)
            if called is None or called[1] != "scalars" or not called[2].args:
                continue
            statement = self.an.statement(called[2].args[0], scope)
            if (
                statement.root in ("update", "delete")
                and not statement.returning
                and self.an.is_async_db(called[0], scope, pos(node))
            ):
                self.report(node, "SQA306")

    def _result_reads(self, binding: Binding | None, scope: Scope) -> list[ast.AST]:
        if binding is None:
            return []
        reads: list[ast.AST] = []
        for node in scope.nodes:
            if not (
                isinstance(node, ast.Name)
                and node.id == binding.name
                and scope.lookup(node.id, pos(node)) is binding
            ):
                continue
            outer: ast.AST = node
            parent = self.module.parents.get(outer)
            while isinstance(parent, ast.Attribute) and parent.attr in (
                "scalars",
                "mappings",
                "unique",
                "tuples",
                "columns",
            ):
                call = self.module.parents.get(parent)
                if not isinstance(call, ast.Call):
                    break
                outer = call
                parent = self.module.parents.get(call)
            if isinstance(parent, ast.Attribute) and parent.attr in CONSUMING:
                reads.append(parent)
            elif (isinstance(parent, ast.For | ast.comprehension) and parent.iter is outer) or (
                isinstance(parent, ast.Call)
                and last_name(parent) in ("list", "tuple", "set", "sorted")
                and outer in parent.args
            ):
                reads.append(outer)
        return sorted(reads, key=pos)

    def _exclusive(self, first: ast.AST, second: ast.AST) -> bool:
        """Whether the two nodes sit in different branches of one if/try, or the first one ends
        its branch with a return."""
        chain: dict[ast.AST, ast.AST] = {}
        current: ast.AST | None = first
        while current is not None:
            parent = self.module.parents.get(current)
            if parent is not None:
                chain[parent] = current
            current = parent
        current = second
        while current is not None:
            parent = self.module.parents.get(current)
            if parent in chain:
                a, b = chain[parent], current
                if isinstance(parent, ast.If | ast.IfExp) and (
                    (a in _as_list(parent.body) and b in _as_list(parent.orelse))
                    or (b in _as_list(parent.body) and a in _as_list(parent.orelse))
                ):
                    return True
                if isinstance(parent, ast.Try) and (a in parent.body) != (b in parent.body):
                    return True
                break
            current = parent
        statement = self.module.enclosing(first, (ast.stmt,))
        if isinstance(statement, ast.Return | ast.Raise):
            return True
        # The first read's block ends with return/raise, and the second is outside that block.
        while statement is not None and not isinstance(statement, NESTED_SCOPES):
            block = self.module.parents.get(statement)
            for name in ("body", "orelse", "handlers", "finalbody"):
                stmts = getattr(block, name, None)
                if isinstance(stmts, list) and statement in stmts:
                    rest = stmts[stmts.index(statement) + 1 :]
                    if any(isinstance(r, ast.Return | ast.Raise) for r in rest):
                        return not any(pos(r) <= pos(second) <= end(r) for r in stmts)
            statement = block if isinstance(block, ast.stmt) else None
        return False

    # ----------------------------------------------- SQA311 new enum value in its transaction

    def check_enum_value_in_its_transaction(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Await):
            assert isinstance(node, ast.Await)
            called = method_call(node.value)
            if called is None or called[1] not in EXECUTING | {"exec_driver_sql"}:
                continue
            if not called[2].args:
                continue
            sql = self._sql_text(called[2].args[0], scope, 0)
            match = ADD_ENUM_VALUE.search(sql or "")
            if match is None:
                continue
            value = match.group(1)
            block = self._transaction_block(node)
            connection = self.an.identity(called[0], scope, pos(node))
            if block is None or connection is None:
                continue
            for later in self._body_nodes(block.body):
                if not isinstance(later, ast.Await) or pos(later) <= end(node):
                    continue
                other = method_call(later.value)
                if (
                    other is None
                    or other[1] not in EXECUTING | {"exec_driver_sql"}
                    or self.an.identity(other[0], scope, pos(later)) != connection
                ):
                    continue
                if any(
                    isinstance(sub, ast.Constant)
                    and isinstance(sub.value, str)
                    and (sub.value == value or f"'{value}'" in sub.value)
                    for arg in [*other[2].args, *(k.value for k in other[2].keywords)]
                    for sub in ast.walk(arg)
                ):
                    self.report(later, "SQA311", value)
                    break

    def _sql_text(self, expr: ast.expr, scope: Scope, depth: int) -> str | None:
        """The literal SQL of ``text("...")``, of a string, or of a name bound to either."""
        if depth > 4:
            return None
        if isinstance(expr, ast.Call) and last_name(expr) == "text" and expr.args:
            return const_str(expr.args[0])
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._sql_text(binding.value, scope.owner(binding), depth + 1)
        return const_str(expr)

    def _transaction_block(self, node: ast.AST) -> ast.With | ast.AsyncWith | None:
        """The innermost ``with X.begin()`` block around a node."""
        current = self.module.parents.get(node)
        while current is not None and not isinstance(current, NESTED_SCOPES):
            if isinstance(current, ast.With | ast.AsyncWith) and any(
                (method_call(item.context_expr) or (None, "", None))[1] == "begin"
                for item in current.items
            ):
                return current
            current = self.module.parents.get(current)
        return None

    # ----------------------------------------------------------- SQA308 driver exceptions

    def check_driver_exception(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Try):
            assert isinstance(node, ast.Try)
            sqlalchemy_call = any(
                isinstance(sub, ast.Await)
                and (called := method_call(sub.value)) is not None
                and called[1] in DB_METHODS | {"commit"}
                and self.an.is_async_db(called[0], scope, pos(sub))
                for sub in ast.walk(ast.Module(body=node.body, type_ignores=[]))
            )
            if not sqlalchemy_call:
                continue
            for handler in node.handlers:
                if handler.type is not None and self._driver_exception(handler.type, scope, 0):
                    self.report(handler, "SQA308", ast.unparse(handler.type))

    def _driver_exception(self, expr: ast.expr, scope: Scope, depth: int) -> bool:
        if depth > 4:
            return False
        if isinstance(expr, ast.Tuple):
            return any(self._driver_exception(e, scope, depth + 1) for e in expr.elts)
        if isinstance(expr, ast.Attribute | ast.Name):
            root = (dotted(expr) or "").split(".")[0]
            full = self.module.imports.get(root, "")
            if full.split(".")[0] in DRIVER_MODULES and (
                isinstance(expr, ast.Attribute) or full != root
            ):
                return True
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._driver_exception(binding.value, scope.owner(binding), depth + 1)
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            table = self.module.module_aliases.get(expr.value.id)
            if isinstance(table, ast.Dict):
                return any(
                    v is not None and self._driver_exception(v, scope, depth + 1)
                    for v in table.values
                )
        return False

    # ---------------------------------------------------------------- SQA309 lost update

    def check_lost_update(self, scope: Scope) -> None:
        if self.module.uses_serializable:
            return  # transactions there fail on conflict (and are retried) instead of losing
        for node in scope.of_type((ast.AugAssign, ast.Assign)):
            assert isinstance(node, ast.AugAssign | ast.Assign)
            targets = [node.target] if isinstance(node, ast.AugAssign) else node.targets
            for target in targets:
                if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                    continue
                name, attr_name = target.value.id, target.attr
                if isinstance(node, ast.Assign) and not self._reads_back(
                    node.value, name, attr_name, scope, pos(node)
                ):
                    continue
                origin = self.orm_origin(target.value, scope)
                if (
                    origin is None
                    or origin.model is None
                    or origin.via == "new"
                    or origin.session is None
                ):
                    continue
                attr = self.project.attr(origin.model, attr_name)
                if attr is None or attr.relationship:
                    continue
                if (origin.statement and origin.statement.for_update) or self.project.flag(
                    origin.model, "version_id"
                ):
                    continue
                self.report(node, "SQA309", f"{name}.{attr_name}")

    def _reads_back(self, value: ast.expr, name: str, attr: str, scope: Scope, at: Pos) -> bool:
        if not isinstance(value, ast.BinOp):
            return False
        for sub in ast.walk(value):
            if (
                isinstance(sub, ast.Attribute)
                and sub.attr == attr
                and isinstance(sub.value, ast.Name)
                and sub.value.id == name
            ):
                return True
            if isinstance(sub, ast.Name):
                binding = scope.lookup(sub.id, at)
                if (
                    binding is not None
                    and binding.kind == "assign"
                    and isinstance(binding.value, ast.Attribute)
                ):
                    read = binding.value
                    if (
                        read.attr == attr
                        and isinstance(read.value, ast.Name)
                        and read.value.id == name
                    ):
                        return True
        return False

    # ------------------------------------------------------- SQA310 JSON changed in place

    def check_json_in_place(self, scope: Scope) -> None:
        if not self.project.maps_json:
            return
        for node in scope.nodes:
            container: ast.expr | None = None  # the dict or list that is changed
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
                container = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in IN_PLACE_METHODS
            ):
                container = node.func.value
            if container is None:
                continue
            # obj.col is level 0; obj.col["a"] and obj.col.setdefault("a", {}) are level 1: a
            # nested value, which even MutableDict/MutableList do not watch.
            level = 0
            while True:
                if isinstance(container, ast.Subscript):
                    container = container.value
                elif (
                    isinstance(container, ast.Call)
                    and isinstance(container.func, ast.Attribute)
                    and container.func.attr in ("setdefault", "get")
                ):
                    container = container.func.value
                else:
                    break
                level += 1
            column = container
            if not isinstance(column, ast.Attribute) or not isinstance(column.value, ast.Name):
                continue
            origin = self.orm_origin(column.value, scope)
            if origin is None or origin.model is None or origin.via == "new":
                continue  # a new object is inserted with whatever it holds at the flush
            attr = self.project.attr(origin.model, column.attr)
            if attr is None or not (attr.json or (attr.json_mutable and level >= 1)):
                continue
            if self._json_flagged(column.value.id, column.attr, pos(node), scope):
                continue
            self.report(node, "SQA310", f"{column.value.id}.{column.attr}")

    def _json_flagged(self, name: str, attr: str, at: Pos, scope: Scope) -> bool:
        """flag_modified(obj, "attr") or a new value assigned to obj.attr after the change."""
        for node in scope.nodes:
            if pos(node) <= at:
                continue
            if (
                isinstance(node, ast.Call)
                and last_name(node) == "flag_modified"
                and any(isinstance(a, ast.Name) and a.id == name for a in node.args[:1])
            ):
                return True
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and node.attr == attr
                and isinstance(node.value, ast.Name)
                and node.value.id == name
            ):
                return True
        return False

    # ------------------------------------------------- SQA402/403/405 sync API on async objects

    def check_sync_api(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = last_name(node)
            if name in ("create_all", "drop_all", "reflect"):
                args = list(node.args[:1]) + [k.value for k in node.keywords if k.arg == "bind"]
                for arg in args:
                    kind = self.an.kind(arg, scope, pos(node))
                    if kind is not None and kind.type in ("engine", "connection"):
                        self.report(node, "SQA402")
            elif (
                name == "inspect"
                and node.args
                and (
                    self.module.imported_from("inspect", "sqlalchemy")
                    or (dotted(node.func) or "").startswith(("sa.", "sqlalchemy."))
                )
            ):
                kind = self.an.kind(node.args[0], scope, pos(node))
                if kind is not None and kind.type in ("engine", "connection"):
                    self.report(node, "SQA403")
            elif name == "create_async_engine":
                pool = last_name(kwarg(node, "poolclass"))
                if pool in ("QueuePool", "SingletonThreadPool"):
                    self.report(node, "SQA405", pool)

    # ---------------------------------------------------------- SQA406 events on async objects

    def _is_event_call(self, node: ast.AST) -> bool:
        """``event.listen(...)``/``event.listens_for(...)`` (or the names imported alone)."""
        if not isinstance(node, ast.Call):
            return False
        name = dotted(node.func) or ""
        return name.endswith(("event.listen", "event.listens_for")) or (
            name in ("listen", "listens_for") and self.module.imported_from(name, "sqlalchemy")
        )

    def _async_function(self, expr: ast.expr, scope: Scope) -> bool:
        """A name bound to an ``async def`` (the function SQLAlchemy would call)."""
        if not isinstance(expr, ast.Name):
            return False
        binding = scope.lookup(expr.id, pos(expr))
        return binding is not None and isinstance(binding.node, ast.AsyncFunctionDef)

    def check_events(self, scope: Scope) -> None:
        for child in scope.children:
            node = child.node
            if isinstance(node, ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    if self._is_event_call(decorator):
                        self.report(decorator, "SQA410", f"async def {node.name}")
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if (
                called is not None
                and called[1] == "run_sync"
                and node.args
                and self._async_function(node.args[0], scope)
                and self.an.is_async_db(called[0], scope, pos(node))
            ):
                self.report(node, "SQA410", f"run_sync({ast.unparse(node.args[0])})")
                continue
            if not self._is_event_call(node) or not node.args:
                continue
            if len(node.args) >= 3 and self._async_function(node.args[2], scope):
                self.report(node, "SQA410", f"listener {ast.unparse(node.args[2])}")
            target = node.args[0]
            kind = self.an.kind(target, scope, pos(node))
            if (
                kind is not None
                and kind.type in ("engine", "connection", "session", "sessionmaker")
            ) or (
                isinstance(target, ast.Name)
                and target.id in ("AsyncSession", "AsyncEngine", "AsyncConnection")
            ):
                self.report(node, "SQA406", ast.unparse(target))

    # ------------------------------------------------------------- SQA407/408 URL and driver

    def check_urls(self, scope: Scope) -> None:
        memory_engines: dict[str, list[ast.Call]] = {}  # private in-memory URL -> engines
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = last_name(node)
            if name not in ("create_async_engine", "create_engine") or not node.args:
                continue
            url = self._literal_url(node.args[0], scope)
            exact = self._literal_url(node.args[0], scope, exact=True)
            self._check_pool_arguments(node, exact)
            if url is None or "://" not in url:
                continue
            scheme = url.split("://", 1)[0].lower()
            dialect, _, driver = scheme.partition("+")
            if name == "create_async_engine":
                if dialect == "postgres" or driver not in ASYNC_DRIVERS:
                    self.report(node, "SQA407", scheme)
            elif driver in ASYNC_ONLY_DRIVERS:
                self.report(node, "SQA408", scheme)
            if name != "create_async_engine":
                continue
            self._check_connect_args(node, driver, exact, scope)
            memory = _memory_database(exact) if exact is not None else None
            poolclass = kwarg(node, "poolclass")
            open_kwargs = any(k.arg is None for k in node.keywords)  # **kwargs may name one
            if memory == "private" and exact is not None:
                if poolclass is not None and last_name(poolclass) not in ("StaticPool", None):
                    self.report(node, "SQA411", f"{last_name(poolclass)} on {exact}")
                if not isinstance(scope.node, ast.Module):
                    # In a function (a test, a fixture) two engines on one in-memory URL are
                    # meant to share a database; at module level they can be separate on
                    # purpose (one database per shard).
                    memory_engines.setdefault(exact, []).append(node)
            if "mode=memory" in (exact or "") and poolclass is None and not open_kwargs:
                self.report(node, "SQA413", exact or "")
        for engines in memory_engines.values():
            first, *others = sorted(engines, key=pos)
            for node in others:
                statements = {self.module.enclosing(n, (ast.stmt,)) for n in (first, node)}
                if len(statements) == 1 or not self._exclusive(first, node):
                    self.report(node, "SQA411", "a second engine on the same in-memory URL")

    def _check_pool_arguments(self, node: ast.Call, url: str | None) -> None:
        """SQA412: sizing arguments for NullPool, or for the StaticPool of in-memory SQLite."""
        sizing = [k.arg for k in node.keywords if k.arg in POOL_SIZING_ARGS]
        if not sizing:
            return
        poolclass = kwarg(node, "poolclass")
        if poolclass is not None:
            if last_name(poolclass) in ("NullPool", "StaticPool"):
                self.report(node, "SQA412", f"{', '.join(sizing)} with {last_name(poolclass)}")
        elif url is not None and _memory_database(url) is not None:
            self.report(node, "SQA412", f"{', '.join(sizing)} on {url}")

    def _check_connect_args(
        self, node: ast.Call, driver: str, url: str | None, scope: Scope
    ) -> None:
        """SQA414 (a pooler URL with prepared statements on) and SQA415 (connect_args of the
        other PostgreSQL driver), for a literal URL."""
        family = "asyncpg" if driver == "asyncpg" else "psycopg" if "psycopg" in driver else None
        if family is None:
            return
        given = kwarg(node, "connect_args")
        args = self._literal_dict(given, scope) if given is not None else {}
        if args is not None:
            foreign = sorted(
                args.keys() & CONNECT_ARGS_OF["psycopg" if family == "asyncpg" else "asyncpg"]
            )
            if foreign:
                self.report(node, "SQA415", f"{', '.join(foreign)} on {driver}")
        if url is None or args is None or any(k.arg is None for k in node.keywords):
            return
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return
        host = (parts.hostname or "").lower()
        if not (port in POOLER_PORTS or "pgbouncer" in host):
            return
        query = urllib.parse.parse_qs(parts.query)
        problems: list[str] = []
        if family == "asyncpg":
            for setting in ("statement_cache_size", "prepared_statement_cache_size"):
                value = args.get(setting)
                if not (_is_zero(value) or query.get(setting) == ["0"]):
                    problems.append(f"{setting} is not 0")
            settings = args.get("server_settings")
            names = self._literal_dict(settings, scope) if settings is not None else {}
            if names is not None and set(map(str.lower, names)) - POOLER_STARTUP_PARAMETERS:
                problems.append("server_settings (startup parameters)")
        else:
            value = args.get("prepare_threshold")
            if not (value is not None and _is_none(value)):
                problems.append("prepare_threshold is not None")
            if "options" in args:
                problems.append("options (startup parameters)")
        if problems:
            self.report(node, "SQA414", f"{host}:{port}: {'; '.join(problems)}")

    def _literal_dict(
        self, expr: ast.expr, scope: Scope, depth: int = 0
    ) -> dict[str, ast.expr] | None:
        """The keys and values of a dict literal (or of a name bound to one); None if unknown."""
        if isinstance(expr, ast.Name) and depth < 4:
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._literal_dict(binding.value, scope.owner(binding), depth + 1)
            return None
        if isinstance(expr, ast.Dict):
            found: dict[str, ast.expr] = {}
            for key, value in zip(expr.keys, expr.values, strict=True):
                name = const_str(key)
                if name is None:
                    return None  # **other or a computed key
                found[name] = value
            return found
        if isinstance(expr, ast.Call) and last_name(expr) == "dict" and not expr.args:
            if any(k.arg is None for k in expr.keywords):
                return None
            return {k.arg: k.value for k in expr.keywords if k.arg is not None}
        return None

    def _literal_url(self, expr: ast.expr, scope: Scope, exact: bool = False) -> str | None:
        """A URL written in the source; without ``exact``, the head of an f-string too."""
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign":
                expr = binding.value if binding.value is not None else expr
        value = const_str(expr)
        if value is not None:
            return value
        if isinstance(expr, ast.JoinedStr) and expr.values and not exact:
            head = const_str(expr.values[0])
            return head if head and "://" in head else None
        return None

    # ---------------------------------------------------------- SQA409 get_bind AsyncEngine

    def check_get_bind(self, scope: Scope) -> None:
        node = scope.node
        if not isinstance(node, ast.FunctionDef) or node.name != "get_bind":
            return
        for sub in scope.of_type(ast.Return):
            assert isinstance(sub, ast.Return)
            kind = self.an.kind(sub.value, scope, pos(sub)) if sub.value is not None else None
            if kind is not None and kind.type == "engine":
                self.report(sub, "SQA409")

    # --------------------------------------------------------- SQA501 text() with formatting

    def check_text_formatting(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = last_name(node)
            is_text = name == "text" and (
                self.module.imported_from("text", "sqlalchemy", "sqlmodel")
                or (dotted(node.func) or "").startswith(("sa.", "sqlalchemy."))
            )
            if not (is_text or name == "exec_driver_sql") or not node.args:
                continue
            if self._formatted(node.args[0], scope, 0):
                self.report(node, "SQA501")

    def _formatted(self, expr: ast.expr, scope: Scope, depth: int) -> bool:
        """Whether SQL text puts a value that is not a constant where SQL expects a value
        (after =, <, LIKE, IN (, LIMIT..., or inside quotes). Identifiers (table and column
        names) cannot be bound parameters, so interpolating them is not flagged."""
        if depth > 4:
            return False
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id, pos(expr))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._formatted(binding.value, scope.owner(binding), depth + 1)
            return False
        for before, value in self._interpolations(expr):
            if (
                value is not None
                and _value_position(before)
                and not self._safe_interpolation(value, scope)
            ):
                return True
        return False

    def _interpolations(self, expr: ast.expr) -> list[tuple[str, ast.expr | None]]:
        """(SQL text before, interpolated expression) for each value put into a SQL string."""
        found: list[tuple[str, ast.expr | None]] = []
        if isinstance(expr, ast.JoinedStr):
            text_ = ""
            for part in expr.values:
                if isinstance(part, ast.FormattedValue):
                    found.append((text_, part.value))
                    text_ += "?"
                else:
                    text_ += const_str(part) or ""
        elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            text_ = ""
            for part in _concat_parts(expr):
                literal = const_str(part)
                if literal is not None:
                    text_ += literal
                elif isinstance(part, ast.JoinedStr):
                    for before, value in self._interpolations(part):
                        found.append((text_ + before, value))
                    text_ += "?"
                else:
                    found.append((text_, part))
                    text_ += "?"
            if not any(
                const_str(p) is not None or isinstance(p, ast.JoinedStr)
                for p in _concat_parts(expr)
            ):
                return []
        elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
            template = const_str(expr.left)
            if template is not None:
                values = expr.right.elts if isinstance(expr.right, ast.Tuple) else [expr.right]
                for index, match in enumerate(
                    re.finditer(r"%(\([^)]*\))?[-#0 +]*\d*(\.\d+)?[sdifr]", template)
                ):
                    value = (
                        values[index]
                        if index < len(values) and not isinstance(expr.right, ast.Dict)
                        else expr.right
                    )
                    found.append((template[: match.start()], value))
        elif (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "format"
        ):
            template = const_str(expr.func.value)
            if template is not None:
                arguments = [*expr.args, *(k.value for k in expr.keywords)]
                for index, match in enumerate(re.finditer(r"\{[^{}]*\}", template)):
                    value = (
                        arguments[index]
                        if index < len(arguments)
                        else (arguments[0] if arguments else None)
                    )
                    found.append((template[: match.start()], value))
        return found

    def _safe_interpolation(self, expr: ast.expr, scope: Scope, depth: int = 0) -> bool:
        """Values that cannot carry user input: constants, numbers, table names from the code."""
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.Tuple):
            return all(self._safe_interpolation(e, scope, depth + 1) for e in expr.elts)
        if isinstance(expr, ast.Name):
            if expr.id.isupper():
                return True
            binding = scope.lookup(expr.id, pos(expr))
            annotation = strip_optional(binding.annotation) if binding is not None else None
            if last_name(annotation) in ("int", "float", "bool", "Decimal"):
                return True
            if (
                binding is not None
                and binding.kind == "assign"
                and isinstance(binding.value, ast.Call)
                and depth < 4
            ):
                # milliseconds = round(seconds * 1000); name = preparer.quote(database)
                return self._safe_interpolation(binding.value, scope.owner(binding), depth + 1)
        if isinstance(expr, ast.Attribute) and expr.attr in ("__tablename__", "fullname"):
            return True
        if isinstance(expr, ast.Name | ast.Attribute) and IDENTIFIER_NAME.search(
            last_name(expr) or ""
        ):
            return True  # a table/column name: identifiers cannot be bound parameters
        if isinstance(expr, ast.Call):
            name = last_name(expr) or ""
            if name in ("int", "float", "len", "bool", "round") or "quote" in name:
                return True
        return False

    # --------------------------------------------------------- SQA502 LIKE without escaping

    def check_like(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None or not node.args:
                continue
            receiver, method, call = called
            pattern = node.args[0]
            if method in ("like", "ilike", "not_like", "not_ilike", "notlike", "notilike"):
                if kwarg(call, "escape") is None and self._wraps_value_in_wildcards(pattern, scope):
                    self.report(node, "SQA502", ast.unparse(pattern)[:40])
            elif method in LIKE_HELPERS:
                autoescape = kwarg(call, "autoescape")
                if (autoescape is not None and not _is_false(autoescape)) or kwarg(
                    call, "escape"
                ) is not None:
                    continue
                if const_str(pattern) is not None or isinstance(pattern, ast.Constant):
                    continue
                if self._string_column(receiver, node):
                    self.report(node, "SQA502", ast.unparse(pattern)[:40])

    def _wraps_value_in_wildcards(self, pattern: ast.expr, scope: Scope, depth: int = 0) -> bool:
        if isinstance(pattern, ast.JoinedStr):
            literal = "".join(const_str(v) or "" for v in pattern.values)
            has_value = any(
                isinstance(v, ast.FormattedValue) and not isinstance(v.value, ast.Constant)
                for v in pattern.values
            )
            return has_value and "%" in literal
        if isinstance(pattern, ast.BinOp) and isinstance(pattern.op, ast.Add):
            parts = _concat_parts(pattern)
            literal = "".join(const_str(p) or "" for p in parts)
            return "%" in literal and any(const_str(p) is None for p in parts)
        if isinstance(pattern, ast.BinOp) and isinstance(pattern.op, ast.Mod):
            template = const_str(pattern.left) or ""
            return "%%" in template
        if (
            isinstance(pattern, ast.Call)
            and isinstance(pattern.func, ast.Attribute)
            and pattern.func.attr == "format"
        ):
            return "%" in (const_str(pattern.func.value) or "")
        if isinstance(pattern, ast.Name) and depth < 3:
            binding = scope.lookup(pattern.id, pos(pattern))
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._wraps_value_in_wildcards(
                    binding.value, scope.owner(binding), depth + 1
                )
        return False

    def _string_column(self, receiver: ast.expr, near: ast.AST) -> bool:
        if not (isinstance(receiver, ast.Attribute) and isinstance(receiver.value, ast.Name)):
            return False
        model = self.project.model(receiver.value.id, self.module, near)
        attr = self.project.attr(model, receiver.attr)
        return attr is not None and not attr.relationship and attr.string is True

    # ------------------------------------------------------------ SQA503 unstable pagination

    def check_pagination(self, scope: Scope) -> None:
        # Statements as they are executed: a statement handed to other code may get its
        # ORDER BY there.
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            called = method_call(node)
            if called is None or called[1] not in EXECUTING or not node.args:
                continue
            statement = self.an.statement(node.args[0], scope)
            if statement.root != "select" or statement.order_unknown or statement.offset is None:
                continue
            self._check_order(statement, statement.offset, scope)

    def _check_order(self, statement: Statement, where: ast.AST, scope: Scope) -> None:
        terms = statement.order_by or []
        if not terms:
            if statement.entities and all(
                self._entity_model(e, where) is not None for e in statement.entities
            ):
                self.report(where, "SQA503", "no ORDER BY")
            return
        seen_columns: dict[int, set[str]] = {}
        models: dict[int, Model] = {}
        for term in terms:
            column = _order_column(term)
            if column is None:
                return  # an expression: cannot tell
            model = self.project.model(last_name(column.value), self.module, where)
            if model is None:
                return
            attr = self.project.attr(model, column.attr)
            if attr is None:
                return
            if attr.unique:
                return
            models[id(model)] = model
            seen_columns.setdefault(id(model), set()).add(column.attr)
        for key, model in models.items():
            pk = {
                name
                for m in self.project.ancestors(model)
                for name, a in m.attrs.items()
                if a.primary_key
            }
            if not pk or self.project.flag(model, "mapper_pk") or model.declared_table:
                return  # keys declared elsewhere
            if pk <= seen_columns[key]:
                return
        self.report(where, "SQA503", ", ".join(ast.unparse(t) for t in terms))

    def _entity_model(self, entity: ast.expr, near: ast.AST) -> Model | None:
        if isinstance(entity, ast.Name):
            return self.project.model(entity.id, self.module, near)
        if isinstance(entity, ast.Attribute) and isinstance(entity.value, ast.Name):
            return self.project.model(entity.value.id, self.module, near)
        return None

    # ----------------------------------------------------------- SQA507 a str for a UUID

    def check_string_for_uuid(self, scope: Scope) -> None:
        if not self.project.maps_uuid:
            return
        for node in [*scope.of_type(ast.Call), *scope.of_type(ast.Compare)]:
            key: ast.expr | None = None
            attr: Attr | None = None
            if isinstance(node, ast.Call):
                called = method_call(node)
                if (
                    called is None
                    or called[1] not in ("get", "get_one")
                    or len(node.args) < 2
                    or not self.an.is_session(called[0], scope, pos(node))
                ):
                    continue
                model = self.project.model(last_name(node.args[0]), self.module, node)
                keys = [
                    a
                    for m in (self.project.ancestors(model) if model else [])
                    for a in m.attrs.values()
                    if a.primary_key
                ]
                attr, key = (keys[0] if len(keys) == 1 else None), node.args[1]
            elif (
                isinstance(node, ast.Compare)
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.Eq | ast.NotEq)
                and isinstance(node.left, ast.Attribute)
            ):
                model = self._entity_model(node.left.value, node)
                attr = self.project.attr(model, node.left.attr)
                key = node.comparators[0]
            if attr is None or not attr.uuid or not isinstance(key, ast.Name):
                continue
            binding = scope.lookup(key.id, pos(key))
            if (
                binding is not None
                and binding.kind == "param"
                and last_name(strip_optional(binding.annotation)) == "str"
            ):
                self.report(key, "SQA507", f"{key.id}: str")

    # -------------------------------------------------------- SQA504 Python operators in SQL

    def check_python_operators(self, scope: Scope) -> None:
        for node in scope.of_type(ast.Call):
            assert isinstance(node, ast.Call)
            name = last_name(node)
            if name not in (
                "where",
                "filter",
                "having",
                "and_",
                "or_",
                "not_",
                "join",
                "outerjoin",
            ):
                continue
            if name in ("where", "filter", "having", "join", "outerjoin") and not isinstance(
                node.func, ast.Attribute
            ):
                continue
            for arg in node.args:
                bad = self._python_operator(arg, node)
                if bad is not None:
                    self.report(bad, "SQA504", ast.unparse(bad)[:50])

    def _python_operator(self, expr: ast.expr, near: ast.AST) -> ast.expr | None:
        if isinstance(expr, ast.BoolOp) and any(
            self._mentions_column(v, near) for v in expr.values
        ):
            return expr
        if (
            isinstance(expr, ast.UnaryOp)
            and isinstance(expr.op, ast.Not)
            and self._mentions_column(expr.operand, near)
        ):
            return expr
        if (
            isinstance(expr, ast.Compare)
            and any(isinstance(op, ast.Is | ast.IsNot) for op in expr.ops)
            and any(self._is_column(e, near) for e in [expr.left, *expr.comparators])
        ):
            return expr
        return None

    def _is_column(self, expr: ast.expr, near: ast.AST) -> bool:
        if not (isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name)):
            return False
        model = self.project.model(expr.value.id, self.module, near)
        if model is not None:
            return self.project.attr(model, expr.attr) is not None
        return False

    def _mentions_column(self, expr: ast.expr, near: ast.AST) -> bool:
        if self._is_column(expr, near):
            return True
        if isinstance(expr, ast.Compare):
            return any(self._is_column(e, near) for e in [expr.left, *expr.comparators])
        return False

    # --------------------------------------------------------- SQA506 statement per loop item

    def check_statement_per_item(self, scope: Scope) -> None:
        if not scope.is_async:
            return
        for loop in scope.of_type(
            (ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            if isinstance(loop, ast.For | ast.AsyncFor):
                iterable, target, body_nodes = (
                    loop.iter,
                    loop.target,
                    list(self._body_nodes(loop.body)),
                )
            else:
                assert isinstance(
                    loop, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
                )
                generator = loop.generators[0]
                iterable, target = generator.iter, generator.target
                elements = [loop.key, loop.value] if isinstance(loop, ast.DictComp) else [loop.elt]
                body_nodes = [n for e in elements for n in ast.walk(e)]
            if not self._input_rows(iterable, target, scope):
                continue
            for node in body_nodes:
                if not isinstance(node, ast.Await):
                    continue
                called = method_call(node.value)
                if called is None or called[1] not in PER_ITEM_METHODS:
                    continue
                receiver, method, call = called
                if method in ("execute", "scalars") and len(call.args) > 1:
                    continue  # executemany of a batch
                if not self.an.is_async_db(receiver, scope, pos(node)):
                    continue
                if self.module.enclosing(node, (ast.Try,)) is not None and self._try_in(loop, node):
                    continue  # per-item error handling (savepoints, retries) is a reason
                self.report(node, "SQA506", ast.unparse(node.value)[:50])
                break

    def _try_in(self, loop: ast.AST, node: ast.AST) -> bool:
        current = self.module.parents.get(node)
        while current is not None and current is not loop:
            if isinstance(current, ast.Try) and current.handlers:
                return True
            current = self.module.parents.get(current)
        return False

    def _input_rows(self, iterable: ast.expr, target: ast.expr, scope: Scope) -> bool:
        if isinstance(iterable, ast.List | ast.Tuple | ast.Set | ast.Constant | ast.Dict):
            return False
        names = {n.id.lower() for n in names_in(target)}
        if any(
            word in name
            for name in names
            for word in ("batch", "chunk", "page", "attempt", "retry")
        ):
            return False
        text_ = ast.unparse(iterable).lower()
        if any(word in text_ for word in ("range(", "batch", "chunk", "partitions", "page")):
            return False
        if isinstance(iterable, ast.Call) and last_name(iterable) in (
            "range",
            "count",
            "items",
            "keys",
        ):
            return False  # counters, and the fields of one record
        if isinstance(iterable, ast.Name):
            binding = scope.lookup(iterable.id, pos(iterable))
            annotation = strip_optional(binding.annotation) if binding is not None else None
            head = annotation.value if isinstance(annotation, ast.Subscript) else annotation
            if re.search(r"dict|mapping", last_name(head) or "", re.IGNORECASE):
                return False  # the fields of one record
        return (
            self._from_parameter(iterable, scope, 0)
            or self._origin_of_rows(iterable, scope, 0) is not None
        )

    # ------------------------------------------------------------ SQA601-604 the mapping itself

    def check_mappings(self) -> None:
        for model in self.module.models:
            if model.is_declarative_base:
                continue
            for attr in model.attrs.values():
                if attr.relationship and attr.back_populates and attr.target:
                    target = self.project.model(attr.target, self.module, model.node)
                    if (
                        target is not None
                        and self.project.bases_known(target)
                        and self.project.attr(target, attr.back_populates) is None
                        and not self._has_any(target, attr.back_populates)
                    ):
                        self.report(
                            attr.node or model.node,
                            "SQA601",
                            f"{attr.target}.{attr.back_populates}",
                        )
            self._check_ambiguous(model)
            self._check_primary_key(model)
            self._check_column_types(model)
            cascade_matters = self._refreshed_in_async_code(model)
            for attr in model.attrs.values():
                if attr.cascade_all and cascade_matters:
                    self.report(attr.node or model.node, "SQA605", f"{model.name}.{attr.name}")
                if attr.float_type and not attr.relationship and _money_name(attr.name):
                    self.report(attr.node or model.node, "SQA606", f"{model.name}.{attr.name}")

    def _refreshed_in_async_code(self, model: Model) -> bool:
        """Whether async code may refresh (or expire) this class's objects: a class defined in
        a function is used there only (an async def that refreshes); a module-level one by the
        whole run (it uses the asyncio extension and refreshes something), unless its module is
        a sync program of its own."""
        function = self.module.enclosing(model.node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if function is not None:
            return isinstance(function, ast.AsyncFunctionDef) and any(
                isinstance(node, ast.Call) and _refresh_call(node) for node in ast.walk(function)
            )
        return (
            self.project.uses_asyncio
            and not self.module.sync_only
            and any(m.refreshes for m in self.project.modules)
        )

    def _has_any(self, model: Model, name: str) -> bool:
        """Any assignment of that name in the class body (a backref, a property...)."""
        for stmt in ast.walk(model.node):
            if isinstance(stmt, ast.Name) and stmt.id == name and isinstance(stmt.ctx, ast.Store):
                return True
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == name:
                return True
            if isinstance(stmt, ast.keyword) and stmt.arg == "backref":
                return True
        return any(name in module.backrefs for module in self.project.modules)

    def _check_ambiguous(self, model: Model) -> None:
        for attr in model.attrs.values():
            if not attr.relationship or attr.foreign_keys_given or not attr.target:
                continue
            target = self.project.model(attr.target, self.module, model.node)
            if target is None or not target.tablename:
                continue
            mine = [a for a in model.attrs.values() if a.foreign_table == target.tablename]
            theirs = (
                [a for a in target.attrs.values() if a.foreign_table == model.tablename]
                if model.tablename
                else []
            )
            if len(mine) >= 2 or (attr.collection and len(theirs) >= 2):
                self.report(attr.node or model.node, "SQA602", f"{model.name}.{attr.name}")

    def _check_primary_key(self, model: Model) -> None:
        if not model.tablename or model.declared_table or not self.project.bases_known(model):
            return
        for ancestor in self.project.ancestors(model):
            if (
                ancestor.mapper_pk
                or ancestor.declared_table
                or any(a.primary_key for a in ancestor.attrs.values())
            ):
                return
            if (
                any(
                    isinstance(stmt, ast.Expr | ast.FunctionDef) or _assigns_dunder(stmt)
                    for stmt in ancestor.node.body
                )
                and ancestor is not model
            ):
                continue
        self.report(model.node, "SQA603", model.name)

    def _check_column_types(self, model: Model) -> None:
        if not self.project.bases_known(model):
            return
        mapped_keys = {k for m in self.project.ancestors(model) for k in m.annotation_map}
        for attr in model.attrs.values():
            if attr.relationship or attr.has_sql_type or attr.python_type is None:
                continue
            python_type = attr.python_type
            head = last_name(
                python_type.value if isinstance(python_type, ast.Subscript) else python_type
            )
            if head not in (
                "dict",
                "Dict",
                "list",
                "List",
                "set",
                "Set",
                "tuple",
                "Tuple",
                "Any",
                "object",
            ):
                continue
            if ast.unparse(python_type) in mapped_keys or (head or "") in mapped_keys:
                continue
            if isinstance(attr.node, ast.Call) and last_name(attr.node) in RELATIONSHIP_CALLS:
                continue
            self.report(
                attr.node or model.node,
                "SQA604",
                f"{model.name}.{attr.name}: {ast.unparse(python_type)}",
            )


@dataclass
class Origin:
    model: Model | None
    session: ast.expr | None
    statement: Statement | None
    binding: Binding | None
    via: str  # get | query | new
    node: ast.AST


MONEY_WORDS = {
    "amount",
    "price",
    "cost",
    "total",
    "subtotal",
    "balance",
    "fee",
    "fees",
    "salary",
    "wage",
    "payment",
    "tax",
    "discount",
    "revenue",
    "refund",
    "budget",
    "paid",
    "owed",
    "money",
}
NOT_MONEY_WORDS = {
    "rate",
    "ratio",
    "percent",
    "percentage",
    "pct",
    "factor",
    "weight",
    "score",
    "time",
    "seconds",
    "ms",
    "duration",
    "count",
    "avg",
    "mean",
}


def _money_name(name: str) -> bool:
    """``amount``, ``unit_price``, ``totalCost``: but not ``tax_rate`` or ``discount_pct``."""
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)}
    return bool(words & MONEY_WORDS) and not words & NOT_MONEY_WORDS


def _refresh_call(node: ast.Call) -> bool:
    """``x.refresh(obj)`` or ``x.expire(obj)``: what the refresh-expire cascade follows."""
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr in ("refresh", "expire")
        and bool(node.args)
    )


def _memory_database(url: str) -> str | None:
    """ "private" for an in-memory SQLite database of one connection (``sqlite+aiosqlite://``,
    ``:memory:``, ``mode=memory`` without a shared cache), "named" for a shared-cache one."""
    scheme, _, rest = url.partition("://")
    if not scheme.lower().startswith("sqlite"):
        return None
    path, _, query = rest.partition("?")
    params = dict(part.partition("=")[::2] for part in query.split("&") if part)
    if params.get("mode") == "memory":
        return "named" if params.get("cache") == "shared" else "private"
    return "private" if path.lstrip("/") in ("", ":memory:") else None


def _is_zero(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0 and node.value is not False


def _assigns_dunder(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id.startswith("__") for t in stmt.targets
    )


def _as_list(value: object) -> list[ast.AST]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, ast.AST) else []


def _true_kwarg(call: ast.Call, name: str) -> bool:
    """``name=`` given and not a false constant (``innerjoin=True``, ``isouter=flag``)."""
    value = kwarg(call, name)
    return value is not None and not _is_false(value)


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and not node.value


IDENTIFIER_NAME = re.compile(
    r"(table|schema|column|sequence|index|constraint|database|savepoint)(_?names?)?$", re.IGNORECASE
)
VALUE_POSITION = re.compile(
    r"(=|<|>|\blike|\bilike|\bin\s*\(|\bvalues\s*\(|\blimit|\boffset|\bbetween)\s*$",
    re.IGNORECASE,
)


def _value_position(before: str) -> bool:
    """SQL text that ends where a value belongs: after an operator, or inside a quoted literal."""
    return before.count("'") % 2 == 1 or bool(VALUE_POSITION.search(before))


def _concat_parts(expr: ast.expr) -> list[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _concat_parts(expr.left) + _concat_parts(expr.right)
    return [expr]


def _order_column(term: ast.expr) -> ast.Attribute | None:
    node: ast.AST = term
    for _ in range(4):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr
            in (
                "desc",
                "asc",
                "nulls_last",
                "nulls_first",
                "nullslast",
                "nullsfirst",
            )
        ):
            node = node.func.value
        elif (
            isinstance(node, ast.Call)
            and last_name(node) in ("desc", "asc", "nulls_last", "nulls_first")
            and node.args
        ):
            node = node.args[0]
        else:
            break
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node
    return None


def walk_scope_stmt(stmt: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(stmt):
        yield child
        if not isinstance(child, NESTED_SCOPES):
            yield from walk_scope_stmt(child)


ROUTE_DECORATORS = {
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "route",
    "api_route",
    "websocket",
    "head",
    "options",
}
FOREIGN_IO_CALLS = {
    "asyncio.sleep",
    "anyio.sleep",
    "trio.sleep",
    "asyncio.to_thread",
    "anyio.to_thread.run_sync",
    "httpx.get",
    "httpx.post",
    "aiofiles.open",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
    "asyncio.open_connection",
}
HTTP_METHODS = {
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "request",
    "send",
    "head",
    "stream",
    "fetch",
}
AWAITING_CALLS = {
    "gather",
    "create_task",
    "ensure_future",
    "wait_for",
    "shield",
    "wait",
    "run",
    "start_soon",
    "as_completed",
}
ADD_ENUM_VALUE = re.compile(
    r"\bALTER\s+TYPE\s+\S+\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'([^']+)'", re.IGNORECASE
)
SYNC_SESSION_IMPORTS = {
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.orm.scoped_session",
    "sqlalchemy.create_engine",
    "sqlalchemy.engine.create_engine",
}
POOL_SIZING_ARGS = {"pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"}
POOLER_PORTS = {6432, 6543}
# The startup parameters PgBouncer tracks; it refuses any other at connect.
POOLER_STARTUP_PARAMETERS = {
    "client_encoding",
    "datestyle",
    "timezone",
    "standard_conforming_strings",
    "application_name",
}  # PgBouncer's default port; Supabase's transaction pooler
# connect_args keys that only one PostgreSQL driver's connect() takes.
CONNECT_ARGS_OF = {
    "asyncpg": {
        "server_settings",
        "command_timeout",
        "timeout",
        "statement_cache_size",
        "prepared_statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
    },
    "psycopg": {
        "options",
        "connect_timeout",
        "prepare_threshold",
        "sslmode",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
    },
}
SESSION_RESETS = {
    "commit",
    "rollback",
    "close",
    "expire",
    "expire_all",
    "expunge",
    "expunge_all",
    "reset",
    "invalidate",
    "refresh",
}
ONE_ROW = {"scalar_one", "scalar_one_or_none", "scalar", "first", "one", "one_or_none"}
CONSUMING = {
    "all",
    "fetchall",
    "one",
    "one_or_none",
    "first",
    "scalar",
    "scalar_one",
    "scalar_one_or_none",
}
DB_ERRORS = {
    "IntegrityError",
    "DBAPIError",
    "OperationalError",
    "DataError",
    "SQLAlchemyError",
    "StatementError",
    "ProgrammingError",
    "Exception",
    "BaseException",
    "InternalError",
    "NotSupportedError",
}
DRIVER_MODULES = {
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "aiomysql",
    "pymysql",
    "asyncmy",
    "psycopg",
    "psycopg2",
    "oracledb",
    "aioodbc",
    "pyodbc",
}
ASYNC_DRIVERS = {
    "asyncpg",
    "psycopg",
    "psycopg_async",
    "aiosqlite",
    "aiomysql",
    "asyncmy",
    "aioodbc",
    "oracledb",
    "oracledb_async",
    "pysqlite_async",
}
ASYNC_ONLY_DRIVERS = {"asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg_async", "aioodbc"}
LIKE_HELPERS = {
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "not_contains",
    "not_icontains",
}
IN_PLACE_METHODS = {
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "popitem",
    "clear",
    "update",
    "setdefault",
    "add",
    "discard",
    "sort",
    "reverse",
}
EXECUTING = {"execute", "scalars", "scalar", "stream", "stream_scalars", "exec"}
PER_ITEM_METHODS = {"execute", "scalar", "scalars", "get", "get_one", "flush", "refresh", "merge"}


# --------------------------------------------------------------------------------- running


SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env"}


def python_files(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Every .py file under the paths (hidden folders, virtualenvs and caches left out), and
    the paths that do not exist."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
                files.extend(Path(root) / n for n in sorted(names) if n.endswith(".py"))
        else:
            missing.append(raw)
    return files, missing


def check_sources(sources: dict[str, str]) -> tuple[list[Finding], list[str]]:
    """Check source texts (path -> text) as one project; returns findings and parse errors."""
    modules: list[ModuleInfo] = []
    errors: list[str] = []
    for path, source in sources.items():
        try:
            tree = ast.parse(source, filename=path)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None) or 0
            errors.append(f"{path}:{line}: cannot parse: {getattr(exc, 'msg', None) or exc}")
            continue
        modules.append(ModuleInfo(path, source, tree))
    project = Project(modules)
    findings: list[Finding] = []
    for module in modules:
        findings.extend(Checker(project, module).run())
    return findings, errors


def check_paths(paths: Sequence[str]) -> tuple[list[Finding], list[str]]:
    files, missing = python_files(paths)
    errors = [f"{raw}: no such file or directory" for raw in missing]
    sources: dict[str, str] = {}
    for file in files:
        try:
            with tokenize.open(file) as handle:  # honours a "# coding: ..." line (PEP 263)
                sources[str(file)] = handle.read()
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            errors.append(f"{file}: cannot read: {exc}")
    findings, parse_errors = check_sources(sources)
    return findings, errors + parse_errors


def rules_help() -> str:
    lines = ["rules (silence one on a line with  # noqa: CODE):"]
    for rule in RULES.values():
        lines.append(f"  {rule.code} {rule.name}: {rule.message}")
        lines.append(f"         fix: {rule.fix}")
        lines.append(f"         see: {rule.reference}")
    lines.append("")
    lines.append("References are relative to the skill's directory (the parent of scripts/).")
    lines.append("Exit status: 1 when something was found, 2 when a path could not be read or")
    lines.append("parsed and nothing was found, 0 otherwise.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_async_sqlalchemy.py",
        description="Find async SQLAlchemy mistakes in Python files or folders, statically.",
        epilog=rules_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to check")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object: findings and errors"
    )
    parser.add_argument(
        "--select", metavar="CODES", help="only these rules, comma-separated (e.g. SQA101,SQA202)"
    )
    args = parser.parse_args(argv)
    selected: set[str] | None = None
    if args.select:
        selected = {code.strip().upper() for code in args.select.split(",") if code.strip()}
        unknown = sorted(selected - set(RULES))
        if unknown:
            parser.error(f"unknown rule(s) {', '.join(unknown)}; see --help")
    findings, errors = check_paths(args.paths)
    if selected is not None:
        findings = [f for f in findings if f.code in selected]
    if args.json:
        print(json.dumps({"findings": [f.as_dict() for f in findings], "errors": errors}, indent=2))
    else:
        for finding in findings:
            print(finding.text())
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
    if findings:
        return 1
    return 2 if errors else 0


if __name__ == "__main__":
    # Users run it with whatever python3 they have: say so instead of failing midway.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit(f"check_async_sqlalchemy.py needs Python >= 3.11, not {sys.version.split()[0]}")
    raise SystemExit(main())
