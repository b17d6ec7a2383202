"""The shared error translation of every service: a dependency that is down is a 503 with
Retry-After (never a 500), and a NUL character anywhere in a request is a 422 naming the field;
a browser asking for HTML gets the same answer as a page. A form's own idempotency key is
checked at the edge too."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.common.web import ApiError, form_key, install_common_routes, unavailable
from services.run import free_port


class Note(BaseModel):
    text: str
    tags: list[str] = []


def an_app(pool_url: str) -> FastAPI:
    app = FastAPI()
    install_common_routes(app, "test")

    @app.get("/from-database")
    @app.post("/from-database")
    async def from_database():
        conn = await asyncpg.connect(pool_url, timeout=2)  # what a pool does when PostgreSQL is down
        await conn.close()

    @app.get("/bug")
    async def bug():
        raise KeyError("a real bug")

    @app.get("/peer/{status}")
    async def peer(status: int):
        """A service this one calls answers `status`, and the route lets raise_for_status raise."""
        request = httpx.Request("GET", "http://notify.internal/v1/notifications")
        httpx.Response(status, request=request).raise_for_status()

    @app.get("/quoted")
    async def quoted():
        raise ApiError(409, "conflict", "cannot <script>alert(1)</script> now", field="<b>state</b>")

    @app.get("/maintenance")
    async def maintenance():
        raise ApiError(503, "maintenance", "back at eight", headers={"Retry-After": "Wed, 21 Oct 2026 08:00:00 GMT"})

    @app.get("/sign-in-down")
    async def sign_in_down():
        raise ApiError(503, "temporarily_unavailable", "sign-in cannot be checked right now")  # no Retry-After

    @app.get("/intake-down")
    async def intake_down():
        raise unavailable("intake cannot say right now", retry_after=2)

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


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_service_called_that_answers_it_is_down_is_a_503(client, status):
    response = await client.get(f"/peer/{status}")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"


async def test_a_service_called_that_refuses_the_request_is_our_bug_a_500(client):
    response = await client.get("/peer/404")
    assert response.status_code == 500 and response.json()["error"] == "internal_error"


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
        (("POST", "/notes/1", {"data": {"csrf": "t", "text": "a\x00b"}}), "text", "body"),  # a page's form
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


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_a_browser_gets_the_503_as_a_page_that_comes_back_by_itself(client):
    response = await client.get("/from-database", headers=BROWSER)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.text
    assert "暂时无法访问，请稍后重试" in page and "Temporarily unavailable" in page
    assert "is not reachable right now; retry shortly" in page
    assert '<meta http-equiv="refresh" content="5">' in page


async def test_a_form_sent_while_a_dependency_is_down_is_not_sent_again_by_the_page(client):
    response = await client.post("/from-database", headers=BROWSER)
    assert response.status_code == 503 and "Temporarily unavailable" in response.text
    assert "http-equiv" not in response.text


async def test_a_browser_gets_the_field_that_was_wrong_named_on_the_page(client):
    response = await client.post("/notes/1", json={"tags": "not a list"}, headers=BROWSER)
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "请求有误" in response.text and "<code>text</code>" in response.text and "<code>tags</code>" in response.text


async def test_a_browsers_form_with_a_nul_character_gets_the_field_named_on_a_page(client):
    response = await client.post("/notes/1", data={"csrf": "t", "text": "a\x00b"}, headers=BROWSER)
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "<code>text</code>" in response.text and "NUL" in response.text


async def test_every_503_says_when_to_try_again(client):
    """A 503 raised without Retry-After (reporting's sign-in and intake's reply form answered so)
    gets the default; one that names its own keeps it."""
    for headers in ({}, BROWSER):
        response = await client.get("/sign-in-down", headers=headers)
        assert response.status_code == 503 and response.headers["Retry-After"] == "5", headers
        response = await client.get("/intake-down", headers=headers)
        assert response.status_code == 503 and response.headers["Retry-After"] == "2", headers
    assert (await client.get("/intake-down")).json() == {
        "error": "temporarily_unavailable",
        "message": "intake cannot say right now",
    }
    response = await client.get("/maintenance")
    assert response.headers["Retry-After"] == "Wed, 21 Oct 2026 08:00:00 GMT"


async def test_what_the_page_repeats_is_escaped(client):
    response = await client.get("/quoted", headers=BROWSER)
    assert response.status_code == 409
    assert "<script>" not in response.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<code>&lt;b&gt;state&lt;/b&gt;</code>" in response.text


async def test_an_api_client_still_gets_json(client):
    for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}, {"Accept": "application/json, text/html"}):
        response = await client.get("/from-database", headers=accept)
        assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable", accept


async def test_a_dependency_that_is_down_is_answered_without_reaching_the_server_as_an_error():
    """Starlette's last-resort handler answers, then re-raises to the server, which logs a
    traceback per request: during an outage, the logs would fill with what look like bugs."""
    down = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    transport = httpx.ASGITransport(app=an_app(down), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/from-database")  # answered, nothing raised to the server
        assert response.status_code == 503
        with pytest.raises(KeyError):  # a bug still reaches the server, to be logged as one
            await http.get("/bug")


async def test_a_retry_after_given_as_a_date_still_makes_a_page(client):
    response = await client.get("/maintenance", headers=BROWSER)
    assert response.status_code == 503 and "back at eight" in response.text and "http-equiv" not in response.text


def test_a_forms_key_is_what_it_sent_or_a_new_one():
    assert form_key("0b6f3c2e-console-form", "action_key") == "0b6f3c2e-console-form"
    assert form_key("k" * 200, "action_key") == "k" * 200
    fresh = {form_key(None, "action_key"), form_key("", "action_key")}
    assert len(fresh) == 2 and all(len(k) == 36 for k in fresh)  # a new key each time nothing was sent


@pytest.mark.parametrize("given", ["k" * 201, "a key", "schlüssel", "k\tk", "k\n", "x" * 5000])
def test_a_forms_key_that_cannot_be_one_is_a_422_naming_its_field(given):
    """A longer key reached Temporal as an Update's id and came back as a 503 ("the engine did
    not answer"); the staff API's header has had the same rule."""
    with pytest.raises(ApiError) as refused:
        form_key(given, "record_key")
    assert (refused.value.status, refused.value.code, refused.value.field) == (422, "invalid_request", "record_key")
