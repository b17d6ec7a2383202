"""Service-to-service credentials: each calling service presents a token of its own, and each
service accepts, per endpoint, only the callers that need it (notify's outbox takes messages
from the workflow and intake services; the event feed is read by reporting).

A process knows its own token (`COMPLAINTS_SERVICE_TOKEN`) and only the SHA-256 of the tokens
it accepts (`COMPLAINTS_CALLER_TOKENS`, a JSON object caller -> hex digest), so no service can
present itself as another. With no caller configured every protected endpoint is closed.
`make run` generates the tokens for the local system (`new_service_tokens`).
"""

import base64
import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.settings import Settings, get_settings
from services.common.web import ApiError

# Who may call; "operator" is the SRE's token (and the tests'), for reading the feed and outbox.
CALLERS = ("intake", "workflow", "notify", "reporting", "operator")

_bearer = HTTPBearer(auto_error=False, description="the calling service's token")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_service_tokens() -> dict[str, str]:
    """One fresh token per caller (local system and tests)."""
    return {caller: secrets.token_urlsafe(32) for caller in CALLERS}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outgoing_headers(settings: Settings) -> dict[str, str]:
    """Headers for this service's calls to another service."""
    return bearer(settings.service_token.get_secret_value()) if settings.service_token else {}


def caller_of(token: str, settings: Settings) -> str | None:
    presented = digest(token)
    for caller, expected in settings.caller_tokens.items():
        if hmac.compare_digest(presented, expected):
            return caller
    return None


def unauthorized(message: str) -> ApiError:
    """401 naming the Authorization header, with the Bearer challenge (services and staff alike)."""
    return ApiError(401, "unauthorized", message, field="Authorization", headers={"WWW-Authenticate": "Bearer"})


def service_caller(*allowed: str):
    """A FastAPI dependency admitting the named callers only: 401 without a known token,
    403 for a known caller this endpoint is not for."""

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None:
            raise unauthorized("send the calling service's token as 'Authorization: Bearer <token>'")
        caller = caller_of(credentials.credentials, get_settings())
        if caller is None:
            raise unauthorized("unknown service token")
        if caller not in allowed:
            raise ApiError(403, "forbidden", f"{caller} may not call this endpoint", field="Authorization")
        return caller

    return authenticate


def operator_in_browser(request: Request) -> None:
    """The operator's token as the password of HTTP Basic authentication (any user name): a
    browser asks for it, so a page for operators (notify's local mailbox) needs no other login."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    token = ""
    if scheme.lower() == "basic":
        try:
            token = base64.b64decode(encoded).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            token = ""
    if not token or caller_of(token, get_settings()) != "operator":
        raise ApiError(
            401,
            "unauthorized",
            "sign in with the operator token as the password (data folder: operator-token.txt)",
            headers={"WWW-Authenticate": 'Basic realm="complaints operator", charset="UTF-8"'},
        )
