"""What every service's HTTP API shares: one JSON error shape and the health endpoint.

Errors look like `{"error": "<code>", "message": "...", "fields": [{"field", "location", "message"}]}`
so an adapter or a person can see at once which field was wrong.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_body(code: str, message: str, fields: list[dict] | None = None) -> dict:
    body = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def _field_of(loc: tuple) -> tuple[str, str]:
    location, *path = loc or ("body",)
    return ".".join(str(p) for p in path) or str(location), str(location)


async def _on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = []
    for err in exc.errors():
        field, location = _field_of(tuple(err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":  # loc holds a character offset, not a field
            field = "body"
            message = f"malformed JSON at character {err['loc'][-1]}: {err.get('ctx', {}).get('error', message)}"
        fields.append({"field": field, "location": location, "message": message})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return JSONResponse(status_code=422, content=error_body("invalid_request", summary, fields))


async def _on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
    fields = [{"field": exc.field, "message": exc.message}] if exc.field else None
    return JSONResponse(status_code=exc.status, content=error_body(exc.code, exc.message, fields),
                        headers=exc.headers)


async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        status_code=exc.status_code, content=error_body(code, str(exc.detail)), headers=exc.headers
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(status_code=500, content=error_body("internal_error", "internal error"))


MAX_BODY_BYTES = 1024 * 1024  # a complaint with its text is a few kB; attachments are listed, not uploaded


class BodySizeLimit:
    """413 before a too-large body is read into memory (by its Content-Length, or while it streams)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send):
        response = JSONResponse(status_code=413, content=error_body(
            "payload_too_large", f"the request body is larger than {self.max_bytes} bytes"))
        await response({"type": "http"}, None, send)


class _TooLarge(Exception):
    pass


def install_common_routes(app: FastAPI, service: str) -> None:
    app.add_middleware(BodySizeLimit)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        """200 while every background loop runs (a loop whose passes fail, say while a
        dependency is down, shows as failing with its last error); 503 if a loop has died."""
        loops = getattr(request.app.state, "loops", None)
        healthy = loops is None or loops.healthy()
        body = {"status": "ok" if healthy else "unhealthy", "service": service,
                "loops": loops.report() if loops else {}}
        return JSONResponse(status_code=200 if healthy else 503, content=body)
