"""The staff console (`/console`): server-rendered pages over the same actions as the staff API.

My work (my complaints and my groups' queues, nearest deadline first), a complaint (record,
classification and why, every deadline, timeline, messages, notes, and exactly the actions the
stage and my role allow). Recording a complaint and Team have modules of their own
(record_page.py, team_page.py); what every page shares is in rendering.py.
"""

import json
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.domain_events import RepeatLinked, payload_of
from services.common.privacy import mask_name, masked_event_data
from services.common.settings import get_settings
from services.common.web import ApiError, form_key
from services.common.web_session import new_form_token, same_origin, switch_language
from services.intake.contract import WaitingComplaints
from services.workflow import contacts, inbox, kept_views, not_started, outbox, staff_auth
from services.workflow.console import forms
from services.workflow.console.form_errors import in_words
from services.workflow.console.record_page import RECORDED
from services.workflow.console.rendering import PAGE_HEADERS, STATIC, desk_of, lang_of, render
from services.workflow.console.session import (
    LANG_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CheckedForm,
    CurrentSession,
    Session,
    safe_next,
    set_cookie,
)
from services.workflow.contract import ComplaintType, Customer, ErasureBody, Stage
from services.workflow.contract.names import superiors_of
from services.workflow.erasure.activities import erasures_of
from services.workflow.erasure.api import start_erasure
from services.workflow.permissions import LEADING_ROLES, Handling, Staff, answering_for, erasure_refusal, refusal
from services.workflow.playbooks import suggest
from services.workflow.routing import RoutingConfig

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)

# My work lists the newest alerts (the rest of them folded under the first few); an alert about a
# closed complaint is done with (outbox.alerts_to).
ALERTS_FIRST, ALERTS_LISTED = 10, 30

# Scalar event fields worth a line on the timeline (the rest is on the record or in deadlines).
_TIMELINE_FIELDS = (
    "staff_id", "assignee", "group", "to_group", "from_group", "tier", "to_tier", "complaint_type", "to_type",
    "target", "level", "to", "message", "plan", "question", "template", "how", "reason", "text", "note", "kind",
    "amount", "approved", "outcome", "extra_compensation", "status", "channel", "liaison", "groups", "answer",
    "satisfaction_result", "satisfaction_speed", "suggestion",
)  # fmt: skip
# ---------------------------------------------------------------- sign-in


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    token = new_form_token()
    response = render(request, "sign_in.html", {"csrf": token, "next": safe_next(next), "error": None})
    set_cookie(request, response, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    staff_id: Annotated[str, Form(min_length=1, max_length=100)],
    password: Annotated[str, Form(min_length=1, max_length=200)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if not expected or csrf != expected or not same_origin(request):
        raise ApiError(403, "csrf", "this sign-in form is not from this console; reload the page", field="csrf")
    error = None
    try:
        issued = await staff_auth.sign_in(request.app.state.pool, staff_id, password)
    except staff_auth.LockedOut:
        issued, error = None, "locked_out"
    if issued is None:
        token = new_form_token()
        context = {"csrf": token, "next": safe_next(next), "error": error or "wrong_password", "staff_id": staff_id}
        response = render(request, "sign_in.html", context, status=401 if error is None else 429)
        set_cookie(request, response, SIGN_IN_COOKIE, token, max_age=3600)
        return response
    signed_in = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, signed_in, SESSION_COOKIE, issued.token, max_age=int(staff_auth.TOKEN_LIFETIME.total_seconds()))
    signed_in.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    await staff_auth.sign_out(request.app.state.pool, session.token)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.get("/password", response_class=HTMLResponse)
async def password_page(request: Request, session: CurrentSession, changed: bool = False) -> HTMLResponse:
    return render(request, "password.html", {"session": session, "changed": changed})


@router.post("/password", response_class=HTMLResponse)
async def change_password(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """The person's own password (staff_auth.change_password): their other sessions end, this one goes on."""
    current, new = form.get("current_password", ""), form.get("new_password", "")
    error, status = None, 200
    if new != form.get("new_password_again", ""):
        error, status = "passwords_differ", 422
    else:
        try:
            pool, staff_id = request.app.state.pool, session.staff.staff_id
            await staff_auth.change_password(pool, staff_id, current, new, session.token)
        except staff_auth.LockedOut:
            error, status = "locked_out", 429
        except staff_auth.WrongPassword:
            error, status = "wrong_current_password", 403
        except staff_auth.UnfitPassword as exc:
            error, status = f"password_{exc.problem}", 422
    if error:
        return render(request, "password.html", {"session": session, "error": error}, status=status)
    return RedirectResponse("/console/password?changed=true", status_code=303)


@router.get("/language/{lang}")
async def choose_language(request: Request, lang: str, next: Annotated[str | None, Query(max_length=500)] = None):
    return switch_language(request, lang, next, LANG_COOKIE, "/console")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media = {"console.css": "text/css", "console.js": "text/javascript"}
    if name not in media:
        raise ApiError(404, "not_found", f"no file '{name}'", field="name")
    response = Response((STATIC / name).read_bytes(), media_type=media[name])
    response.headers["Cache-Control"] = "max-age=300"
    return response


# ---------------------------------------------------------------- my work


def _rows(items: list[inbox.InboxItem]) -> list[dict[str, Any]]:
    return [{**i.model_dump(), "customer_name": mask_name(i.customer_name or "")} for i in items]


async def _waiting_to_start(request: Request) -> WaitingComplaints | None:
    """Accepted complaints whose workflow has not started (none while Temporal is up), for every
    member of staff: they are in no queue yet. None when intake cannot say: the page says so."""
    try:
        return await not_started.waiting(request.app.state.intake)
    except (ApiError, httpx.TransportError) as exc:
        log.warning("the waiting complaints could not be read from intake: %s", exc)
        return None


def _addresses_of(staff: Staff, config: RoutingConfig) -> list[str]:
    """Where alerts reach this person: by name, as the queue of their groups, as the chain
    roles they hold for any group, and as the common superior of two groups."""
    held = [f"role:{r}@{g}" for r in LEADING_ROLES for g in config.groups if staff.staff_id in config.holders(r, g)]
    above = [
        superiors_of(g, other)
        for g in config.groups
        for other in config.groups
        if g != other and staff.staff_id in config.common_superiors(g, other)
    ]
    return [f"staff:{staff.staff_id}", *(f"role:queue@{g}" for g in staff.groups), *held, *above]


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    """A filter from the form: empty is any (a form sends every select, chosen or not)."""
    if not value:
        return None
    if value not in allowed:
        raise ApiError(422, "invalid_request", f"{field}: one of {', '.join(allowed)}", field=field)
    return value


@router.get("", response_class=HTMLResponse)
async def my_work(
    request: Request,
    session: CurrentSession,
    tier: Annotated[str | None, Query(max_length=1)] = None,
    stage: Annotated[str | None, Query(max_length=50)] = None,
    complaint_type: Annotated[str | None, Query(alias="type", max_length=50)] = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    group: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    tier_number = _choice(tier, ("1", "2", "3"), "tier")
    stage = _choice(stage, tuple(s.value for s in Stage), "stage")
    complaint_type = _choice(complaint_type, get_args(ComplaintType), "type")
    staff, pool = session.staff, request.app.state.pool
    narrowed = inbox.Filters(
        tier=int(tier_number) if tier_number else None,
        stage=stage,
        complaint_type=complaint_type,
        channel=channel or None,
        group=group or None,
        search=q or None,
        open_only=not q,  # a caller may ask about a complaint that was closed
    )
    mine = await inbox.list_items(pool, replace(narrowed, person=staff.staff_id), limit=200)
    # Managers see every queue; everyone else their groups' and the groups they lead. A search
    # looks in every queue: the caller on the line may have complained to another group, and any
    # member of staff may read a complaint (acting on it is another matter: permissions.py).
    config = request.app.state.router.config
    led = {g for g in config.groups if any(staff.staff_id in config.holders(r, g) for r in LEADING_ROLES)}
    everywhere = staff.at_least("manager") or narrowed.search is not None
    groups = None if everywhere else tuple(sorted(set(staff.groups) | led))
    queue = await inbox.list_items(pool, replace(narrowed, groups=groups), limit=200)
    mine_ids = {i.complaint_id for i in mine}
    # What I took down, wherever it went: the first to receive a complaint follows it to its close (001).
    taken_down = await inbox.list_items(pool, replace(narrowed, recorded_by=staff.staff_id), limit=200)
    taken_down_ids = {i.complaint_id for i in taken_down}
    # Complaints another group asked my groups about (a joint consultation, source 002).
    consulted = await inbox.list_items(
        pool, replace(narrowed, consulted=tuple(sorted(set(staff.groups) | led))), limit=200
    )
    consulted = [i for i in consulted if i.complaint_id not in mine_ids | taken_down_ids]
    # The asked department's own deadline first: its answer's, else the complaint's next.
    consulted.sort(key=lambda i: i.answer_by or i.next_deadline or datetime.max.replace(tzinfo=UTC))
    # One more than listed: whether there are older ones than the page shows.
    alerts = await outbox.alerts_to(pool, _addresses_of(staff, config), limit=ALERTS_LISTED + 1)
    context = {
        "waiting": await _waiting_to_start(request),
        "alerts": alerts[:ALERTS_LISTED],
        "alerts_first": ALERTS_FIRST,
        "older_alerts": len(alerts) > ALERTS_LISTED,
        "session": session,
        "mine": _rows(mine),
        "taken_down": _rows([i for i in taken_down if i.complaint_id not in mine_ids]),
        "consulted": _rows(consulted),
        "queue": _rows([i for i in queue if i.complaint_id not in mine_ids | taken_down_ids]),
        "queue_title": _queue_title(staff, groups),
        "filters": {
            "tier": int(tier_number) if tier_number else "",
            "stage": narrowed.stage or "",
            "type": complaint_type or "",
            "channel": channel or "",
            "group": group or "",
            "q": q or "",
        },
        "stages": [s.value for s in Stage],
        "types": get_args(ComplaintType),
        "channels": sorted({i.channel for i in queue + mine if i.channel}),
        "groups": sorted(config.groups),
        "now": datetime.now().astimezone(),
        "names": await request.app.state.router.names(),
    }
    return render(request, "my_work.html", context)


def _queue_title(staff: Staff, groups: tuple[str, ...] | None) -> str:
    if groups is not None:
        return "my_queues"
    return "all_open" if staff.at_least("manager") else "found_everywhere"  # a search, in every queue


# ---------------------------------------------------------------- a complaint


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _reply_by(received: dict[str, Any] | None) -> dict[str, Any] | None:
    """How the customer is answered: the channel every message to them takes first, and whether
    they chose it (domain §4, §5). None once their contact data is erased."""
    try:
        customer = Customer.model_validate((received or {}).get("customer") or {})
    except ValueError:
        return None
    (channel, _address), *_others = customer.reply_channels()
    return {"channel": channel, "chosen": customer.preferred_channel is not None}


async def _complaint_context(request: Request, session: Session, complaint_id: str) -> dict[str, Any]:
    desk, pool, state = desk_of(request), request.app.state.pool, request.app.state
    view = await kept_views.staff_view(pool, desk.complaints, state.events, state.intake, complaint_id)
    live = view.live
    record = await inbox.row_of(pool, complaint_id)
    events = await request.app.state.events.read_stream(complaint_id)
    received = next((e.data for e in events if e.type == "ComplaintReceived"), None)
    received_data = masked_event_data(received) if received else {}
    received_data["occurred_at"] = _moment(received_data.get("occurred_at"))
    # What the customer said when they wrote again (linked, not a new complaint): staff read it
    # here instead of asking them to repeat it.
    wrote_again = []
    for e in events:
        if isinstance(repeat := payload_of(e.type, e.data), RepeatLinked):
            wrote_again.append({**masked_event_data(e.data), "at": repeat.received_at or e.occurred_at})
    timeline = []
    lang = lang_of(request)
    in_chinese, routing_config = lang == "zh", request.app.state.router.config
    for event in events:
        data = masked_event_data(event.data)
        if in_chinese and data.get("reason_zh"):  # a rule's reason has its Chinese; staff's own words do not
            data["reason"] = data["reason_zh"]
        for key in ("group", "to_group", "from_group"):
            if isinstance(data.get(key), str):
                data[key] = routing_config.title_of(data[key], lang)
        if isinstance(data.get("groups"), list):  # the groups a consultation asked
            data["groups"] = " · ".join(routing_config.title_of(str(g), lang) for g in data["groups"])
        details = [(k, data[k]) for k in _TIMELINE_FIELDS if data.get(k) not in (None, "", [])]
        timeline.append({"type": event.type, "at": event.occurred_at, "details": details})
    messages = await pool.fetch(
        """SELECT request, status, notification_id, created_at FROM workflow.outbox
           WHERE complaint_id = $1 AND request->>'channel' <> 'internal' ORDER BY position""",
        complaint_id,
    )
    delivery = await _delivery_of(request, complaint_id)
    router = request.app.state.router
    handling = Handling.of(record) if record is not None else None  # who it is with, from the row read above
    # The contact in full, on asking, to whoever may act on the complaint; with who saw it before.
    may_see_contact = handling is not None and (
        refusal(session.staff, contacts.SEE_CONTACT, handling, router.config) is None
    )
    in_scope = forms.offered(view, session.staff, handling or await desk.handling(complaint_id), desk) if live else []
    staff_list = await router.staff() if any(f.action == "assign" for f in in_scope) else []  # only to offer them
    other_groups = tuple(g for g in sorted(router.config.groups) if g != view.group)
    choices = {
        "to_group": other_groups,
        "groups": other_groups,
        "group": tuple(answering_for(session.staff, handling, router.config)) if handling else (),
        "assignee": tuple(
            m.staff_id for m in staff_list if not view.group or view.group in m.groups or m.staff_id == view.assignee
        ),
    }
    offers = [
        {
            "form": f,
            "key": str(uuid.uuid4()),
            "choices": {field.name: field.options or choices.get(field.name, ()) for field in f.fields},
            # an optional choice with nothing to choose between is not asked (answering for the one
            # asked group a person is in)
            "fields": [
                field
                for field in f.fields
                if field.required or field.kind != "select" or len(field.options or choices.get(field.name, ())) > 1
            ],
        }
        for f in in_scope
    ]
    return {
        "session": session,
        "view": view,
        "live": live,
        "record": dict(record) if record else {},
        "customer_name": mask_name((record and record["customer_name"]) or ""),
        "received": received_data,
        "reply_by": _reply_by(received),
        "contact_purposes": get_args(contacts.Purpose)
        if may_see_contact and contacts.customer_of(received) is not None
        else (),
        "contact_showings": await contacts.showings(pool, complaint_id) if may_see_contact else [],
        "wrote_again": wrote_again,
        "timeline": timeline,
        "messages": [
            {
                **_message_summary(json.loads(m["request"])),
                "at": m["created_at"],
                "delivery": delivery.get(str(m["notification_id"])) if m["notification_id"] else None,
                "status": m["status"],
            }
            for m in messages
        ],
        "delivery_known": delivery is not _UNKNOWN,
        "offers": offers,
        # A manager may erase the customer's personal data (services/workflow/erasure/).
        "erasure": {"key": str(uuid.uuid4()), "records": await erasures_of(pool, complaint_id)}
        if erasure_refusal(session.staff) is None
        else None,
        "playbooks": suggest(request.app.state.playbooks, view.complaint_type, (record and record["summary"]) or ""),
        "now": datetime.now().astimezone(),
        "names": await router.names(),
    }


_UNKNOWN: dict[str, dict] = {}


async def _delivery_of(request: Request, complaint_id: str) -> dict[str, dict]:
    """Notify's delivery status of the complaint's messages, by notification id (queued, sent,
    delivered, failed, with the provider's answer); unknown while notify does not answer."""
    try:
        answer = await request.app.state.notify.get("/v1/notifications", params={"complaint_id": complaint_id})
        answer.raise_for_status()
    except httpx.HTTPError:
        return _UNKNOWN
    return {n["notification_id"]: n for n in answer.json()}


def _message_summary(request: dict) -> dict[str, Any]:
    variables = masked_event_data(request.get("variables") or {})
    text = next((variables[k] for k in ("message", "plan", "question") if isinstance(variables.get(k), str)), None)
    return {"template": request.get("template"), "channel": request.get("channel"), "text": text}


ERASE = "erase"  # not a workflow action: the erasure runs as its own workflow (services/workflow/erasure/)


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
async def complaint_page(
    request: Request, complaint_id: str, session: CurrentSession, done: Annotated[str | None, Query()] = None
) -> Response:
    context = await _complaint_context(request, session, complaint_id)
    known = done in forms.BY_ACTION or done == ERASE or done in RECORDED
    return render(request, "complaint.html", {**context, "done": done if known else None})


@router.post("/complaints/{complaint_id}/contact", response_class=HTMLResponse)
async def show_contact(request: Request, complaint_id: str, session: CurrentSession, form: CheckedForm) -> Response:
    """The customer's contact in full on the complaint's page, for this answer only (never
    cached), recorded as shown to this person with the reason they chose (contacts.py)."""
    state = request.app.state
    try:
        body = forms.validated(contacts.ContactRequest, {"purpose": form.get("purpose", "")}, "purpose")
        contact = await contacts.show(
            state.pool, state.events, desk_of(request), session.staff, complaint_id, body.purpose
        )
    except ApiError as exc:
        return await _refused(request, session, complaint_id, "show_contact", exc)
    context = await _complaint_context(request, session, complaint_id)
    return render(request, "complaint.html", {**context, "contact": contact, "done": None})


@router.post(f"/complaints/{{complaint_id}}/{ERASE}", response_class=HTMLResponse)
async def erase(request: Request, complaint_id: str, session: CurrentSession, form: CheckedForm) -> Response:
    """A manager erases the customer's personal data from the complaint's page: the basis, and a
    box ticked to confirm, since it cannot be undone. The staff API's path (the same checks and
    record); the form's key asks once."""

    async def erasing() -> None:
        key = form_key(form.get("action_key"), "action_key")
        if form.get("confirm") != "yes":
            raise ApiError(422, "invalid_request", "confirm: tick the box to confirm the erasure", field="confirm")
        body = forms.validated(ErasureBody, {"complaint_id": complaint_id, "basis": form.get("basis", "")}, "basis")
        await start_erasure(request.app.state.pool, desk_of(request).complaints, session.staff, body, f"console:{key}")

    return await _done_or_refused(request, session, complaint_id, ERASE, erasing())


@router.post("/complaints/{complaint_id}/{action}", response_class=HTMLResponse)
async def act(request: Request, complaint_id: str, action: str, session: CurrentSession, form: CheckedForm) -> Response:
    """One action from its form; a refusal is shown on the page with its reason and status."""

    async def acting() -> None:
        key = form_key(form.get("action_key"), "action_key")
        await forms.perform(desk_of(request), session.staff, complaint_id, action, form, f"console:{key}")

    return await _done_or_refused(request, session, complaint_id, action, acting())


async def _done_or_refused(
    request: Request, session: Session, complaint_id: str, action: str, attempt: Awaitable[None]
) -> Response:
    """Back to the complaint's page with the action done, or the page again with the refusal."""
    try:
        await attempt
    except ApiError as exc:
        return await _refused(request, session, complaint_id, action, exc)
    return RedirectResponse(f"/console/complaints/{complaint_id}?done={action}", status_code=303)


async def _refused(request: Request, session: Session, complaint_id: str, action: str, exc: ApiError) -> Response:
    """The complaint's page again with the refusal, its reason and status (an unknown complaint
    stays a 404)."""
    if exc.status == 404:
        raise exc
    context = await _complaint_context(request, session, complaint_id)
    message = in_words(exc, lang_of(request), request.app.state.router.config.title_of)
    error = {"action": action, "message": message, "field": exc.field}
    return render(request, "complaint.html", {**context, "error": error, "done": None}, status=exc.status)


# ---------------------------------------------------------------- reports


@router.get("/reports")
async def reports(
    request: Request,
    session: CurrentSession,
    next: Annotated[str | None, Query(max_length=200, pattern="^/dashboard(/[a-z/-]*)?$")] = None,
    complaint_id: Annotated[str | None, Query(max_length=100, pattern="^[A-Za-z0-9-]+$")] = None,
    owner: Annotated[str | None, Query(max_length=100, pattern="^[A-Za-z0-9._-]+$")] = None,
) -> Response:
    """To the reports dashboard (the reporting service), signed in as this person and in their
    language: a one-use code in the redirect, which the dashboard trades for its own session (no
    second password). The dashboard decides who may read reports; `next`, a page of its own
    (a person's improvement actions, which every role may read), about `complaint_id` (a
    root-cause review of the complaint on the staff member's page) or `owner` (the reviews with
    an open action of a person handed over on the team page)."""
    about = {k: v for k, v in (("complaint_id", complaint_id), ("owner", owner)) if v}
    if next and about:
        next = f"{next}?{urlencode(about)}"
    issued = await staff_auth.hand_off(request.app.state.pool, session.staff.staff_id)
    handed = urlencode({"code": issued.token, "lang": lang_of(request), **({"next": next} if next else {})})
    target = f"{get_settings().url_of('reporting')}/dashboard/handoff?{handed}"
    response = RedirectResponse(target, status_code=303)
    response.headers.update(PAGE_HEADERS)
    return response
