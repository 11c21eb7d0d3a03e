"""A FastAPI service over the examples' models, with async SQLAlchemy done the safe way:

* the lifespan creates the engine and disposes of it (one engine per app, not per request);
* a dependency gives each request its own session and closes it, rolling back whatever the
  endpoint did not commit (an exception, an HTTPException), before the response is sent
  (``scope="function"``), so no connection is held while a client downloads a body;
* endpoints that write call ``commit()`` themselves, before returning, so a failed commit
  becomes an error response (409 for a duplicate) instead of a success already sent;
* Pydantic v2 schemas are built from ORM objects (``from_attributes``), and every relationship
  a response shows is eager-loaded first: the models use ``lazy="raise"``, so a forgotten load
  fails loudly instead of doing IO during serialisation.

Run: DATABASE_URL=postgresql+asyncpg://... uvicorn --factory examples.fastapi_app:create_app
     (tables come from the migrations: python -m examples.migrations.runner)
     python -m examples.fastapi_app   (sends a few requests in-process, SQLite by default)
"""

# region: schemas
import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not local or "." not in domain.strip("."):
        raise ValueError("not an email address")
    return value.lower()


class UserIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    email: Annotated[str, Field(max_length=254), AfterValidator(_email)]
    name: Annotated[str, Field(min_length=1, max_length=100)]  # User.name is String(100)


class PostIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=255)]
    body: str = ""
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=10)
    ] = []


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read attributes of an ORM object

    id: int
    name: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    created_at: datetime.datetime


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime.datetime
    author: UserOut  # a relationship: must be loaded before model_validate()
    tags: list[TagOut]  # same


class PostSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    tags: list[TagOut]


class UserDetail(UserOut):
    posts: list[PostSummary]


class PostPage(BaseModel):
    items: list[PostOut]
    next_after: int | None  # pass as ?after= for the next page; None on the last page


# endregion: schemas


# region: session
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # One session per request. Closing it rolls back anything not committed, so an endpoint
    # that raises (HTTPException included) leaves nothing half-written. Never commit here:
    # commit in the endpoint, where a failure can still become an error response.
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


# scope="function" (FastAPI >= 0.121): the session closes when the endpoint returns, before
# the response is sent. The default scope closes it after the response is sent, so a read
# endpoint keeps its connection (on SQLite with BEGIN IMMEDIATE, the write lock) checked out
# while the client downloads the body.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# Only for a StreamingResponse that reads from the session while it streams: the default
# scope keeps the session, and its connection, until the last chunk is sent.
StreamingSessionDep = Annotated[AsyncSession, Depends(get_session)]
# endregion: session


from examples.models import AuditEvent, Post, Tag, User  # the models SKILL.md shows

# isort: split
# region: endpoints
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

router = APIRouter()


@router.post("/users", status_code=201)
async def create_user(payload: UserIn, session: SessionDep) -> UserOut:
    user = User(**payload.model_dump())
    user.events.add(AuditEvent(action="user_created"))  # same transaction as the user
    session.add(user)
    try:
        await session.commit()  # here, not in the dependency: a failure can still become a 409
    except IntegrityError:
        await session.rollback()  # neither the user nor its audit event was written
        raise HTTPException(409, f"{payload.email} is already registered") from None
    return UserOut.model_validate(user)  # id and created_at came back with the INSERT


@router.get("/users/{user_id}")
async def get_user(user_id: int, session: SessionDep) -> UserDetail:
    user = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.posts).selectinload(Post.tags))  # everything UserDetail shows
    )
    if user is None:
        raise HTTPException(404, f"user {user_id} not found")
    return UserDetail.model_validate(user)


@router.post("/users/{user_id}/posts", status_code=201)
async def create_post(user_id: int, payload: PostIn, session: SessionDep) -> PostOut:
    author = await session.get(User, user_id)
    if author is None:
        raise HTTPException(404, f"user {user_id} not found")
    names = sorted(set(payload.tags))
    existing = {t.name: t for t in await session.scalars(select(Tag).where(Tag.name.in_(names)))}
    post = Post(
        title=payload.title,
        body=payload.body,
        author=author,
        tags=[existing.get(name) or Tag(name=name) for name in names],
    )
    session.add(post)
    try:
        await session.commit()
    except IntegrityError:  # another request created one of the new tags meanwhile
        await session.rollback()
        raise HTTPException(409, "a tag was created concurrently; retry") from None
    return PostOut.model_validate(post)  # author and tags are the objects assigned above


# Everything PostOut shows: joinedload for the many-to-one (same row), selectinload for the
# collection (one more query, WHERE post_id IN (...)). Statements are immutable: reuse them.
POSTS_WITH_RELATIONS = select(Post).options(joinedload(Post.author), selectinload(Post.tags))


@router.get("/posts/{post_id}")
async def get_post(post_id: int, session: SessionDep) -> PostOut:
    post = await session.scalar(POSTS_WITH_RELATIONS.where(Post.id == post_id))
    if post is None:
        raise HTTPException(404, f"post {post_id} not found")
    return PostOut.model_validate(post)


@router.get("/posts")
async def list_posts(
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,  # out of range: 422 before any query
) -> PostPage:
    # Keyset pagination: WHERE id > last seen id, in id order; no OFFSET to skip or repeat rows.
    stmt = POSTS_WITH_RELATIONS.where(Post.id > after).order_by(Post.id).limit(limit)
    posts = (await session.scalars(stmt)).all()
    items = [PostOut.model_validate(p) for p in posts]
    return PostPage(items=items, next_after=posts[-1].id if len(posts) == limit else None)


@router.get("/export/emails")
async def export_emails(session: StreamingSessionDep) -> StreamingResponse:
    # The body is read from the database while it is sent: StreamingSessionDep keeps the
    # session open until the last line (with SessionDep it would already be closed).
    stmt = select(User.email).order_by(User.id).execution_options(yield_per=1000)

    async def lines() -> AsyncIterator[str]:
        async for email in await session.stream_scalars(stmt):
            yield f"{email}\n"

    return StreamingResponse(lines(), media_type="text/plain")


# endregion: endpoints


# region: app
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from examples.production import make_production_engine


def create_app(url: str | None = None) -> FastAPI:
    database_url = url or os.environ.get("DATABASE_URL")
    if not database_url:
        raise ValueError("pass a database URL or set DATABASE_URL")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Created here, in the server's event loop, and disposed of when the server stops.
        # The production engine: pool limits, pre-ping, statement timeouts; on SQLite,
        # BEGIN IMMEDIATE, so concurrent writing requests queue instead of failing.
        engine = make_production_engine(database_url)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)  # the endpoints below
    return app


# endregion: app


# region: usage
import httpx


async def send_a_few_requests(url: str) -> None:
    """The app in-process, without a server: what a test of it does."""
    app = create_app(url)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
    # ASGITransport does not run the lifespan: enter it, or there is no engine.
    async with app.router.lifespan_context(app), client:
        ada = {"email": "ada@example.com", "name": "Ada"}
        user = (await client.post("/users", json=ada)).json()
        new_post = {"title": "Notes", "tags": ["sql"]}
        post = (await client.post(f"/users/{user['id']}/posts", json=new_post)).json()
        again = await client.post("/users", json=ada)
        page = (await client.get("/posts", params={"limit": 10})).json()
    print(f"created user {user['id']}, post {post['id']} tagged {post['tags'][0]['name']}")
    print(f"duplicate email: {again.status_code} {again.json()['detail']}")
    print(f"posts page: {[p['title'] for p in page['items']]}, next_after={page['next_after']}")


# endregion: usage


async def main(url: str) -> None:
    from examples.quickstart import create_tables, drop_tables, make_engine

    engine = make_engine(url)
    await create_tables(engine)  # (the migrations, in a real deployment)
    try:
        await send_a_few_requests(url)
    finally:
        await drop_tables(engine)
        await engine.dispose()


if __name__ == "__main__":
    from examples.run import run_example

    run_example(main)
