"""Intake's channel API: adapters submit complaints with their channel key (JSON, raw e-mail,
call-centre events, webhooks); a repeat of the same submission answers with the first outcome."""

import asyncio
import email.message
import hashlib
import logging
import math
from datetime import datetime
from email.errors import MessageError
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from services.common.web import ApiError
from services.intake.adapters import (
    AdapterError,
    CallCentreEvent,
    WebhookEvent,
    WebhookSource,
    from_call_centre,
    from_webhook,
)
from services.intake.bounces import report_bounce
from services.intake.keys import ChannelKey
from services.intake.mail_adapter import (
    AutomaticMail,
    automatic_mail,
    failed_delivery,
    from_email,
    message_id_of,
    read_email,
)
from services.intake.replies import take_reply, thread_of
from services.intake.state import Intake, IntakeDep
from services.intake.submissions import ComplaintSubmission, IdempotencyConflict
from services.workflow.contract import Channel

router = APIRouter()
log = logging.getLogger(__name__)

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
    intake: IntakeDep,
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
    key = await intake.keys.authenticate(authorization.removeprefix("Bearer ").strip())
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wait = intake.limiter.take(key.key_id)
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


@router.post("/v1/complaints", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_complaint(
    submission: ComplaintSubmission,
    idempotency_key: IdempotencyKey,
    response: Response,
    key: ChannelKeyDep,
    intake: IntakeDep,
) -> SubmissionAccepted:
    """The generic JSON API: any adapter that builds the complaint record itself."""
    return await accept(intake, idempotency_key, submission, response, key)


async def accept(
    intake: Intake, key: str, submission: ComplaintSubmission, response: Response, channel_key: ChannelKey
) -> SubmissionAccepted:
    require_channel(channel_key, submission.channel)
    submissions = intake.submissions
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


def require_channel(key: ChannelKey, channel: Channel) -> None:
    if not key.allows(channel.value):
        raise ApiError(
            403,
            "channel_not_allowed",
            f"this API key is for channel '{key.channel}', not '{channel.value}'",
            field="channel",
        )


def adapted(convert, *args):
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


def read_mail(read, *args):
    """`adapted`, for a part of reading an e-mail: the standard library's MIME parser fails in
    many ways of its own on malformed messages (AttributeError, IndexError …), and such a
    message is a 422 naming the body, not a 500."""
    try:
        return adapted(read, *args)
    except ApiError:
        raise
    except Exception as exc:
        log.warning("an e-mail the MIME parser cannot read (%s: %s)", type(exc).__name__, exc)
        raise ApiError(422, "invalid_request", "the message cannot be read as MIME", field="body") from exc


RAW_EMAIL = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}


class EmailSetAside(BaseModel):
    """An e-mail a program sent (a bounce, an out-of-office answer, a list's mail): no
    complaint, and nothing added to one. The gateway files it where an operator can read it."""

    set_aside: AutomaticMail
    message_id: str | None
    # A bounce of one of our messages: the notification now tried at the customer's next address.
    bounced_notification: str | None = None


EMAIL_PATH = "/v1/channels/email"
# A customer's photos come inside the raw message; what mail services commonly send (25 MB),
# so that no e-mail a customer could send is refused for its size.
MAX_EMAIL_BYTES = 25 * 1024 * 1024

SET_ASIDE = Counter("intake_emails_set_aside", "e-mails sent by a program, not taken as complaints", ["reason"])


@router.post(
    EMAIL_PATH,
    status_code=202,
    response_model=SubmissionAccepted,
    tags=["channels"],
    openapi_extra=RAW_EMAIL,
    responses={200: {"model": EmailSetAside, "description": "sent by a program: set aside"}},
)
async def submit_email(
    request: Request, response: Response, key: ChannelKeyDep, intake: IntakeDep
) -> SubmissionAccepted | JSONResponse:
    """A raw e-mail (RFC 822 / MIME) as the mail gateway received it. Subject and body in any
    common charset (UTF-8, GBK, GB2312, Big5 …); attachments are listed in the record. The
    Message-ID identifies it: a redelivered message is the same complaint. An answer to one of
    our messages (its thread, or the complaint's reply address) from that complaint's customer
    goes to the complaint instead: their answer to our question, or what they wrote again. A
    program's mail (`automatic_mail`) is set aside: 200, not 202."""
    require_channel(key, Channel.email)  # a new complaint, an answer to one, or a program's mail
    raw = await request.body()
    # Parsing a message of many megabytes (its attachments decoded to be sized) would hold up
    # every other request on the loop.
    message = await asyncio.to_thread(read_mail, read_email, raw)
    if reason := read_mail(automatic_mail, message):
        failed = read_mail(failed_delivery, message)
        bounced = await report_bounce(intake, failed) if failed else None
        message_id = message_id_of(message)
        SET_ASIDE.labels(reason).inc()
        log.info("e-mail %s set aside: sent by a program (%s)", message_id, reason)
        aside = EmailSetAside(set_aside=reason, message_id=message_id, bounced_notification=bounced)
        return JSONResponse(aside.model_dump())
    submission = await asyncio.to_thread(read_mail, from_email, message)
    answered = await _as_reply(intake, raw, message, submission)
    if answered is not None:
        return answered
    idempotency = (
        f"email:{submission.external_ref}"
        if submission.external_ref
        else f"email-sha256:{hashlib.sha256(raw).hexdigest()}"
    )
    return await accept(intake, idempotency, submission, response, key)


async def _as_reply(
    intake: Intake, raw: bytes, message: email.message.EmailMessage, submission: ComplaintSubmission
) -> SubmissionAccepted | None:
    """An answer to one of our messages, from that complaint's customer: added to it."""
    complaint_id = thread_of(message, intake.replies)
    if complaint_id is None or submission.customer.email is None:
        return None
    body = submission.description
    if submission.subject and body.startswith(submission.subject):
        body = body[len(submission.subject) :].strip()
    message_id = submission.external_ref or hashlib.sha256(raw).hexdigest()
    taken = await take_reply(intake, complaint_id, str(submission.customer.email), body, message_id)
    if taken is None:
        return None
    complaint_id, token, received_at = taken
    submissions = intake.submissions
    return SubmissionAccepted(
        complaint_id=complaint_id,
        status_url=submissions.status_url(token),
        page_url=submissions.page_url(token),
        received_at=received_at,
        linked_to=complaint_id,
    )


@router.post("/v1/channels/call-centre", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_call(
    event: CallCentreEvent, response: Response, key: ChannelKeyDep, intake: IntakeDep
) -> SubmissionAccepted:
    """A call-centre event with its IVR tags ('urgent' pressed makes it tier 1)."""
    return await accept(intake, f"hotline:{event.call_id}", adapted(from_call_centre, event), response, key)


@router.post("/v1/channels/{source}/webhook", status_code=202, response_model=SubmissionAccepted, tags=["channels"])
async def submit_webhook(
    source: WebhookSource, event: WebhookEvent, response: Response, key: ChannelKeyDep, intake: IntakeDep
) -> SubmissionAccepted:
    """A post or message from the app, a chat group or social media."""
    return await accept(intake, f"{source}:{event.event_id}", adapted(from_webhook, source, event), response, key)
