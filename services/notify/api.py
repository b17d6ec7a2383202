"""The notify service (port 8002): accepts notifications into its outbox and delivers them."""

import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace
from pydantic import BaseModel, Field, ValidationError

from services.common.erasure import ErasedCopy
from services.common.privacy import mask_contact, scrub_text
from services.common.service import service_app, service_database
from services.common.service_auth import service_caller, unauthorized
from services.common.web import ApiError
from services.notify import mailbox_page
from services.notify.alert_emails import AlertEmails, keeping_copies, staff_emails
from services.notify.channels import channels_from
from services.notify.contract import (
    BATCH_PATH,
    BOUNCES_PATH,
    ERASE_PATH,
    NOTIFICATIONS_PATH,
    UNDELIVERED_PATH,
    BatchAcceptance,
    Bounce,
    NotificationBatch,
    NotificationRequest,
    Undelivered,
)
from services.notify.outbox import (
    DeliveryAttempt,
    IdempotencyConflict,
    Notification,
    Outbox,
    TemplateProblem,
    refresh_gauges,
)
from services.notify.staff_words import load_staff_words
from services.notify.webhook import verify

MIGRATIONS = Path(__file__).parent / "migrations"
tracer = trace.get_tracer(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with service_database("notify", MIGRATIONS) as (settings, pool):
        outbox = app.state.outbox = Outbox(
            pool,
            on_delivered=keeping_copies(staff_emails(settings.roster_file)),
            staff_words=load_staff_words(settings.roster_file, settings.routing_file),
        )
        app.state.webhook_secret = settings.webhook_secret
        provider = channels_from(settings)
        alert_emails = AlertEmails(
            pool, outbox, timedelta(seconds=settings.alert_email_wait_seconds), f"{settings.url_of('workflow')}/console"
        )
        try:
            async with (
                app.state.loops.supervised(
                    "dispatcher", lambda: outbox.deliver_due(provider), settings.notify_poll_seconds, wake=outbox.wake
                ),
                app.state.loops.supervised("alert e-mails", alert_emails.send_due, alert_emails.every_seconds),
                app.state.loops.supervised("metrics", lambda: refresh_gauges(pool), 5.0),
            ):
                yield
        finally:
            await provider.close()


app = service_app("notify", "Notify service", "Outbox and delivery of every message to customers and staff.", lifespan)
app.include_router(mailbox_page.router)

# Messages come from the workflow service (complaints), intake and reporting (alerts to staff); the customer's
# page (intake) and the SRE read them back.
SENDERS = [Depends(service_caller("workflow", "intake", "reporting"))]
READERS = [Depends(service_caller("workflow", "intake", "operator"))]

# The workflow service tells a complaint of its customer's undelivered messages.
TELLS = [Depends(service_caller("workflow"))]

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def _for_view(n: Notification) -> Notification:
    if n.channel == "internal":  # staff and role addresses are not personal data of customers
        return n
    # A provider's answer often names the address it refused ("550 <li.na@…>: user unknown").
    last_error = scrub_text(n.last_error) if n.last_error else n.last_error
    return n.model_copy(update={"recipient_address": mask_contact(n.recipient_address), "last_error": last_error})


@app.post(
    NOTIFICATIONS_PATH, status_code=202, response_model=Notification, tags=["notifications"], dependencies=SENDERS
)
async def create_notification(request: NotificationRequest, idempotency_key: IdempotencyKey):
    try:
        notification, created = await app.state.outbox.accept(idempotency_key, request)
    except TemplateProblem as exc:
        raise ApiError(422, "invalid_template", str(exc), field="template") from exc
    except IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_key_reused", str(exc), field="Idempotency-Key") from exc
    return JSONResponse(status_code=202 if created else 200, content=_for_view(notification).model_dump(mode="json"))


@app.post(BATCH_PATH, response_model=BatchAcceptance, tags=["notifications"], dependencies=SENDERS)
async def create_notifications(batch: NotificationBatch) -> BatchAcceptance:
    """Many messages at once, each under its own key, with an outcome per message (202, 200,
    409 or 422, as the single form would answer it). The request succeeds as a whole."""
    outcomes = await app.state.outbox.accept_many(batch.notifications)
    request_span = trace.Link(trace.get_current_span().get_span_context())
    for item, outcome in zip(batch.notifications, outcomes, strict=True):  # each continues its complaint's trace
        with tracer.start_as_current_span(
            "accept notification",
            context=propagate.extract(item.trace_context),
            kind=trace.SpanKind.CONSUMER,
            links=[request_span],
        ) as span:
            span.set_attribute("notification.status", outcome.status)
            if outcome.notification_id:
                span.set_attribute("notification.id", str(outcome.notification_id))
    return BatchAcceptance(results=outcomes)


@app.get(
    "/v1/notifications/{notification_id}", response_model=Notification, tags=["notifications"], dependencies=READERS
)
async def get_notification(notification_id: uuid.UUID) -> Notification:
    notification = await app.state.outbox.get(notification_id)
    if notification is None:
        raise ApiError(404, "not_found", f"no notification {notification_id}")
    return _for_view(notification)


@app.get("/v1/notifications", response_model=list[Notification], tags=["notifications"], dependencies=READERS)
async def list_notifications(complaint_id: Annotated[str, Query(min_length=1)]) -> list[Notification]:
    return [_for_view(n) for n in await app.state.outbox.for_complaint(complaint_id)]


@app.get(
    "/v1/notifications/{notification_id}/attempts",
    response_model=list[DeliveryAttempt],
    tags=["notifications"],
    dependencies=READERS,
)
async def delivery_attempts(notification_id: uuid.UUID) -> list[DeliveryAttempt]:
    """Every attempt: channel, address (masked), outcome and the provider's answer."""
    attempts = await app.state.outbox.attempts_of(notification_id)
    return [
        a.model_copy(
            update={
                "recipient_address": mask_contact(a.recipient_address),
                "answer": scrub_text(a.answer) if a.answer else a.answer,
            }
        )
        if a.channel != "internal"
        else a
        for a in attempts
    ]


@app.post(
    "/v1/notifications/{notification_id}/retry",
    response_model=Notification,
    tags=["notifications"],
    dependencies=[Depends(service_caller("operator"))],
)
async def retry_dead_letter(notification_id: uuid.UUID) -> Notification:
    """Put a dead letter (failed) back in the queue, once the address or the provider is fixed."""
    notification = await app.state.outbox.retry(notification_id)
    if notification is None:
        raise ApiError(404, "not_found", f"no notification {notification_id}")
    return _for_view(notification)


class DeliveryReceipt(BaseModel):
    notification_id: uuid.UUID
    status: Literal["delivered", "failed"]
    answer: str = Field(default="", max_length=1000, description="the gateway's words, e.g. 'invalid number'")


@app.post(
    ERASE_PATH,
    response_model=ErasedCopy,
    tags=["erasure"],
    dependencies=[Depends(service_caller("workflow"))],
)
async def erase(complaint_id: Annotated[str, PathParam(max_length=64, pattern=r"^[0-9A-Za-z-]+$")]) -> ErasedCopy:
    """Erase a complaint's customer from its messages (the workflow service runs the erasure)."""
    rows = await app.state.outbox.erase_complaint(complaint_id)
    return ErasedCopy(store="notify", complaint_id=complaint_id, rows=rows)


@app.get(UNDELIVERED_PATH, response_model=list[Undelivered], tags=["undelivered"], dependencies=TELLS)
async def undelivered(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Undelivered]:
    """Customers' messages given up with no address left (dead letters) whose complaint has not
    been told yet, oldest first: the workflow service tells each complaint's handler."""
    return await app.state.outbox.undelivered(limit)


@app.post(f"{UNDELIVERED_PATH}/{{notification_id}}/told", status_code=204, tags=["undelivered"], dependencies=TELLS)
async def undelivered_told(
    notification_id: uuid.UUID, attempts_logged: Annotated[int, Query(ge=0, le=1_000_000)]
) -> None:
    """Its complaint knows of this failure (as read with `attempts_logged`). Saying so again, or
    after an operator's retry moved the message on, changes nothing."""
    await app.state.outbox.told(notification_id, attempts_logged)


@app.post(
    BOUNCES_PATH, response_model=Notification, tags=["gateways"], dependencies=[Depends(service_caller("intake"))]
)
async def bounce(report: Bounce) -> Notification:
    """One of our e-mails came back undelivered (intake reads the mail server's report on the
    e-mail channel): failed for good, and the recipient's next address is tried, as with a
    gateway's failed receipt. The same report again changes nothing: the message has moved on
    to its next address, or failed, or was delivered after all."""
    notification = await app.state.outbox.record_receipt(
        report.notification_id, False, f"bounced: {report.answer}", channel="email"
    )
    if notification is None:
        raise ApiError(404, "not_found", f"no notification {report.notification_id}", field="notification_id")
    return _for_view(notification)


@app.post("/v1/delivery-receipts", response_model=Notification, tags=["gateways"])
async def delivery_receipt(request: Request) -> Notification:
    """A gateway reports what became of a message it took: signed like notify's webhooks
    (X-Complaints-Timestamp, X-Complaints-Signature over the body; services/notify/webhook.py).
    A failed one moves on to the recipient's next address."""
    secret = app.state.webhook_secret
    body = await request.body()
    signed = verify(
        secret.get_secret_value() if secret else "",
        request.headers.get("x-complaints-timestamp"),
        request.headers.get("x-complaints-signature"),
        body,
    )
    if secret is None or not signed:
        raise unauthorized("sign the receipt as notify signs its webhooks (X-Complaints-Signature)")
    try:
        receipt = DeliveryReceipt.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiError(422, "invalid_request", f"{field}: {first.get('msg')}", field=field) from exc
    notification = await app.state.outbox.record_receipt(
        receipt.notification_id, receipt.status == "delivered", receipt.answer
    )
    if notification is None:
        raise ApiError(404, "not_found", f"no notification {receipt.notification_id}", field="notification_id")
    return _for_view(notification)
