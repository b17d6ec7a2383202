"""The console's session: the staff token from sign-in, kept in an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS), and a CSRF token every form carries.

The CSRF token is an HMAC of the session token, so it needs no storage and a page from another
site, which cannot read the cookie, cannot compute it. Before sign-in (the sign-in form itself)
it is a double-submit cookie. A POST whose Origin names another site is refused as well.
"""

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response

from services.common import web_session
from services.common.web import ApiError
from services.common.web_session import csrf_for, same_origin
from services.workflow import staff_auth
from services.workflow.permissions import Staff

SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_sign_in"  # the sign-in form's double-submit CSRF token
LANG_COOKIE = "console_lang"


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page, and comes back after."""

    def __init__(self, next_path: str):
        super().__init__("sign in first")
        self.next_path = next_path


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    web_session.set_cookie(request, response, name, value, "/console", max_age)


def safe_next(path: str | None) -> str:
    return web_session.safe_next(path, "/console")


class Session:
    def __init__(self, staff: Staff, token: str):
        self.staff, self.token, self.csrf = staff, token, csrf_for(token)


async def current_session(request: Request) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    staff = None
    if token:
        state = request.app.state
        staff = await staff_auth.staff_for_token(state.pool, state.router, token)
    if staff is None or token is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target if request.method == "GET" else "/console", safe="/?=&"))
    return Session(staff, token)


async def checked_form(request: Request, session: Annotated[Session, Depends(current_session)]) -> dict[str, str]:
    """A POSTed form of this session: its CSRF token and origin checked; the fields as text."""
    form = await request.form()
    # A box ticked more than once (the groups of a consultation) comes as one comma-separated field.
    fields = {k: ",".join(v for v in form.getlist(k) if isinstance(v, str)) for k in form.keys()}
    if not same_origin(request) or not hmac.compare_digest(fields.pop("csrf", ""), session.csrf):
        raise ApiError(403, "csrf", "this form is not from this console session; reload the page", field="csrf")
    return fields


CurrentSession = Annotated[Session, Depends(current_session)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
