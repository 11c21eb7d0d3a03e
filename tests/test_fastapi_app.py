"""examples/fastapi_app.py end to end on every lane: real requests through httpx's ASGI
transport into an app that owns a real database (lifespan included), validation, 404/409/422,
rollback on errors, eager loading, keyset pages, concurrent requests; and the transaction
policy's wrong way (commit after `yield`) reporting success for a write that failed.

Every request passes through ``BodySendProbe``, which records how many of the app's pooled
connections are checked out at the moment the response body is sent: the session dependency
must have given its connection back by then (``scope="function"``), except for a streamed body
that reads from the session."""

import asyncio
import contextlib
import inspect
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import PydanticDeprecatedSince20, ValidationError
from sqlalchemy import URL, Connection, event, func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool
from starlette.types import Message, Receive, Scope, Send

from examples import fastapi_app
from examples.errors.dialects import without_insert_returning
from examples.fastapi_app import PostOut, SessionDep, UserIn, create_app, get_session
from examples.models import AuditEvent, Post, Tag, User, post_tags
from examples.quickstart import create_tables
from examples.testing_recipe import make_post
from tests.conftest import Lane
from tests.test_errors_dialects import statement_shapes
from tools.statements import count_statements


def _url(db_url: URL) -> str:
    return db_url.render_as_string(hide_password=False)


def app_engine(app: FastAPI) -> AsyncEngine:
    """The engine the app's lifespan created."""
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    bind = sessionmaker.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


def checked_out(engine: AsyncEngine) -> int:
    """Connections of the engine's pool in use right now (not idle in the pool)."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)  # every lane's engine here has a queue pool
    return pool.checkedout()


class BodySendProbe:
    """ASGI middleware: at each ``http.response.body`` message the app sends, record how many of
    the app's connections are checked out; ``hold_next_body()`` makes the next such message wait
    there (a client still downloading the body) until ``release()``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.checked_out: list[int] = []
        self.holding = asyncio.Event()  # set once the held body is waiting to be sent
        self._gate = asyncio.Event()
        self._hold_next = False

    def hold_next_body(self) -> None:
        self._hold_next = True
        self._gate.clear()
        self.holding.clear()

    def release(self) -> None:
        self._gate.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def probed_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                self.checked_out.append(checked_out(app_engine(self.app)))
                if self._hold_next:
                    self._hold_next = False
                    self.holding.set()
                    await self._gate.wait()
            await send(message)

        await self.app(scope, receive, probed_send)


class Api:
    """The app, a client for it, and a separate engine to look at what was really committed."""

    def __init__(
        self, app: FastAPI, probe: BodySendProbe, client: httpx.AsyncClient, check: AsyncEngine
    ) -> None:
        self.app = app
        self.probe = probe
        self.client = client
        self.check = check

    @property
    def app_engine(self) -> AsyncEngine:
        return app_engine(self.app)

    async def count(self, model: Any) -> int:
        async with self.check.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(model)) or 0

    async def user(self, email: str, name: str = "Someone") -> dict[str, Any]:
        response = await self.client.post("/users", json={"email": email, "name": name})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post(self, user_id: int, title: str, tags: list[str]) -> dict[str, Any]:
        response = await self.client.post(
            f"/users/{user_id}/posts", json={"title": title, "tags": tags}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def checked_out_while_sending(
        self, method: str, path: str, json: Any = None
    ) -> tuple[int, list[int]]:
        """Send one request; its status and the checked-out counts seen as its body was sent."""
        self.probe.checked_out.clear()
        response = await self.client.request(method, path, json=json)
        return response.status_code, list(self.probe.checked_out)


@contextlib.asynccontextmanager
async def serve(app: FastAPI, db_url: URL) -> AsyncIterator[Api]:
    """Run ``app`` (lifespan included) on the empty database ``db_url`` with the models' tables."""
    check = create_async_engine(db_url)
    await create_tables(check)
    probe = BodySendProbe(app)
    transport = httpx.ASGITransport(app=probe)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app") as client,
        ):
            yield Api(app, probe, client, check)
    finally:
        await check.dispose()


@pytest.fixture
async def api(db_url: URL) -> AsyncIterator[Api]:
    async with serve(create_app(_url(db_url)), db_url) as served:
        yield served


async def test_create_and_read_a_user(api: Api) -> None:
    with count_statements(api.app_engine) as log:
        response = await api.client.post(
            "/users", json={"email": "  Ada@Example.com ", "name": " Ada "}
        )
    assert response.status_code == 201
    # INSERT ... RETURNING id, created_at for the user, then its audit event; no SELECT.
    assert statement_shapes(log.statements) == ["INSERT users", "INSERT audit_events"]
    user = response.json()
    assert (user["email"], user["name"]) == ("ada@example.com", "Ada")
    assert user["created_at"]

    detail = (await api.client.get(f"/users/{user['id']}")).json()
    assert detail == {**user, "posts": []}
    assert await api.count(AuditEvent) == 1  # written in the same transaction as the user


# What POST /users and POST /users/{id}/posts send, with RETURNING (every lane: PostgreSQL,
# SQLite >= 3.35, MariaDB >= 10.5) and without it (MySQL's path, reproduced on MariaDB).
CREATE_POST_STATEMENTS = [
    "SELECT users.id",  # session.get(User, user_id)
    "SELECT tags.id",  # the existing tags
    "INSERT tags",  # the new tag
    "INSERT posts",
    "INSERT post_tags",
]


async def test_server_defaults_come_back_with_the_insert(api: Api) -> None:
    with count_statements(api.app_engine) as log:
        user = await api.user("ada@example.com")
        post = await api.post(user["id"], "Notes", ["sql"])
    assert user["created_at"]
    assert post["created_at"]
    assert statement_shapes(log.statements) == [
        "INSERT users",
        "INSERT audit_events",
        *CREATE_POST_STATEMENTS,
    ]


@pytest.mark.lanes("mysql")
async def test_without_returning_each_insert_is_followed_by_one_select(api: Api) -> None:
    """MySQL's path: the models' eager_defaults=True reads created_at back with one SELECT
    after each INSERT of a class with a server default, so the response still needs no IO."""
    await without_insert_returning(api.app_engine)
    with count_statements(api.app_engine) as log:
        user = await api.user("ada@example.com")
        post = await api.post(user["id"], "Notes", ["sql"])
    assert user["created_at"]
    assert post["created_at"]
    assert (
        statement_shapes(log.statements)
        == [
            "INSERT users",
            "SELECT users.created_at",
            "INSERT audit_events",
            "SELECT audit_events.created_at",
            *CREATE_POST_STATEMENTS[:4],
            "SELECT posts.created_at",  # tags and post_tags have no server default
            *CREATE_POST_STATEMENTS[4:],
        ]
    )


async def test_every_endpoint_returning_relations_serialises_them(api: Api) -> None:
    ada = await api.user("ada@example.com", "Ada")
    first = await api.post(ada["id"], "First", ["sql", "async"])
    second = await api.post(ada["id"], "Second", ["sql"])  # reuses the existing tag
    assert first["author"]["email"] == "ada@example.com"
    assert sorted(t["name"] for t in first["tags"]) == ["async", "sql"]
    sql_tag = next(t for t in first["tags"] if t["name"] == "sql")
    assert second["tags"] == [sql_tag]
    assert await api.count(Tag) == 2

    detail = (await api.client.get(f"/users/{ada['id']}")).json()
    assert sorted((p["title"], len(p["tags"])) for p in detail["posts"]) == [
        ("First", 2),
        ("Second", 1),
    ]
    assert (await api.client.get(f"/posts/{first['id']}")).json() == first
    page = (await api.client.get("/posts")).json()
    assert page == {"items": [first, second], "next_after": None}


async def test_eager_loading_keeps_queries_constant(api: Api) -> None:
    ada = await api.user("ada@example.com", "Ada")
    for i in range(12):
        await api.post(ada["id"], f"Post {i}", [f"tag{i}", "common"])
    with count_statements(api.app_engine) as log:
        page = (await api.client.get("/posts", params={"limit": 12})).json()
    assert len(page["items"]) == 12
    # posts JOIN users, then one SELECT ... IN for every post's tags: 2, not 1 + 12 + 12.
    assert len(log.selects) == 2
    with count_statements(api.app_engine) as log:
        await api.client.get(f"/users/{ada['id']}")
    assert len(log.selects) == 3  # user, its posts, their tags


async def test_unknown_ids_are_404(api: Api) -> None:
    for method, path in [
        ("GET", "/users/424242"),
        ("GET", "/posts/424242"),
        ("POST", "/users/424242/posts"),
    ]:
        response = await api.client.request(method, path, json={"title": "x"})
        assert response.status_code == 404
        assert response.json() == {"detail": f"{path.split('/')[1][:-1]} 424242 not found"}
    assert await api.count(Post) == 0


INVALID_USERS = [
    ({"email": "not-an-email", "name": "Ada"}, "email"),
    ({"email": "ada@localhost", "name": "Ada"}, "email"),
    ({"email": "ada@example.com", "name": "   "}, "name"),
    ({"email": "ada@example.com", "name": "x" * 101}, "name"),
    ({"email": "ada@example.com"}, "name"),
    ({"email": "ada@example.com", "name": "Ada", "is_admin": True}, "is_admin"),
]


async def test_invalid_user_input_is_422_and_writes_nothing(api: Api) -> None:
    for payload, field in INVALID_USERS:
        response = await api.client.post("/users", json=payload)
        assert response.status_code == 422, payload
        assert [error["loc"][-1] for error in response.json()["detail"]] == [field]
    assert await api.count(User) == 0


async def test_invalid_post_input_and_query_parameters_are_422(api: Api) -> None:
    ada = await api.user("ada@example.com")
    for payload in [{"title": ""}, {"title": "x", "tags": [f"t{i}" for i in range(11)]}]:
        response = await api.client.post(f"/users/{ada['id']}/posts", json=payload)
        assert response.status_code == 422, payload
    for query in ["limit=0", "limit=101", "after=-1", "limit=ten"]:
        response = await api.client.get(f"/posts?{query}")
        assert response.status_code == 422, query
    assert await api.count(Post) == 0


async def test_duplicate_email_is_409_and_nothing_is_half_written(api: Api) -> None:
    await api.user("ada@example.com", "Ada")
    response = await api.client.post("/users", json={"email": "ADA@example.com", "name": "Two"})
    assert response.status_code == 409
    assert response.json() == {"detail": "ada@example.com is already registered"}
    assert await api.count(User) == 1
    assert await api.count(AuditEvent) == 1  # the second user's audit event is gone too
    await api.user("grace@example.com")  # the app (and its pool) carries on


async def test_keyset_pages_cover_every_post_once(api: Api) -> None:
    ada = await api.user("ada@example.com")
    created = [(await api.post(ada["id"], f"Post {i}", []))["id"] for i in range(25)]
    seen: list[int] = []
    after, sizes = 0, []
    while True:
        page = (await api.client.get("/posts", params={"after": after, "limit": 10})).json()
        sizes.append(len(page["items"]))
        seen += [p["id"] for p in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert sizes == [10, 10, 5]
    assert seen == sorted(created)


async def test_concurrent_requests(api: Api) -> None:
    emails = [f"user{i}@example.com" for i in range(50)]
    created = await asyncio.gather(
        *(api.client.post("/users", json={"email": e, "name": "U"}) for e in emails)
    )
    assert [r.status_code for r in created] == [201] * 50
    ids = [r.json()["id"] for r in created]
    assert len(set(ids)) == 50

    reads = await asyncio.gather(*(api.client.get(f"/users/{i}") for i in ids))
    assert [r.json()["email"] for r in reads] == emails

    # 20 requests race for one email: exactly one wins, the others get 409 and write nothing.
    racing = await asyncio.gather(
        *(
            api.client.post("/users", json={"email": "race@example.com", "name": "R"})
            for _ in range(20)
        )
    )
    assert sorted(r.status_code for r in racing) == [201] + [409] * 19
    assert await api.count(User) == 51
    assert await api.count(AuditEvent) == 51

    # Posts racing to create the same new tag: 201 or 409 (retry), one tag, no half posts.
    posts = await asyncio.gather(
        *(
            api.client.post(f"/users/{i}/posts", json={"title": "T", "tags": ["race"]})
            for i in ids[:10]
        )
    )
    codes = [r.status_code for r in posts]
    assert set(codes) <= {201, 409}, [r.text for r in posts]
    assert 201 in codes
    assert await api.count(Post) == codes.count(201)
    assert await api.count(post_tags) == codes.count(201)
    assert await api.count(Tag) == 1


async def test_an_exception_in_an_endpoint_rolls_back(api: Api) -> None:
    @api.app.post("/fail")
    async def fail(session: SessionDep, status: int) -> None:
        session.add(User(email="half@example.com", name="Half"))
        await session.flush()  # the INSERT has run inside the request's transaction
        if status == 500:
            raise RuntimeError("boom")
        raise HTTPException(status, "refused")

    response = await api.client.post("/fail", params={"status": 403})
    assert response.status_code == 403
    with pytest.raises(RuntimeError, match="boom"):  # ASGITransport re-raises server errors
        await api.client.post("/fail", params={"status": 500})
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.post("/fail", params={"status": 500})
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert await api.count(User) == 0


async def test_the_lifespan_disposes_of_the_engine(db_url: URL) -> None:
    app = create_app(_url(db_url))
    async with app.router.lifespan_context(app):
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        engine = sessionmaker.kw["bind"]
        async with sessionmaker() as session:
            await session.scalar(select(1))
        assert engine.pool.checkedin() == 1  # the connection went back to the pool
    assert engine.pool.checkedin() == 0  # dispose() closed it


def test_input_is_dumped_with_model_dump_not_dict() -> None:
    payload = UserIn(email="ada@example.com", name="Ada")
    assert payload.model_dump() == {"email": "ada@example.com", "name": "Ada"}
    with pytest.warns(PydanticDeprecatedSince20, match="The `dict` method is deprecated"):
        payload.dict()


def test_create_app_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="pass a database URL or set DATABASE_URL"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///unused.db")
    assert isinstance(create_app(), FastAPI)  # the engine is only created by the lifespan


NOT_LOADED = (
    r"Error extracting attribute: InvalidRequestError: "
    r"'Post\.author' is not available due to lazy='raise'"
)


async def test_a_relationship_not_eager_loaded_fails_loudly(session: AsyncSession) -> None:
    post_id = (await make_post(session, title="Hello")).id
    await session.commit()
    session.expunge_all()
    post = await session.scalar(select(Post).where(Post.id == post_id))  # no loader options
    # Pydantic reports the lazy="raise" error as a validation error of the response model.
    with pytest.raises(ValidationError, match=NOT_LOADED):
        PostOut.model_validate(post)


async def test_an_endpoint_that_forgets_an_eager_load_is_a_server_error(api: Api) -> None:
    @api.app.get("/careless/{post_id}")
    async def careless(post_id: int, session: SessionDep) -> PostOut:
        return PostOut.model_validate(await session.get(Post, post_id))

    ada = await api.user("ada@example.com")
    post = await api.post(ada["id"], "Hello", [])
    with pytest.raises(ValidationError, match=NOT_LOADED):  # a 500 for a real client
        await api.client.get(f"/careless/{post['id']}")


@pytest.mark.parametrize(("scope", "duplicate_status"), [("request", 201), ("function", 500)])
async def test_commit_after_yield_never_answers_409(
    db_url: URL, scope: Literal["request", "function"], duplicate_status: int
) -> None:
    """The wrong way: commit in the dependency. With the default scope its exit code runs after
    the response is sent, so the client gets 201 for a row that was never written. With
    scope="function" it runs before: the failed commit becomes a 500, still not a 409."""
    engine = create_async_engine(db_url)
    await create_tables(engine)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    async def committing_session() -> AsyncIterator[AsyncSession]:
        async with sessionmaker() as session:
            yield session
            await session.commit()  # the endpoint has already chosen its status code

    app = FastAPI()

    @app.post("/users", status_code=201)
    async def create(
        payload: UserIn,
        session: Annotated[AsyncSession, Depends(committing_session, scope=scope)],
    ) -> dict[str, str]:
        session.add(User(**payload.model_dump()))
        return {"status": "created"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            ada = {"email": "ada@example.com", "name": "Ada"}
            first = await client.post("/users", json=ada)
            second = await client.post("/users", json=ada)  # duplicate: its commit fails
        assert (first.status_code, second.status_code) == (201, duplicate_status)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(User)) == 1
    finally:
        await engine.dispose()


# FastAPI's default scope for a dependency with `yield` is "request": its exit code, which closes
# the session, runs after the response has been sent (FastAPI >= 0.118). The example's
# dependency was declared like this before it moved to scope="function".
RequestScopedSessionDep = Annotated[AsyncSession, Depends(get_session)]


def _on_request_scoped_session(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The same endpoint, declared with RequestScopedSessionDep where it says SessionDep."""
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=RequestScopedSessionDep) if p.annotation is SessionDep else p
        for p in signature.parameters.values()
    ]

    async def on_request_scoped_session(*args: Any, **kwargs: Any) -> Any:
        return await endpoint(*args, **kwargs)

    on_request_scoped_session.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters
    )
    return on_request_scoped_session


def create_request_scoped_app(url: str) -> FastAPI:
    """The example's app (same lifespan, same endpoints) with the request-scoped dependency."""
    example = create_app(url)
    router = APIRouter()
    for route in fastapi_app.router.routes:
        assert isinstance(route, APIRoute)
        router.add_api_route(
            route.path,
            _on_request_scoped_session(route.endpoint),
            methods=sorted(route.methods or ()),
            status_code=route.status_code,
        )
    app = FastAPI(lifespan=example.router.lifespan_context)
    app.include_router(router)
    return app


SCOPES = pytest.mark.parametrize(
    ("make_app", "read_holds"),
    [(create_request_scoped_app, 1), (create_app, 0)],
    ids=["scope-request", "example-scope-function"],
)


@SCOPES
async def test_connections_checked_out_while_the_body_is_sent(
    db_url: URL, make_app: Callable[[str], FastAPI], read_holds: int
) -> None:
    """Writes commit (and so give the connection back) before they return; reads hold theirs
    until the session closes: after the body is sent with the default scope, before it with
    scope="function"."""
    async with serve(make_app(_url(db_url)), db_url) as api:
        ada = {"email": "ada@example.com", "name": "Ada"}
        seen = [
            ("POST /users", await api.checked_out_while_sending("POST", "/users", ada)),
            (
                "POST /users/1/posts",
                await api.checked_out_while_sending("POST", "/users/1/posts", {"title": "T"}),
            ),
            ("GET /users/1", await api.checked_out_while_sending("GET", "/users/1")),
            ("GET /posts/1", await api.checked_out_while_sending("GET", "/posts/1")),
            ("GET /posts", await api.checked_out_while_sending("GET", "/posts")),
            ("GET /users/424242", await api.checked_out_while_sending("GET", "/users/424242")),
            ("POST /users again", await api.checked_out_while_sending("POST", "/users", ada)),
        ]
        assert seen == [
            ("POST /users", (201, [0])),
            ("POST /users/1/posts", (201, [0])),
            ("GET /users/1", (200, [read_holds])),
            ("GET /posts/1", (200, [read_holds])),
            ("GET /posts", (200, [read_holds])),
            ("GET /users/424242", (404, [0])),  # an exception closes the session before
            ("POST /users again", (409, [0])),  # the error response is sent, in either scope
        ]
        assert checked_out(api.app_engine) == 0  # every connection is back afterwards


def take_write_lock_now(path: str) -> None:
    """BEGIN IMMEDIATE on a connection of its own that does not wait (timeout=0): raises
    "database is locked" at once if another connection holds the write lock."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@pytest.mark.lanes("sqlite")
@SCOPES
async def test_sqlite_a_read_holds_the_write_lock_while_its_body_is_sent(
    db_url: URL, make_app: Callable[[str], FastAPI], read_holds: int
) -> None:
    """The production engine begins every SQLite transaction with BEGIN IMMEDIATE, reads too:
    a read that still holds its connection holds the database's write lock, and every writer
    waits for the client to finish downloading. The body is held by the probe, not by a timer."""
    assert db_url.database is not None
    async with serve(make_app(_url(db_url)), db_url) as api:
        ada = await api.user("ada@example.com", "Ada")
        grace = {"email": "grace@example.com", "name": "Grace"}
        api.probe.hold_next_body()
        read = asyncio.create_task(api.client.get(f"/users/{ada['id']}"))
        await api.probe.holding.wait()  # the read's body is being sent, and stays there

        if read_holds:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                take_write_lock_now(db_url.database)
            # A writing request waits at its BEGIN IMMEDIATE until the read's connection is
            # back in the pool, i.e. until the read's body has been sent.
            events: list[str] = []
            begin_sent = asyncio.Event()

            def before(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
                if statement == "BEGIN IMMEDIATE":
                    events.append("write: BEGIN IMMEDIATE sent")
                    begin_sent.set()

            def after(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
                if statement == "BEGIN IMMEDIATE":
                    events.append("write: lock taken")

            sync_engine = api.app_engine.sync_engine
            event.listen(sync_engine, "before_cursor_execute", before)
            event.listen(sync_engine, "after_cursor_execute", after)
            event.listen(sync_engine, "checkin", lambda *args: events.append("checkin"))
            write = asyncio.create_task(api.client.post("/users", json=grace))
            await begin_sent.wait()
            assert not read.done()
            api.probe.release()
            assert (await write).status_code == 201  # it waited; it did not fail
            assert events == [
                "write: BEGIN IMMEDIATE sent",
                "checkin",  # the read's connection, once its body was sent
                "write: lock taken",
                "checkin",  # the write's, after its commit
            ]
        else:
            take_write_lock_now(db_url.database)  # free: the read gave its connection back
            response = await api.client.post("/users", json=grace)
            assert response.status_code == 201  # written while the read's body is still held
            assert not read.done()
            api.probe.release()
        assert (await read).status_code == 200


async def test_a_streamed_body_keeps_its_session_until_it_is_sent(
    api: Api, lane: Lane, db_url: URL
) -> None:
    await api.user("ada@example.com")
    await api.user("grace@example.com")
    status, seen = await api.checked_out_while_sending("GET", "/export/emails")
    assert status == 200
    assert seen  # the lines, then the end of the body
    assert set(seen) == {1}  # the session's connection is checked out for every chunk
    assert checked_out(api.app_engine) == 0  # given back once the last chunk was sent
    response = await api.client.get("/export/emails")
    assert response.text == "ada@example.com\ngrace@example.com\n"
    if lane.backend == "sqlite":  # and, with BEGIN IMMEDIATE, the write lock while it streams
        assert db_url.database is not None
        api.probe.hold_next_body()
        stream = asyncio.create_task(api.client.get("/export/emails"))
        await api.probe.holding.wait()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            take_write_lock_now(db_url.database)
        api.probe.release()
        assert (await stream).status_code == 200


async def test_a_streamed_body_on_a_function_scoped_session_leaks_its_connection(
    api: Api,
) -> None:
    """The wrong way: the session closes before the body is sent; reading from it while
    streaming opens a new connection that nothing gives back."""
    sessions: list[AsyncSession] = []

    @api.app.get("/careless-export")
    async def careless_export(session: SessionDep) -> StreamingResponse:
        sessions.append(session)

        async def lines() -> AsyncIterator[str]:
            async for email in await session.stream_scalars(select(User.email)):
                yield f"{email}\n"

        return StreamingResponse(lines(), media_type="text/plain")

    await api.user("ada@example.com")
    response = await api.client.get("/careless-export")
    assert (response.status_code, response.text) == (200, "ada@example.com\n")  # looks fine
    assert checked_out(api.app_engine) == 1  # but the connection is still checked out
    await sessions[0].close()  # (give it back: otherwise the garbage collector warns)
    assert checked_out(api.app_engine) == 0


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await fastapi_app.main(_url(db_url))
    out = capsys.readouterr().out
    assert "created user 1, post 1 tagged sql" in out
    assert "duplicate email: 409 ada@example.com is already registered" in out
    assert "posts page: ['Notes'], next_after=None" in out
