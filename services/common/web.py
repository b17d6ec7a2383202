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
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


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
    return JSONResponse(status_code=exc.status, content=error_body(exc.code, exc.message, fields))


async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        status_code=exc.status_code, content=error_body(code, str(exc.detail)), headers=exc.headers
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(status_code=500, content=error_body("internal_error", "internal error"))


def install_common_routes(app: FastAPI, service: str) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        return {"status": "ok", "service": service}
