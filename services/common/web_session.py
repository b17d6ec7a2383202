"""What a browser session needs on any of our services' pages: an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS) holding the staff token, a CSRF token derived from it (an HMAC: no
storage, and another site cannot compute it without the cookie), the Origin check on POSTs,
and a `next` that can only lead back into the same pages (never an open redirect); and the
reader's language, chosen on any page and kept in a cookie of that service's pages."""

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from services.common.code_words import DEFAULT_LANGUAGE, LANGUAGES
from services.common.web import ApiError

LANGUAGE_KEPT = 365 * 24 * 3600  # seconds: a reader chooses once


def page_headers(inline_styles: bool = False) -> dict[str, str]:
    """For every page of a signed-in person: never cached (a signed-out browser's back button
    shows nothing), only the site's own scripts, never framed."""
    styles = " style-src 'self' 'unsafe-inline';" if inline_styles else ""
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": f"default-src 'self';{styles} frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(request: Request, response: Response, name: str, value: str, path: str, max_age: int | None = None):
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def same_origin(request: Request) -> bool:
    """A browser names the page's site in Origin on every POST; another site's is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def safe_next(path: str | None, prefix: str) -> str:
    """Only a path under `prefix`: never an address elsewhere."""
    if path and path.startswith(prefix) and not path.startswith("//") and "\\" not in path:
        return path
    return prefix


def language_of(request: Request, cookie: str, otherwise: str = DEFAULT_LANGUAGE) -> str:
    """The reader's language: the one they chose (kept in `cookie`), else `otherwise`."""
    lang = request.cookies.get(cookie)
    return lang if lang in LANGUAGES else otherwise


def remember_language(request: Request, response: Response, cookie: str, lang: str, path: str) -> None:
    set_cookie(request, response, cookie, lang, path, LANGUAGE_KEPT)


def switch_language(request: Request, lang: str, next: str | None, cookie: str, prefix: str) -> Response:
    """The language switch in a page's header: remember `lang`, back to the page under `prefix`."""
    if lang not in LANGUAGES:
        raise ApiError(404, "not_found", f"no language '{lang}'", field="lang")
    response = RedirectResponse(safe_next(next, prefix), status_code=303)
    remember_language(request, response, cookie, lang, prefix)
    return response
