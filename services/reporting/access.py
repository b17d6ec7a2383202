"""Who may read reports: group leads and up, signed in at the workflow service (their staff
token, checked there and remembered for a minute), or the operator's service token. The
dashboard's browser session keeps the same staff token in a cookie of its own."""

import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.service_auth import caller_of, unauthorized
from services.common.settings import get_settings
from services.common.web import ApiError, unavailable
from services.workflow.contract.names import RANK

READS_REPORTS = "group_lead"
REMEMBER_SECONDS = 60.0
DASHBOARD_COOKIE = "dashboard_session"
_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Reader:
    who: str  # a staff id, or "operator"
    authority: str
    name: str = ""  # as the roster names the person; pages show it

    def at_least(self, role: str) -> bool:
        return RANK.get(self.authority, 0) >= RANK[role]


class StaffTokens:
    """Staff tokens as the workflow service knows them (`GET /v1/auth/me`), remembered briefly;
    this service's one way to ask the workflow service about a sign-in."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http  # its base URL is the workflow service's
        self._known: dict[str, tuple[float, Reader | None]] = {}

    async def ask(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The workflow service's answer about a sign-in; 503 here while it cannot give one."""
        try:
            answer = await self.http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise _sign_in_unavailable() from exc
        if answer.status_code >= 500:
            raise _sign_in_unavailable()
        return answer

    async def reader(self, token: str) -> Reader | None:
        remembered = self._known.get(token)
        if remembered and remembered[0] > time.monotonic():
            return remembered[1]
        answer = await self.ask("GET", "/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        me = answer.json() if answer.status_code == 200 else None
        reader = Reader(me["staff_id"], me["authority"], me.get("name") or "") if me else None
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[token] = (time.monotonic() + REMEMBER_SECONDS, reader)
        return reader

    async def revoke(self, token: str) -> None:
        """Signed out: the workflow service revokes the token (503 while it cannot, so the person
        tries again rather than leaving a live token behind), and this service stops honouring it
        at once, not a minute later."""
        await self.ask("DELETE", "/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
        self._known.pop(token, None)


def _sign_in_unavailable() -> ApiError:
    return unavailable("sign-in cannot be checked right now; try again")


async def reader_of(request: Request, token: str | None, least: str = READS_REPORTS) -> Reader:
    if not token:
        raise unauthorized("sign in at the workflow service (POST /v1/auth/token) and send the token")
    if caller_of(token, get_settings()) == "operator":
        return Reader("operator", "admin")
    reader = await request.app.state.staff_tokens.reader(token)
    if reader is None:
        raise unauthorized("this token is unknown, expired or signed out")
    if not reader.at_least(least):
        raise ApiError(403, "forbidden", "reports are for group leads and up")
    return reader


async def report_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Reader:
    return await reader_of(request, credentials.credentials if credentials else None)


ReportReader = Annotated[Reader, Depends(report_reader)]


async def any_staff(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Reader:
    """Any signed-in member of staff (an improvement action's owner marks it done)."""
    return await reader_of(request, credentials.credentials if credentials else None, least="agent")


AnyStaff = Annotated[Reader, Depends(any_staff)]


async def staff_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str | None:
    """The caller's token as sent (to ask the workflow service on their behalf, e.g. the roster)."""
    return credentials.credentials if credentials else None


StaffToken = Annotated[str | None, Depends(staff_token)]
