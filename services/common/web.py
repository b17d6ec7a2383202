"""What every service's HTTP API shares: one JSON error shape and the health endpoint.

Errors look like `{"error": "<code>", "message": "...", "fields": [{"field", "location", "message"}]}`
so an adapter or a person can see at once which field was wrong; a browser asking for HTML gets
the same as a page (`services/common/error_pages.py`). A refusal whose reason is coded adds
`"reason": {"code", "params"}`, so a client can say it in its reader's language.
"""

import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, AwareDatetime
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.dependencies import DEPENDENCY_EXCEPTIONS, unavailable_dependency
from services.common.error_pages import error_page, wants_page

log = logging.getLogger(__name__)

# The times an API takes (a deadline, a period, a "since") lie in this century: a date near the
# calendar's ends overflows the arithmetic on it (a zone's offset, a period before it) or comes
# back from the database driver without a zone, and means nothing here anyway.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_FIRST_MOMENT = datetime.combine(FIRST_DAY, time(0), tzinfo=UTC)
_AFTER_LAST_MOMENT = datetime.combine(LAST_DAY + timedelta(days=1), time(0), tzinfo=UTC)


def _in_this_century(moment: datetime) -> datetime:
    if not _FIRST_MOMENT <= moment < _AFTER_LAST_MOMENT:  # compared, not converted: no overflow
        raise ValueError(f"must be from {FIRST_DAY.year} to {LAST_DAY.year}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_in_this_century)]


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why something was refused, as a code and its particulars (codes of stages, groups,
    roles…), so each reader's words can be made of it; the message says it in English."""

    code: str
    params: Mapping[str, str | list[str]] = dataclasses.field(default_factory=dict)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        reason: Reason | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers
        self.reason = reason


# How long a caller waits before trying again after a 503, unless the answer says otherwise.
RETRY_AFTER_SECONDS = 5


def unavailable(message: str, retry_after: int = RETRY_AFTER_SECONDS) -> ApiError:
    """What cannot be answered now because something it needs is down: a 503 that says when to
    try again."""
    return ApiError(503, "temporarily_unavailable", message, headers={"Retry-After": str(retry_after)})


# A client's idempotency key, in a header or in a form's hidden field: printable ASCII up to 200
# characters, so that what is built from it (an Update's id, a message's key) stays within what
# Temporal and notify keep. A longer one reached Temporal and came back as "the engine did not
# answer" (503) instead of a 422.
IDEMPOTENCY_KEY_LONGEST = 200
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
IDEMPOTENCY_KEY_RULES: dict[str, int | str] = {
    "min_length": 1,
    "max_length": IDEMPOTENCY_KEY_LONGEST,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
}
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def form_key(given: str | None, field: str) -> str:
    """A form's idempotency key (one per rendered form, so that sending it twice acts once), or a
    new one when the form sent none; a 422 naming the field when what it sent cannot be a key."""
    if not given:
        return str(uuid.uuid4())
    if len(given) > IDEMPOTENCY_KEY_LONGEST or not _IDEMPOTENCY_KEY.fullmatch(given):
        message = (
            f"{field}: a form's key is 1 to {IDEMPOTENCY_KEY_LONGEST} printable ASCII characters;"
            " open the page again for a new form"
        )
        raise ApiError(422, "invalid_request", message, field=field)
    return given


def error_body(code: str, message: str, fields: list[dict] | None = None, reason: Reason | None = None) -> dict:
    body: dict[str, object] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    if reason is not None:
        body["reason"] = {"code": reason.code, "params": dict(reason.params)}
    return body


def error_response(request: Request, status: int, body: dict, headers: Mapping[str, str] | None = None) -> Response:
    """The one way an error is answered: JSON for an API client, the same said as a page to a
    person whose browser asks for HTML. Every 503 says when to try again."""
    if status == 503 and "retry-after" not in {name.lower() for name in headers or {}}:
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_page(request):
        return error_page(request, status, body, headers)
    return JSONResponse(status_code=status, content=body, headers=headers)


def _field_of(loc: tuple) -> tuple[str, str]:
    location, *path = loc or ("body",)
    return ".".join(str(p) for p in path) or str(location), str(location)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    fields = []
    for err in exc.errors():
        field, location = _field_of(tuple(err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":  # loc holds a character offset, not a field
            field = "body"
            message = f"malformed JSON at character {err['loc'][-1]}: {err.get('ctx', {}).get('error', message)}"
        fields.append({"field": field, "location": location, "message": message})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return error_response(request, 422, error_body("invalid_request", summary, fields))


async def _on_api_error(request: Request, exc: ApiError) -> Response:
    fields = [{"field": exc.field, "message": exc.message}] if exc.field else None
    return error_response(request, exc.status, error_body(exc.code, exc.message, fields, exc.reason), exc.headers)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, error_body(code, str(exc.detail)), exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    """The one translation of what no route handled: a dependency that is down is a 503 the
    caller may retry; anything else is a bug, logged with its traceback."""
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        log.warning("dependency unavailable", extra={"dependency": dependency, "error": repr(exc)[:300]})
        # error_response adds the default Retry-After, as to every 503.
        return error_response(
            request,
            503,
            error_body("temporarily_unavailable", f"{dependency} is not reachable right now; retry shortly"),
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(request, 500, error_body("internal_error", "internal error"))


def _nul_field(value, path: str = "") -> str | None:
    """The first field of a decoded JSON document whose text holds a NUL character."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key}".strip(".")
        found = _nul_field(item, f"{path}.{key}".strip("."))
        if found:
            return found
    return None


def _nul_in_body(body: bytes, is_form: bool) -> str | None:
    """The field of a form or a JSON body whose text holds a NUL character."""
    if is_form:
        field = _nul_pair(body.decode("utf-8", errors="replace"))
        return None if field is None else field or "body"
    if b"\\u0000" not in body and b"\x00" not in body:
        return None
    try:
        return _nul_field(json.loads(body))
    except ValueError:
        return None  # not JSON: the route's own validation names the problem


def _nul_pair(encoded: str) -> str | None:
    """The name of the first pair of a query string or a form whose name or value holds a NUL."""
    for name, value in parse_qsl(encoded, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


class RejectNulCharacters:
    """422 for a NUL character in the path, the query, a JSON body or a page's form: PostgreSQL
    cannot store one in text, so it would otherwise fail deep inside a handler."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope.get("path", ""):
            return await self._reject(scope, send, "path", "path")
        if (field := _nul_pair(scope.get("query_string", b"").decode("latin-1"))) is not None:
            return await self._reject(scope, send, field or "query", "query")
        content_type = dict(scope.get("headers") or {}).get(b"content-type", b"")
        is_form = b"x-www-form-urlencoded" in content_type  # a page's form
        if b"json" not in content_type and not is_form:
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:  # the body is bounded by BodySizeLimit, outside this middleware
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        if (field := _nul_in_body(body, is_form)) is not None:
            return await self._reject(scope, send, field, "body")

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)

    async def _reject(self, scope, send, field: str, location: str):
        message = "must not contain a NUL character"
        body = error_body(
            "invalid_request", f"{field}: {message}", [{"field": field, "location": location, "message": message}]
        )
        response = error_response(Request(scope), 422, body)  # a page for a person's browser, as every error
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


MAX_BODY_BYTES = 1024 * 1024  # a complaint with its text is a few kB; attachments are listed, not uploaded


class BodySizeLimit:
    """413 before a too-large body is read into memory (by its Content-Length, or while it
    streams). `larger`: paths that take more (a raw e-mail carries its attachments)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, larger: Mapping[str, int] | None = None):
        self.app, self.max_bytes, self.larger = app, max_bytes, dict(larger or {})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._too_large(send, limit)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(send, limit)

    async def _too_large(self, send, limit: int):
        response = JSONResponse(
            status_code=413,
            content=error_body("payload_too_large", f"the request body is larger than {limit} bytes"),
        )
        await response({"type": "http"}, _no_body, send)


class _TooLarge(Exception):
    pass


# A clock face in the console's blue (its --accent): one icon for every service's pages.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#0b5cad"/>'
    '<path d="M8 4v4l3 2" stroke="#fff" stroke-width="1.6" fill="none" stroke-linecap="round"/></svg>'
)


def install_common_routes(app: FastAPI, service: str, larger_bodies: Mapping[str, int] | None = None) -> None:
    app.add_middleware(RejectNulCharacters)
    # Added last: runs first, before the NUL check reads a body.
    app.add_middleware(BodySizeLimit, larger=larger_bodies)
    # Starlette types a handler as taking any Exception; each of these is registered for its own.
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    # One handler registered for each exception a dependency that is down raises, so Starlette
    # answers them where it answers a route's own errors; its last-resort handler (for any other
    # Exception) also re-raises to the server, which logs a traceback: an outage would fill the
    # logs with what look like bugs, one per request answered 503.
    for dependency_down in DEPENDENCY_EXCEPTIONS:
        app.add_exception_handler(dependency_down, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """The icon a browser asks every site for: without it, each page a person opens logs a 404
        in their browser's console, which hides the errors worth seeing there."""
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        """200 while every background loop runs (a loop whose passes fail, say while a
        dependency is down, shows as failing with its last error); 503 if a loop has died."""
        loops = getattr(request.app.state, "loops", None)
        healthy = loops is None or loops.healthy()
        body = {
            "status": "ok" if healthy else "unhealthy",
            "service": service,
            "loops": loops.report() if loops else {},
        }
        return JSONResponse(status_code=200 if healthy else 503, content=body)
