"""The intake service (port 8000): channel adapters submit complaints; customers follow them
and answer the satisfaction survey by an unguessable tracking token."""

import hashlib
import logging
import math
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from email.errors import MessageError
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Form, Header, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers
from services.common.telemetry import instrument_http_client
from services.common.temporal import connect
from services.common.web import ApiError
from services.intake.adapters import (
    AdapterError,
    CallCentreEvent,
    WebhookEvent,
    WebhookSource,
    from_call_centre,
    from_email,
    from_webhook,
)
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.intake.keys import ChannelKey, KeyStore, RateLimiter
from services.intake.submissions import ComplaintSubmission, IdempotencyConflict, IntakeRules, Submissions
from services.notify.contract import NOTIFICATIONS_PATH
from services.workflow.contract import (
    ActionRefused,
    Channel,
    ComplaintClient,
    ComplaintClosed,
    ComplaintError,
    ComplaintNotFound,
    CustomerReply,
    EngineUnavailable,
    Stage,
    SurveyAnswer,
)

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with (
        service_database("intake", MIGRATIONS) as (settings, pool),
        httpx.AsyncClient(timeout=10, headers=outgoing_headers(settings)) as http,
    ):
        # Lazy: intake keeps accepting complaints while Temporal is down; the starter starts them.
        app.state.complaints = ComplaintClient(await connect(settings, lazy=True), settings.temporal_task_queue)
        app.state.http = http
        instrument_http_client(http)
        alerts = StaffAlerts(http, settings.url_of("notify"))
        surge = SurgeMonitor(pool, settings.surge_per_minute, alerts)
        rules = IntakeRules.from_settings(settings)
        app.state.submissions = Submissions(
            pool,
            app.state.complaints,
            settings.url_of("intake"),
            rules,
            settings.default_policy,
            surge,
            alerts,
        )
        app.state.notify_url = settings.url_of("notify")
        app.state.zone = settings.time_zone
        app.state.keys = KeyStore(pool)
        app.state.limiter = RateLimiter(settings.intake_rate_per_minute, settings.intake_rate_burst)
        submissions: Submissions = app.state.submissions
        loops = app.state.loops
        async with (
            loops.supervised("starter", submissions.hand_over_pending, 2.0),
            loops.supervised("surge-count", surge.refresh, 1.0),
            loops.supervised("after-accept", submissions.after_accept, 0.2, on_stop=submissions.flush_started),
        ):
            yield


app = service_app(
    "intake", "Intake service", "Where every channel hands over a complaint, and where customers follow it.", lifespan
)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="the adapter's key for this submission; a retry with the same key starts nothing new",
    ),
]


async def channel_key(
    authorization: Annotated[str | None, Header(description="Bearer <the channel's API key>")] = None,
) -> ChannelKey:
    """Every channel adapter authenticates with its own key and is rate limited per key."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(
            401,
            "unauthorized",
            "send the channel's API key as 'Authorization: Bearer <key>'",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = await app.state.keys.authenticate(authorization.removeprefix("Bearer ").strip())
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wait = app.state.limiter.take(key.key_id)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many complaints from this key; retry in {wait:.1f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


ChannelKeyDep = Annotated[ChannelKey, Depends(channel_key)]


class SubmissionAccepted(BaseModel):
    complaint_id: str
    status_url: str  # JSON, for the adapter
    page_url: str  # HTML, for the customer
    received_at: datetime
    linked_to: str | None = None  # the same customer's open complaint this submission was added to


@app.post("/v1/complaints", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_complaint(
    submission: ComplaintSubmission, idempotency_key: IdempotencyKey, response: Response, key: ChannelKeyDep
) -> SubmissionAccepted:
    """The generic JSON API: any adapter that builds the complaint record itself."""
    return await _accept(idempotency_key, submission, response, key)


async def _accept(
    key: str, submission: ComplaintSubmission, response: Response, channel_key: ChannelKey
) -> SubmissionAccepted:
    if not channel_key.allows(submission.channel.value):
        raise ApiError(
            403,
            "channel_not_allowed",
            f"this API key is for channel '{channel_key.channel}', not '{submission.channel.value}'",
            field="channel",
        )
    submissions: Submissions = app.state.submissions
    try:
        accepted = await submissions.accept(key, submission, channel_key.key_id)
    except IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_key_reused", str(exc), field=exc.field) from exc
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return SubmissionAccepted(
        complaint_id=accepted.complaint_id,
        status_url=submissions.status_url(accepted.tracking_token),
        page_url=submissions.page_url(accepted.tracking_token),
        received_at=accepted.received_at,
        linked_to=accepted.repeat_of,
    )


def _adapted(convert, *args):
    """Run a channel adapter (or build a model from form input); what cannot become a valid
    record is a 422 naming the field."""
    try:
        return convert(*args)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid_request", f"{field}: {first['msg']}", field=field) from exc
    except AdapterError as exc:
        raise ApiError(422, "invalid_request", str(exc), field=exc.field) from exc
    except (ValueError, LookupError, MessageError) as exc:
        raise ApiError(422, "invalid_request", f"the message cannot be read: {exc}", field="body") from exc


RAW_EMAIL = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}


@app.post(
    "/v1/channels/email", status_code=202, response_model=SubmissionAccepted, tags=["channels"], openapi_extra=RAW_EMAIL
)
async def submit_email(request: Request, response: Response, key: ChannelKeyDep) -> SubmissionAccepted:
    """A raw e-mail (RFC 822 / MIME) as the mail gateway received it. Subject and body in any
    common charset (UTF-8, GBK, GB2312, Big5 …); attachments are listed in the record. The
    Message-ID identifies it: a redelivered message is the same complaint."""
    raw = await request.body()
    submission = _adapted(from_email, raw)
    idempotency = (
        f"email:{submission.external_ref}"
        if submission.external_ref
        else f"email-sha256:{hashlib.sha256(raw).hexdigest()}"
    )
    return await _accept(idempotency, submission, response, key)


@app.post("/v1/channels/call-centre", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_call(event: CallCentreEvent, response: Response, key: ChannelKeyDep) -> SubmissionAccepted:
    """A call-centre event with its IVR tags ('urgent' pressed makes it tier 1)."""
    return await _accept(f"hotline:{event.call_id}", _adapted(from_call_centre, event), response, key)


@app.post("/v1/channels/{source}/webhook", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_webhook(
    source: WebhookSource, event: WebhookEvent, response: Response, key: ChannelKeyDep
) -> SubmissionAccepted:
    """A post or message from the app, a chat group or social media."""
    return await _accept(f"{source}:{event.event_id}", _adapted(from_webhook, source, event), response, key)


# What each stage means to the customer, and what comes next.
NEXT_STEP = {
    Stage.received: "We have your complaint and are assigning it to the right team.",
    Stage.assigned: "A team has your complaint; a handler will contact you shortly.",
    Stage.acknowledged: "A handler is working on your complaint.",
    Stage.waiting_on_customer: "We need a detail from you: please answer the question we sent you.",
    Stage.resolved: "Your complaint is resolved; the written result is on its way to you.",
    Stage.awaiting_survey: "Please tell us how satisfied you are with the result.",
    Stage.second_follow_up: "We are sorry it did not satisfy you; a handler will contact you again.",
    Stage.closed: "Your complaint is closed. Thank you.",
}


STAGE_LABEL = {
    Stage.received: "已收到 / Received",
    Stage.assigned: "已分派 / Assigned",
    Stage.acknowledged: "处理中 / Being handled",
    Stage.waiting_on_customer: "等待您的回复 / Waiting for you",
    Stage.resolved: "已解决 / Resolved",
    Stage.awaiting_survey: "请评价 / Please rate us",
    Stage.second_follow_up: "回访中 / Following up",
    Stage.closed: "已结案 / Closed",
}
# Which deadline tells the customer "by when" in each stage.
EXPECTED_BY = {
    Stage.assigned: "first_response",
    Stage.acknowledged: "resolution",
    Stage.second_follow_up: "second_follow_up",
}


class CustomerMessage(BaseModel):
    subject: str
    body: str
    sent_at: datetime


class CustomerStatus(BaseModel):
    complaint_id: str
    stage: Stage
    stage_label: str
    next_step: str
    expected_by: datetime | None = None
    received_at: datetime
    survey_open: bool
    survey_due_at: datetime | None = None
    history: list[dict] = []
    messages: list[CustomerMessage] = []  # what we sent the customer; never internal alerts


async def _complaint_for(token: str):
    row = await app.state.submissions.by_token(token)
    if row is None:
        raise ApiError(404, "not_found", "no complaint for this tracking link")
    return row


@app.get("/v1/track/{token}", response_model=CustomerStatus, tags=["customers"])
async def track(token: str) -> CustomerStatus:
    row = await _complaint_for(token)
    if row["workflow_started_at"] is None:
        # Not started yet (Temporal was unreachable): it is safe with us and will start.
        return CustomerStatus(
            complaint_id=row["complaint_id"],
            stage=Stage.received,
            stage_label=STAGE_LABEL[Stage.received],
            next_step=NEXT_STEP[Stage.received],
            received_at=row["received_at"],
            survey_open=False,
        )
    try:
        view = await app.state.complaints.status(row["complaint_id"])
    except ComplaintError as exc:
        raise ApiError(503, "temporarily_unavailable", "status is not available right now; try again") from exc
    survey_open = view.stage == Stage.awaiting_survey and view.survey is None
    return CustomerStatus(
        complaint_id=view.complaint_id,
        stage=view.stage,
        stage_label=STAGE_LABEL[view.stage],
        next_step=NEXT_STEP[view.stage],
        expected_by=view.survey_due_at if survey_open else view.deadlines.get(EXPECTED_BY.get(view.stage, "")),
        received_at=view.received_at,
        survey_open=survey_open,
        survey_due_at=view.survey_due_at,
        history=[{"type": h.type, "at": h.at} for h in view.history],
        messages=await _messages_to_customer(view.complaint_id),
    )


async def _messages_to_customer(complaint_id: str) -> list[CustomerMessage]:
    """From notify's outbox: what was sent to the customer (internal alerts left out)."""
    try:
        response = await app.state.http.get(
            f"{app.state.notify_url}{NOTIFICATIONS_PATH}", params={"complaint_id": complaint_id}, timeout=5
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("messages unavailable", extra={"complaint_id": complaint_id, "error": str(exc)})
        return []
    return [
        CustomerMessage(subject=n["subject"], body=n["body"], sent_at=n["delivered_at"] or n["created_at"])
        for n in response.json()
        if n["channel"] != "internal"
    ]


@app.post("/v1/track/{token}/survey", response_model=CustomerStatus, tags=["customers"])
async def answer_survey(token: str, answer: SurveyAnswer) -> CustomerStatus:
    await _customer_update(token, answer, "survey_not_open")
    return await track(token)


@app.post("/v1/track/{token}/reply", response_model=CustomerStatus, tags=["customers"])
async def reply(token: str, message: CustomerReply) -> CustomerStatus:
    """The customer answers our question; the complaint's SLA clock runs again."""
    await _customer_update(token, message, "no_question_open")
    return await track(token)


async def _customer_update(token: str, arg: SurveyAnswer | CustomerReply, refusal_code: str) -> None:
    complaint_id = (await _complaint_for(token))["complaint_id"]
    complaints: ComplaintClient = app.state.complaints
    try:
        if isinstance(arg, SurveyAnswer):
            await complaints.answer_survey(complaint_id, arg)
        else:
            await complaints.customer_reply(complaint_id, arg)
    except (ActionRefused, ComplaintClosed, ComplaintNotFound) as exc:
        if await _already_recorded(complaint_id, arg):
            return
        reason = exc.message if isinstance(exc, ActionRefused) else "this complaint is closed"
        raise ApiError(409, refusal_code, reason) from exc
    except EngineUnavailable as exc:
        raise ApiError(
            503, "temporarily_unavailable", "this cannot be saved right now; try again", headers={"Retry-After": "2"}
        ) from exc


async def _already_recorded(complaint_id: str, arg: SurveyAnswer | CustomerReply) -> bool:
    """A customer's form sent again after its answer was lost (a dropped connection, a reload)
    is the same answer: it gets the outcome, not 'already answered'. Browsers send no
    idempotency key, so the survey is recognised by its content (one per complaint)."""
    if not isinstance(arg, SurveyAnswer):
        return False
    try:
        view = await app.state.complaints.status(complaint_id)
    except ComplaintError as exc:  # cannot tell now whether it is a repeat: neither yes nor no
        raise ApiError(503, "temporarily_unavailable", "this cannot be checked right now; try again") from exc
    return view.survey == arg


# ---------------------------------------------------------------- pages for customers (no JavaScript)

PAGES = Jinja2Templates(directory=Path(__file__).parent / "templates")
WEB_FORM_KEY = ChannelKey(key_id="web-form", channel=Channel.web_form.value)  # intake's own form


@app.get("/complaint-form", response_class=HTMLResponse, tags=["customers"])
async def complaint_form(request: Request) -> HTMLResponse:
    return PAGES.TemplateResponse(
        request, "form.html", {"form_token": str(uuid.uuid4()), "values": {}, "zone": app.state.zone.key}
    )


@app.post("/complaint-form", response_class=HTMLResponse, tags=["customers"])
async def submit_complaint_form(
    request: Request,
    form_token: Annotated[str, Form(min_length=1, max_length=100)],
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    phone: Annotated[str, Form(max_length=30)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    demand: Annotated[str, Form(max_length=2000)] = "",
    company: Annotated[str, Form(max_length=200)] = "",
    account_id: Annotated[str, Form(max_length=100)] = "",
    occurred_at: Annotated[str, Form(max_length=40, description="local time, as a datetime-local input sends it")] = "",
    impact: Annotated[str, Form(max_length=2000)] = "",
    urgent: Annotated[str, Form(max_length=10)] = "",
):
    values = {
        "name": name,
        "phone": phone,
        "email": email,
        "description": description,
        "demand": demand,
        "company": company,
        "account_id": account_id,
        "occurred_at": occurred_at,
        "impact": impact,
        "urgent": urgent,
    }
    wait = app.state.limiter.take(f"form:{request.client.host if request.client else '-'}")
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            "too many submissions; try again shortly",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        # The browser sends wall-clock time without a zone: it is the organisation's zone.
        when = datetime.fromisoformat(occurred_at).replace(tzinfo=app.state.zone) if occurred_at else None
        submission = ComplaintSubmission(
            channel=Channel.web_form,
            description=description,
            demand=demand or None,
            impact=impact or None,
            occurred_at=when,
            urgency_hint="high" if urgent else None,
            customer={
                "name": name,
                "phone": phone or None,
                "email": email or None,
                "company": company or None,
                "account_id": account_id or None,
            },
        )
    except ValueError as exc:  # ValidationError is one; so is an unreadable time
        problems = (
            exc.errors()
            if isinstance(exc, ValidationError)
            else [{"loc": ("occurred_at",), "msg": "give the date and time it happened"}]
        )
        errors = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in problems]
        return PAGES.TemplateResponse(
            request,
            "form.html",
            {"form_token": form_token, "values": values, "errors": errors, "zone": app.state.zone.key},
            status_code=422,
        )
    accepted = await _accept(f"web-form:{form_token}", submission, Response(), WEB_FORM_KEY)
    return RedirectResponse(accepted.page_url.removeprefix(app.state.submissions.intake_url), status_code=303)


@app.get("/track/{token}", response_class=HTMLResponse, tags=["customers"])
async def status_page(request: Request, token: str, error: str | None = None) -> HTMLResponse:
    status = await track(token)
    return PAGES.TemplateResponse(
        request, "status.html", {"status": status, "token": token, "zone": app.state.zone, "error": error}
    )


@app.post("/track/{token}/survey", response_class=HTMLResponse, tags=["customers"])
async def survey_form(
    request: Request,
    token: str,
    satisfaction_result: Annotated[int, Form(ge=1, le=5)],
    satisfaction_speed: Annotated[int, Form(ge=1, le=5)],
    suggestion: Annotated[str, Form(max_length=2000)] = "",
):
    answer = _adapted(
        lambda: SurveyAnswer(
            satisfaction_result=satisfaction_result,
            satisfaction_speed=satisfaction_speed,
            suggestion=suggestion or None,
        )
    )
    return await _page_after(request, token, answer, "survey_not_open")


@app.post("/track/{token}/reply", response_class=HTMLResponse, tags=["customers"])
async def reply_form(request: Request, token: str, message: Annotated[str, Form(min_length=1, max_length=10_000)]):
    reply = _adapted(lambda: CustomerReply(message=message))
    return await _page_after(request, token, reply, "no_question_open")


async def _page_after(request: Request, token: str, arg: SurveyAnswer | CustomerReply, refusal: str):
    try:
        await _customer_update(token, arg, refusal)
    except ApiError as exc:
        if exc.status != 409:
            raise
        page = await status_page(request, token, error=exc.message)
        page.status_code = 409
        return page
    return RedirectResponse(f"/track/{token}", status_code=303)
