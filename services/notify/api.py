"""The notify service (port 8002): accepts notifications into its outbox and delivers them."""

import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace

from services.common.privacy import mask_contact
from services.common.service import service_app, service_database
from services.common.service_auth import service_caller
from services.common.web import ApiError
from services.notify.contract import (
    BATCH_PATH,
    NOTIFICATIONS_PATH,
    BatchAcceptance,
    NotificationBatch,
    NotificationRequest,
)
from services.notify.outbox import (
    IdempotencyConflict,
    Notification,
    Outbox,
    TemplateProblem,
)
from services.notify.providers import LocalMailboxProvider

MIGRATIONS = Path(__file__).parent / "migrations"
tracer = trace.get_tracer(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with service_database("notify", MIGRATIONS) as (settings, pool):
        app.state.outbox = Outbox(pool)
        provider = LocalMailboxProvider(settings.deliveries_dir)
        outbox: Outbox = app.state.outbox
        async with app.state.loops.supervised(
            "dispatcher", lambda: outbox.deliver_due(provider), settings.notify_poll_seconds, wake=outbox.wake
        ):
            yield


app = service_app("notify", "Notify service", "Outbox and delivery of every message to customers and staff.", lifespan)

# Messages come from the workflow service (complaints) and intake (alerts to staff); the customer's
# page (intake) and the SRE read them back.
SENDERS = [Depends(service_caller("workflow", "intake"))]
READERS = [Depends(service_caller("workflow", "intake", "operator"))]

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def _for_view(n: Notification) -> Notification:
    if n.channel == "internal":  # staff and role addresses are not personal data of customers
        return n
    return n.model_copy(update={"recipient_address": mask_contact(n.recipient_address)})


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
