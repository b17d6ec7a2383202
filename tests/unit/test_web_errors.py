"""The shared error translation of every service: a dependency that is down is a 503 with
Retry-After (never a 500), and a NUL character anywhere in a request is a 422 naming the field."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.common.web import install_common_routes
from services.run import free_port


class Note(BaseModel):
    text: str
    tags: list[str] = []


def an_app(pool_url: str) -> FastAPI:
    app = FastAPI()
    install_common_routes(app, "test")

    @app.get("/from-database")
    async def from_database():
        conn = await asyncpg.connect(pool_url, timeout=2)  # what a pool does when PostgreSQL is down
        await conn.close()

    @app.get("/bug")
    async def bug():
        raise KeyError("a real bug")

    @app.post("/notes/{note_id}")
    async def add(note_id: str, note: Note, q: str | None = None):
        return {"note_id": note_id, "text": note.text}

    return app


@pytest.fixture
async def client():
    down = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    transport = httpx.ASGITransport(app=an_app(down), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_a_database_that_is_down_is_a_503_with_retry_after(client):
    response = await client.get("/from-database")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"


async def test_anything_else_unhandled_is_still_a_500_and_logged(client):
    response = await client.get("/bug")
    assert response.status_code == 500 and response.json() == {"error": "internal_error", "message": "internal error"}


@pytest.mark.parametrize(
    ("request_args", "field", "location"),
    [
        (("POST", "/notes/%00", {"json": {"text": "ok"}}), "path", "path"),
        (("POST", "/notes/1?q=a%00b", {"json": {"text": "ok"}}), "q", "query"),
        (("POST", "/notes/1", {"json": {"text": "call me\u0000"}}), "text", "body"),
        (("POST", "/notes/1", {"json": {"text": "ok", "tags": ["fine", "bad\u0000"]}}), "tags.1", "body"),
    ],
)
async def test_a_nul_character_is_a_422_naming_the_field(client, request_args, field, location):
    method, url, kwargs = request_args
    response = await client.request(method, url, **kwargs)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == [
        {"field": field, "location": location, "message": "must not contain a NUL character"}
    ]


async def test_a_clean_json_body_still_reaches_the_route(client):
    response = await client.post("/notes/7", json={"text": "订单 \\u0000 written out is fine"})
    assert response.status_code == 200 and response.json() == {
        "note_id": "7",
        "text": "订单 \\u0000 written out is fine",
    }
