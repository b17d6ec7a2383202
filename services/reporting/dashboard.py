"""The managers' dashboard (`/dashboard`, server-rendered, charts drawn as SVG on the server:
no script, no build step), for a period the reader chooses: compliance against 95 %,
satisfaction against 85 %, source 000's timeliness report by tier, the breach trend, the tier ×
type heat map, source 003's distributions, the open complaints by stage, what dissatisfied customers said
beside what their second follow-up did, and the departments: how long complaints stayed with
each, how fast it accepted transfers and answered consultations. Staff sign in here with their
workflow-service account, or arrive signed in from the staff console (a one-use handoff code);
the session is their staff token in a cookie of this service."""

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.common import web_session
from services.common.code_words import in_language, value_label
from services.common.deadlines.policy import POLICY_DIR
from services.common.web import ApiError
from services.reporting import exports, reports, simulator
from services.reporting.access import DASHBOARD_COOKIE, READS_REPORTS, Reader
from services.reporting.words import label
from services.workflow.contract import title_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)
PAGES = Jinja2Templates(directory=Path(__file__).parent / "templates")
SIGN_IN_COOKIE = "dashboard_sign_in"
HEADERS = web_session.page_headers(inline_styles=True)  # the charts' colours are inline


LANG_COOKIE = "dashboard_lang"
# Source 003's distributions, each as its codes' words name them (services/common/code_words.py);
# by type, the most frequent first, are domain §7's high-frequency complaint types.
SPREAD = (
    ("type", "complaint_type"),
    ("urgency", "urgency"),
    ("responsibility", "responsibility"),
    ("channel", "channel"),
    ("scope", "scope"),
)
UNHAPPY_LISTED = 10  # the latest dissatisfied answers on the page; the satisfaction report has them all


def _lang(request: Request) -> str:
    return web_session.language_of(request, LANG_COOKIE)


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang = context.pop("lang", None) or _lang(request)
    words = {
        "t": lambda key: label(key, lang),
        "v": lambda kind, value: value_label(kind, value, lang),
        "lang": lang,
        "console_url": request.app.state.console_url,
        "span": lambda seconds: _span(seconds, lang),
    }
    if (titles := context.pop("group_titles", None)) is not None:
        words["group"] = lambda group: title_in(titles, group, lang)
    response = PAGES.TemplateResponse(request, template, {**words, **context}, status_code=status)
    response.headers.update(HEADERS)
    return response


@router.get("/language/{lang}")
async def choose_language(request: Request, lang: str, next: Annotated[str | None, Query(max_length=500)] = None):
    return web_session.switch_language(request, lang, next, LANG_COOKIE, "/dashboard")


async def reader_of_session(request: Request) -> Reader | None:
    token = request.cookies.get(DASHBOARD_COOKIE)
    return await request.app.state.staff_tokens.reader(token) if token else None


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    return _sign_in_form(request, next=next)


def _sign_in_form(
    request: Request, error: str | None = None, lang: str | None = None, next: str | None = None
) -> Response:
    """The sign-in form; `error` is ours to write, never taken from the address (a link could
    otherwise put any words on this page). `next`: the dashboard's page to go on to."""
    token = web_session.new_form_token()
    context = {"csrf": token, "error": error, "lang": lang, "next": web_session.safe_next(next, "/dashboard")}
    response = page(request, "sign_in.html", context)
    web_session.set_cookie(request, response, SIGN_IN_COOKIE, token, "/dashboard", 3600)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    staff_id: Annotated[str, Form(min_length=1, max_length=100)],
    password: Annotated[str, Form(min_length=1, max_length=200)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:
    if csrf != request.cookies.get(SIGN_IN_COOKIE) or not web_session.same_origin(request):
        raise ApiError(403, "csrf", "this sign-in form is not from this dashboard; reload the page", field="csrf")
    answer = await request.app.state.staff_tokens.ask(
        "POST", "/v1/auth/token", json={"staff_id": staff_id, "password": password}
    )
    if answer.status_code != 200:
        message = answer.json().get("message", "wrong staff id or password")
        return _sign_in_form(request, error=message, next=next)
    return _signed_in(request, answer.json()["access_token"], next)


def _signed_in(request: Request, token: str, next: str | None = None) -> Response:
    """Into the dashboard (at `next`, a page of its own) with this staff token as its session."""
    signed_in = RedirectResponse(web_session.safe_next(next, "/dashboard"), status_code=303)
    web_session.set_cookie(request, signed_in, DASHBOARD_COOKIE, token, "/dashboard", 12 * 3600)
    signed_in.delete_cookie(SIGN_IN_COOKIE, path="/dashboard")
    signed_in.headers.update(HEADERS)
    return signed_in


@router.get("/handoff")
async def handoff(
    request: Request,
    code: Annotated[str, Query(min_length=16, max_length=100)],
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Arriving from the staff console: its one-use code becomes this dashboard's session, so
    whoever signed in there is not asked for their password again, and the console's language
    is kept. A used or expired code gets the sign-in form."""
    answer = await request.app.state.staff_tokens.ask("POST", "/v1/auth/handoff/redeem", json={"code": code})
    if answer.status_code == 200:
        arrived = _signed_in(request, answer.json()["access_token"], next)
    else:
        arrived = _sign_in_form(request, error=label("handoff_refused", lang or _lang(request)), lang=lang, next=next)
    if lang:
        web_session.remember_language(request, arrived, LANG_COOKIE, lang, "/dashboard")
    return arrived


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    token = request.cookies.get(DASHBOARD_COOKIE)
    if not token or csrf != web_session.csrf_for(token) or not web_session.same_origin(request):
        raise ApiError(403, "csrf", "this form is not from this dashboard session; reload the page", field="csrf")
    await request.app.state.staff_tokens.revoke(token)  # 503, and the session kept, while it cannot
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(DASHBOARD_COOKIE, path="/dashboard")
    return response


async def signed_in_reader(request: Request) -> Reader | Response:
    reader = await reader_of_session(request)
    if reader is None:
        return RedirectResponse("/dashboard/sign-in", status_code=303)
    if not reader.at_least(READS_REPORTS):
        return page(request, "forbidden.html", {"reader": reader}, status=403)
    return reader


def checked_csrf(request: Request, csrf: str) -> str:
    """A form of this dashboard session (its csrf and origin checked); the session's csrf."""
    session_csrf = web_session.csrf_for(request.cookies[DASHBOARD_COOKIE])
    if csrf != session_csrf or not web_session.same_origin(request):
        raise ApiError(403, "csrf", "this form is not from this dashboard session; reload the page", field="csrf")
    return session_csrf


def _span(seconds: float | None, lang: str) -> str:
    """A time span as managers read it: minutes under an hour, else hours to one decimal."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} {in_language(('分钟', 'min'), lang)}"
    return f"{seconds / 3600:.1f} {in_language(('小时', 'h'), lang)}"


# The targets each tier's row shows in columns of their own (source 000: response time and the
# breach rate); the rest of a tier's targets are listed beside them where any was late.
_OWN_COLUMNS = ("first_response", "resolution")


def _tier_row(tier: reports.TierTimeliness) -> dict[str, Any]:
    """One tier of source 000's timeliness report as the dashboard's row: how long the first
    response and the resolution took (wall clock: what the customer waited), and how many of
    each target were late among those decided (on the target's own clock)."""
    targets = {t.target: t for t in tier.targets}
    return {
        "tier": tier.tier,
        "complaints": tier.complaints,
        "first_response": tier.first_response,
        "resolution": tier.resolution,
        "first_response_target": targets.get("first_response"),
        "resolution_target": targets.get("resolution"),
        "other_late": [t for t in tier.targets if t.target not in _OWN_COLUMNS and t.breached],
        "escalations": sorted(tier.escalations_by_level.items()),
    }


def _trend_points(
    trend: list[reports.TrendPoint], period: reports.Period, width: int = 640, height: int = 160
) -> dict[str, Any]:
    """The daily breach rate as an SVG line over the period (x: the day's place in it, so days
    without complaints leave their gap; y: 0–100 %), and a dot for each day, which a single day
    still shows."""
    days = max(1, (period.end - period.start).days)
    dots = []
    for p in trend:
        rate = p.breached / p.received if p.received else 0.0
        x = min(days, max(0, (p.starts - period.start).days)) * width / days
        dots.append({"x": round(x, 1), "y": round(height - rate * height, 1), "point": p, "rate": rate})
    labels = [(0, period.start.isoformat()), (width, period.end.isoformat())]
    return {
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "labels": labels,
        "width": width,
        "height": height,
    }


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    period = reports.Period.asked(start, end, request.app.state.zone)
    async with request.app.state.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        held = await reports.against_targets(conn, period)
        timely = await reports.timeliness(conn, period)
        spread = await reports.distributions(conn, period)
        cells = await reports.heat_map(conn, period)
        stages = await reports.open_by_stage(conn)
        happy = await reports.satisfaction(conn, period)
    worst = max((c.breached / c.complaints for c in cells if c.complaints), default=0) or 1
    context = {
        "reader": reader,
        "csrf": web_session.csrf_for(request.cookies[DASHBOARD_COOKIE]),
        "period": period,
        "figures": held.figures,
        "by_tier": [_tier_row(t) for t in timely.tiers],
        "spread": [(name, kind) for name, kind in SPREAD if spread.by.get(name)],
        "spread_by": spread.by,
        "trend": _trend_points(spread.daily, period),
        "daily": spread.daily,
        "tiers": sorted({c.tier for c in cells}, key=lambda t: (t is None, t)),
        "types": sorted({c.complaint_type or "" for c in cells}),
        "cells": {(c.tier, c.complaint_type or ""): c for c in cells},
        "worst": worst,
        "stages": stages,
        "most_open": max(stages.values(), default=1),
        "departments": timely.departments,
        "satisfaction": happy,
        "unhappy": happy.dissatisfied[:UNHAPPY_LISTED],
        "group_titles": await request.app.state.directory.group_titles(request.cookies[DASHBOARD_COOKIE]),
    }
    return page(request, "dashboard.html", context)


# The dashboard's download links: each report of the period, as the API's `format=csv` gives it.
_DOWNLOADS: dict[str, tuple[Callable[[Any, reports.Period], Awaitable[Any]], Callable[[Any], Response]]] = {
    "timeliness": (reports.timeliness, exports.timeliness),
    "distributions": (reports.distributions, exports.distributions),
    "satisfaction": (reports.satisfaction, exports.satisfaction),
    "targets": (reports.against_targets, exports.targets),
}


@router.get("/reports/{name}.csv")
async def download(
    request: Request,
    name: Literal["timeliness", "distributions", "satisfaction", "targets"],
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    """A report of the period for a spreadsheet, with the dashboard's session (its cookie is
    this path's, so the API's reports, which take a staff token, are not linked directly)."""
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    period = reports.Period.asked(start, end, request.app.state.zone)
    read, as_csv = _DOWNLOADS[name]
    async with request.app.state.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await read(conn, period)
    response = as_csv(report)
    response.headers.update(HEADERS)
    return response


@router.get("/simulate", response_class=HTMLResponse)
async def simulate_page(request: Request) -> Response:
    """Try a policy on past complaints: the current default policy to edit, the last 30 days."""
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    last = datetime.now(request.app.state.zone).date()
    form = {"policy": (POLICY_DIR / "default.toml").read_text(encoding="utf-8"),
            "start": last - timedelta(days=29), "end": last}  # fmt: skip
    context = {"reader": reader, "csrf": web_session.csrf_for(request.cookies[DASHBOARD_COOKIE]), "form": form}
    return page(request, "simulate.html", context)


@router.post("/simulate", response_class=HTMLResponse)
async def simulate(
    request: Request,
    policy: Annotated[str, Form(min_length=1, max_length=100_000)],
    start: Annotated[date, Form()],
    end: Annotated[date, Form()],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    reader = await signed_in_reader(request)
    if not isinstance(reader, Reader):
        return reader
    session_csrf = checked_csrf(request, csrf)
    context: dict[str, Any] = {"reader": reader, "csrf": session_csrf,
                               "form": {"policy": policy, "start": start, "end": end}}  # fmt: skip
    try:
        proposal = simulator.SimulationRequest(policy=policy, start=start, end=end)
        context["result"] = await simulator.run(request.app.state.pool, request.app.state.zone, proposal)
    except ApiError as exc:
        context["error"] = exc.message
        return page(request, "simulate.html", context, status=exc.status)
    return page(request, "simulate.html", context)
