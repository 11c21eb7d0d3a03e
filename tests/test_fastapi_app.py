"""examples/fastapi_app.py end to end on every lane: real requests through httpx's ASGI
transport into an app that owns a real database (lifespan included), validation, 404/409/422,
rollback on errors, eager loading, keyset pages, concurrent requests; and the transaction
policy's wrong way (commit after `yield`) reporting success for a write that failed."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from pydantic import PydanticDeprecatedSince20, ValidationError
from sqlalchemy import URL, func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples import fastapi_app
from examples.fastapi_app import PostOut, SessionDep, UserIn, create_app
from examples.models import AuditEvent, Post, Tag, User, post_tags
from examples.quickstart import create_tables
from examples.testing_recipe import make_post
from tools.statements import count_statements


def _url(db_url: URL) -> str:
    return db_url.render_as_string(hide_password=False)


class Api:
    """The app, a client for it, and a separate engine to look at what was really committed."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, check: AsyncEngine) -> None:
        self.app = app
        self.client = client
        self.check = check

    @property
    def app_engine(self) -> AsyncEngine:
        sessionmaker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        bind = sessionmaker.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

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


@pytest.fixture
async def api(db_url: URL) -> AsyncIterator[Api]:
    check = create_async_engine(db_url)
    await create_tables(check)
    app = create_app(_url(db_url))
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app") as client,
        ):
            yield Api(app, client, check)
    finally:
        await check.dispose()


async def test_create_and_read_a_user(api: Api) -> None:
    with count_statements(api.app_engine) as log:
        response = await api.client.post(
            "/users", json={"email": "  Ada@Example.com ", "name": " Ada "}
        )
    assert response.status_code == 201
    # INSERT ... RETURNING id, created_at for the user, then its audit event; no SELECT.
    assert [s.split()[:3] for s in log.statements if not s.startswith(("BEGIN", "COMMIT"))] == [
        ["INSERT", "INTO", "users"],
        ["INSERT", "INTO", "audit_events"],
    ]
    user = response.json()
    assert (user["email"], user["name"]) == ("ada@example.com", "Ada")
    assert user["created_at"]

    detail = (await api.client.get(f"/users/{user['id']}")).json()
    assert detail == {**user, "posts": []}
    assert await api.count(AuditEvent) == 1  # written in the same transaction as the user


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


async def test_commit_after_yield_reports_success_for_a_failed_write(db_url: URL) -> None:
    """The wrong way: commit in the dependency. Its exit code runs after the response is sent,
    so the client gets 201 for a row that was never written."""
    engine = create_async_engine(db_url)
    await create_tables(engine)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    async def committing_session() -> AsyncIterator[AsyncSession]:
        async with sessionmaker() as session:
            yield session
            await session.commit()  # too late to change the response

    app = FastAPI()

    @app.post("/users", status_code=201)
    async def create(
        payload: UserIn, session: Annotated[AsyncSession, Depends(committing_session)]
    ) -> dict[str, str]:
        session.add(User(**payload.model_dump()))
        return {"status": "created"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            ada = {"email": "ada@example.com", "name": "Ada"}
            first = await client.post("/users", json=ada)
            second = await client.post("/users", json=ada)  # duplicate: its commit fails
        assert (first.status_code, second.status_code) == (201, 201)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(User)) == 1
    finally:
        await engine.dispose()


async def test_main_runs(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    await fastapi_app.main(_url(db_url))
    out = capsys.readouterr().out
    assert "created user 1, post 1 tagged sql" in out
    assert "duplicate email: 409 ada@example.com is already registered" in out
    assert "posts page: ['Notes'], next_after=None" in out
