"""The intake service (port 8000): channel adapters submit complaints; customers follow them
and answer the satisfaction survey by an unguessable tracking token."""

import hashlib
import math
from contextlib import asynccontextmanager
from datetime import datetime
from email.errors import MessageError
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from services.common.service import running, service_app, service_database
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
from services.intake.keys import ChannelKey, KeyStore, RateLimiter
from services.intake.submissions import ComplaintSubmission, IdempotencyConflict, Submissions
from services.workflow.domain import CustomerReply, Stage, SurveyAnswer
from services.workflow.workflows import ComplaintWorkflow, workflow_id_for

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with service_database("intake", MIGRATIONS) as (settings, pool):
        # Lazy: intake keeps accepting complaints while Temporal is down; the starter starts them.
        app.state.temporal = await connect(settings, lazy=True)
        app.state.submissions = Submissions(
            pool, app.state.temporal, settings.temporal_task_queue, settings.url_of("intake"), settings.default_policy
        )
        app.state.keys = KeyStore(pool)
        app.state.limiter = RateLimiter(settings.intake_rate_per_minute, settings.intake_rate_burst)
        async with running(app.state.submissions.run_starter()):
            yield


app = service_app("intake", "Intake service",
                  "Where every channel hands over a complaint, and where customers follow it.", lifespan)

IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=1, max_length=200,
           description="the adapter's key for this submission; a retry with the same key starts nothing new"),
]


async def channel_key(
    authorization: Annotated[str | None, Header(description="Bearer <the channel's API key>")] = None,
) -> ChannelKey:
    """Every channel adapter authenticates with its own key and is rate limited per key."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "unauthorized", "send the channel's API key as 'Authorization: Bearer <key>'",
                       field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    key = await app.state.keys.authenticate(authorization.removeprefix("Bearer ").strip())
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", field="Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    wait = app.state.limiter.take(key.key_id)
    if wait:
        raise ApiError(429, "rate_limited", f"too many complaints from this key; retry in {wait:.1f} s",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return key


ChannelKeyDep = Annotated[ChannelKey, Depends(channel_key)]


class SubmissionAccepted(BaseModel):
    complaint_id: str
    status_url: str
    received_at: datetime


@app.post("/v1/complaints", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_complaint(
    submission: ComplaintSubmission, idempotency_key: IdempotencyKey, response: Response, key: ChannelKeyDep
) -> SubmissionAccepted:
    """The generic JSON API: any adapter that builds the complaint record itself."""
    return await _accept(idempotency_key, submission, response, key)



async def _accept(key: str, submission: ComplaintSubmission, response: Response,
                  channel_key: ChannelKey) -> SubmissionAccepted:
    if not channel_key.allows(submission.channel.value):
        raise ApiError(403, "channel_not_allowed",
                       f"this API key is for channel '{channel_key.channel}', not '{submission.channel.value}'",
                       field="channel")
    submissions: Submissions = app.state.submissions
    try:
        accepted = await submissions.accept(key, submission)
    except IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_key_reused", str(exc), field="Idempotency-Key") from exc
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return SubmissionAccepted(
        complaint_id=accepted.complaint_id,
        status_url=submissions.status_url(accepted.tracking_token),
        received_at=accepted.received_at,
    )


def _adapted(convert, *args) -> ComplaintSubmission:
    """Run a channel adapter; what it cannot turn into a complaint is a 422 naming the field."""
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


RAW_EMAIL = {"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string"}},
                                                           "text/plain": {"schema": {"type": "string"}}}}}


@app.post("/v1/channels/email", status_code=202, response_model=SubmissionAccepted, tags=["channels"],
          openapi_extra=RAW_EMAIL)
async def submit_email(request: Request, response: Response, key: ChannelKeyDep) -> SubmissionAccepted:
    """A raw e-mail (RFC 822 / MIME) as the mail gateway received it. Subject and body in any
    common charset (UTF-8, GBK, GB2312, Big5 …); attachments are listed in the record. The
    Message-ID identifies it: a redelivered message is the same complaint."""
    raw = await request.body()
    submission = _adapted(from_email, raw)
    idempotency = f"email:{submission.external_ref}" if submission.external_ref else \
        f"email-sha256:{hashlib.sha256(raw).hexdigest()}"
    return await _accept(idempotency, submission, response, key)


@app.post("/v1/channels/call-centre", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_call(event: CallCentreEvent, response: Response, key: ChannelKeyDep) -> SubmissionAccepted:
    """A call-centre event with its IVR tags ('urgent' pressed makes it tier 1)."""
    return await _accept(f"hotline:{event.call_id}", _adapted(from_call_centre, event), response, key)


@app.post("/v1/channels/{source}/webhook", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_webhook(source: WebhookSource, event: WebhookEvent, response: Response,
                         key: ChannelKeyDep) -> SubmissionAccepted:
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


class CustomerStatus(BaseModel):
    complaint_id: str
    stage: Stage
    next_step: str
    received_at: datetime
    survey_open: bool
    survey_due_at: datetime | None = None
    history: list[dict] = []


async def _complaint_for(token: str):
    row = await app.state.submissions.by_token(token)
    if row is None:
        raise ApiError(404, "not_found", "no complaint for this tracking link")
    return row


@app.get("/v1/track/{token}", response_model=CustomerStatus, tags=["customers"])
async def track(token: str) -> CustomerStatus:
    row = await _complaint_for(token)
    handle = app.state.temporal.get_workflow_handle(workflow_id_for(row["complaint_id"]))
    if row["workflow_started_at"] is None:
        # Not started yet (Temporal was unreachable): it is safe with us and will start.
        return CustomerStatus(complaint_id=row["complaint_id"], stage=Stage.received,
                              next_step=NEXT_STEP[Stage.received], received_at=row["received_at"],
                              survey_open=False)
    try:
        view = await handle.query(ComplaintWorkflow.status)
    except RPCError as exc:
        raise ApiError(503, "temporarily_unavailable", "status is not available right now; try again") from exc
    return CustomerStatus(
        complaint_id=view.complaint_id,
        stage=view.stage,
        next_step=NEXT_STEP[view.stage],
        received_at=view.received_at,
        survey_open=view.stage == Stage.awaiting_survey and view.survey is None,
        survey_due_at=view.survey_due_at,
        history=[{"type": h.type, "at": h.at} for h in view.history],
    )


@app.post("/v1/track/{token}/survey", response_model=CustomerStatus, tags=["customers"])
async def answer_survey(token: str, answer: SurveyAnswer) -> CustomerStatus:
    await _customer_update(token, ComplaintWorkflow.answer_survey, answer, "survey_not_open")
    return await track(token)


@app.post("/v1/track/{token}/reply", response_model=CustomerStatus, tags=["customers"])
async def reply(token: str, message: CustomerReply) -> CustomerStatus:
    """The customer answers our question; the complaint's SLA clock runs again."""
    await _customer_update(token, ComplaintWorkflow.customer_reply, message, "no_question_open")
    return await track(token)


async def _customer_update(token: str, update, arg, refusal_code: str) -> None:
    row = await _complaint_for(token)
    handle = app.state.temporal.get_workflow_handle(workflow_id_for(row["complaint_id"]))
    try:
        await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause)
        raise ApiError(409, refusal_code, reason) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, refusal_code, "this complaint is closed") from exc
        raise ApiError(503, "temporarily_unavailable", "this cannot be saved right now; try again") from exc
