"""The error answer as a page, for a person in a browser: the same status, headers and message
as the JSON one an API client gets (`services/common/web.py` decides both), in words a person
can act on, in both languages since the page cannot know its reader's."""

from collections.abc import Mapping
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

TITLES = {  # status -> (zh, en)
    401: ("请先登录", "Please sign in"),
    403: ("无权进行此操作", "Not allowed"),
    404: ("找不到该页面", "Not found"),
    409: ("无法完成此操作", "This cannot be done now"),
    410: ("已不再保留", "No longer kept"),
    413: ("提交的内容过大", "Too large"),
    429: ("请求过于频繁", "Too many requests"),
    503: ("暂时无法访问，请稍后重试", "Temporarily unavailable; try again in a moment"),
}
BAD_REQUEST = ("请求有误", "Something in the request is not right")
SERVER_ERROR = ("系统出错了，我们会处理", "Something went wrong on our side")

# Nothing from elsewhere and no script: the page is only its text and inline style.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


def wants_page(request: Request) -> bool:
    """A browser opening a page or sending a form asks for HTML first; API clients ask for JSON
    or for anything (`*/*`)."""
    accept = request.headers.get("accept", "")
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def error_page(request: Request, status: int, body: dict, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    zh, en = TITLES.get(status) or (SERVER_ERROR if status >= 500 else BAD_REQUEST)
    fields = "".join(
        f"<li><code>{escape(str(f['field']))}</code>: {escape(str(f['message']))}</li>" for f in body.get("fields", [])
    )
    retry = (headers or {}).get("Retry-After")
    # A page that could not be read comes back by itself; a form is not sent again without the person.
    comes_back = retry is not None and retry.isdigit() and request.method == "GET"  # not an HTTP-date
    refresh = f'<meta http-equiv="refresh" content="{retry}">' if comes_back else ""
    page = f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{zh} / {en}</title>
<style>body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }}
.muted {{ color: #666; }} h1 .muted {{ display: block; font-size: 1.1rem; font-weight: 400; }}</style></head>
<body><main><h1>{zh} <span class="muted">{en}</span></h1>
<p>{escape(str(body.get("message", "")))}</p>{f"<ul>{fields}</ul>" if fields else ""}
<p class="muted">{status} · {escape(str(body.get("error", "")))}</p></main></body></html>"""
    return HTMLResponse(page, status_code=status, headers={**HEADERS, **(headers or {})})
