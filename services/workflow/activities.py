"""Activities: the workflow's only side effects (recording events and the messages they cause,
loading a policy, routing)."""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.common import domain_events as ev
from services.common.deadlines.policy import POLICY_DIR, Policy, PolicyError, load_policy
from services.common.events import NewEvent
from services.notify.contract import NOTIFICATIONS_PATH, KeyedNotificationRequest
from services.workflow.eventstore import EventStore, TaskFence, VersionConflict
from services.workflow.routing import Route, Router, RouteRequest

log = logging.getLogger(__name__)

# Older generations' own notify call: worth another try on a timeout, a rate limit, or a token
# notify does not know (yet): a misconfigured or rotating credential must delay messages, never
# discard them. (The outbox relay retries any answer but a per-message 409 or 422.)
RETRYABLE = {401, 403, 408, 429}


class EventsAndMessages(BaseModel):
    """One step of a complaint: its events and the messages they cause, stored together."""

    events: list[NewEvent]
    messages: list[KeyedNotificationRequest] = []
    # The recording workflow task: it tells an abandoned task's events from a live one's
    # (eventstore._supersede_abandoned). None from older workers.
    fence: TaskFence | None = None


# Breaches, escalations … per minute: rate() over these (alerts: deploy/prometheus/alerts.yml).
RECORDED = Counter("complaint_events_recorded_total", "domain events this worker appended, by type", ["type"])
# How late each deadline's warning, reminder, breach or escalation was made durable, against the
# moment it was due: the promise that deadlines fire to the second, watched where it is kept. A
# worker that falls behind (a storm of deadlines, too small a cache, a starved CPU) shows here
# before anyone notices a late escalation. Alerted on (deploy/prometheus/alerts.yml).
DEADLINE_LAG = Histogram(
    "complaint_deadline_lag_seconds",
    "seconds from the moment a deadline's warning, reminder, breach or escalation was due to its recording",
    ["type"],
    buckets=(0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 900),
)
_DEADLINE_EVENTS = {e.type for e in (ev.SlaWarning, ev.ProgressReminder, ev.SlaBreached, ev.Escalated)}


def observe_deadline_lags(events: Sequence[NewEvent], recorded_at: datetime) -> None:
    """Each deadline event's lag behind its due moment. Only a step's first storing counts: its
    retry (stored already) is not observed again."""
    for event in events:
        if event.type not in _DEADLINE_EVENTS:
            continue
        facts = ev.payload_of(event.type, event.data)
        if isinstance(facts, ev.SlaFacts) and facts.due_at is not None:
            DEADLINE_LAG.labels(event.type).observe(max(0.0, (recorded_at - facts.due_at).total_seconds()))


class ComplaintActivities:
    def __init__(
        self,
        event_store: EventStore,
        router: Router,
        http: httpx.AsyncClient,
        notify_url: str,
        policy_dir: Path = POLICY_DIR,
    ):
        self.event_store = event_store
        self.router = router
        self.http = http
        self.notify_url = notify_url.rstrip("/")
        self.policy_dir = policy_dir

    @activity.defn
    async def record(self, step: EventsAndMessages) -> list[int]:
        """Append a step's events and put its messages in the outbox, in one transaction; a
        retried step is recognised by its event ids and message keys, and stored once."""
        try:
            result = await self.event_store.append(step.events, messages=step.messages, fence=step.fence)
        except VersionConflict as exc:
            # Another writer owns this stream's next version: retrying cannot help.
            raise ApplicationError(str(exc), type="VersionConflict", non_retryable=True) from exc
        if not result.duplicate:
            for event in step.events:
                RECORDED.labels(event.type).inc()
            observe_deadline_lags(step.events, recorded_at=datetime.now(UTC))
        return result.positions

    @activity.defn
    async def append_events(self, events: list[NewEvent]) -> list[int]:
        """Older generations: a step's events only (their messages went through send_notification)."""
        return await self.record(EventsAndMessages(events=events))

    @activity.defn
    async def load_policy(self, name: str) -> Policy:
        try:
            return load_policy(name, self.policy_dir)
        except PolicyError as exc:
            # Retried: a complaint must not start without a policy, and an operator can fix the
            # file. An Update that moves a complaint asks for a single attempt instead.
            raise ApplicationError(str(exc), type="PolicyError") from exc

    @activity.defn
    async def route_complaint(self, request: RouteRequest) -> Route:
        """The group and the member on duty who takes the complaint (routing.toml, roster)."""
        return await self.router.route(request)

    @activity.defn
    async def send_notification(self, request: KeyedNotificationRequest) -> str:
        """Older generations: one message handed to notify directly. Complaints started since
        put their messages in the outbox with their events (`record`)."""
        response = await self.http.post(
            f"{self.notify_url}{NOTIFICATIONS_PATH}",
            json=request.body(),
            headers={"Idempotency-Key": request.idempotency_key},
        )
        if response.status_code == 409:
            # The key was stored by an earlier attempt of a workflow task that did not complete
            # (its clock gave another body): the message went out once, as first stored.
            log.warning("notify holds this message already", extra={"idempotency_key": request.idempotency_key})
            return ""
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE:
            # A message notify will never take must not fail the complaint: logged, not retried.
            log.error(
                "notify rejected a message",
                extra={"idempotency_key": request.idempotency_key, "status": response.status_code},
            )
            return ""
        response.raise_for_status()  # 5xx and transport errors: Temporal retries
        return response.json()["notification_id"]
